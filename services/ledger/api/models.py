"""Response models of the ledger API. Money is yuan as a decimal string on the natural side of
its account (credit accounts such as 4001 shown positive)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Generic, TypeVar, overload

from pydantic import BaseModel, Field

from contracts.types import from_fen
from services.ledger.postings import ACCOUNTS
from services.ledger.queries.lists import natural_balances
from services.ledger.statistics import Metrics

T = TypeVar("T")


@overload
def yuan(fen: int) -> Decimal: ...
@overload
def yuan(fen: int | None) -> Decimal | None: ...
def yuan(fen: int | None) -> Decimal | None:
    return None if fen is None else from_fen(int(fen))


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class MetricsOut(BaseModel):
    scale: Decimal = Field(description="资金规模: money entering the scope (own arrangements + transfers from above)")
    available: Decimal = Field(description="received or arranged, less passed on (to lower levels, to other regions) "
                               "and uncompiled advance issues")
    allocated: Decimal = Field(description="allocated to own spending and projects (500201 + 5101 + 5201)")
    issued_to_lower: Decimal
    horizontal_out: Decimal = Field(Decimal("0.00"), description="passed to other regions (地区间横向转移支付, 500203)")
    pending: Decimal = Field(description="待分配指标 (5001)")
    paid: Decimal = Field(description="valid payments with a payment date, not into special accounts, net of returns")
    uncompiled_advance: Decimal = Field(description="advance issues (提前下达) not compiled yet (1001)")
    progress: Decimal = Field(description="paid / available")
    indicators: int

    @classmethod
    def of(cls, m: Metrics, **extra: Any):
        return cls(scale=yuan(m.scale_fen), available=yuan(m.available_fen), allocated=yuan(m.allocated_fen),
                   issued_to_lower=yuan(m.issued_to_lower_fen), horizontal_out=yuan(m.horizontal_out_fen),
                   pending=yuan(m.pending_fen), paid=yuan(m.paid_fen),
                   uncompiled_advance=yuan(m.uncompiled_fen), progress=m.progress, indicators=m.indicators, **extra)


class LevelMetrics(MetricsOut):
    level: str = Field(description="where the money comes from: central / provincial / city / county")


class FundMetrics(MetricsOut):
    fund_code: str
    fund_name: str | None
    fund_level: str | None
    root_fund_code: str | None = Field(description="top of the designated-link chain (指定关联)")


class Overview(BaseModel):
    region: str
    region_name: str | None
    budget_year: int | None
    totals: MetricsOut
    in_transit: Decimal = Field(description="issued by levels in the scope, not yet received below")
    by_level: list[LevelMetrics]
    by_fund: list[FundMetrics]


class RegionMetrics(MetricsOut):
    code: str
    name: str | None
    level: str
    rank: int = Field(0, description="by progress, highest first (0 for the requested region itself)")


class Tree(BaseModel):
    region: RegionMetrics
    own_level: MetricsOut = Field(description="the requested region's own books (本级)")
    children: Page[RegionMetrics]


class GroupMetrics(MetricsOut):
    key: str = Field(description="group code or department ('' when no group owns the fund)")
    name: str | None
    department: str | None
    region: str | None


class IndicatorOut(BaseModel):
    indicator_id: str
    region: str
    registered: bool
    fund_code: str | None
    budget_year: int | None
    compiled_year: int | None
    doc_no: str | None
    doc_date: dt.date | None
    registered_on: dt.date | None
    functional_class: str | None
    economic_class: str | None
    budget_project: str | None
    source: str | None
    upper_indicator_id: str | None
    upper_region: str | None
    advance_issue: bool
    amount: Decimal
    balances: dict[str, Decimal] = Field(description="account → balance on its natural side")

    @classmethod
    def of(cls, row: dict) -> IndicatorOut:
        return cls(**{k: row[k] for k in cls.model_fields if k in row}, amount=yuan(row["amount_fen"]),
                   balances={a: yuan(v) for a, v in natural_balances(row).items()})


class TransferOut(BaseModel):
    transfer_id: str
    issuer_region: str | None
    from_indicator_id: str | None
    to_region: str
    fund_code: str | None
    budget_year: int | None
    doc_no: str | None
    doc_date: dt.date | None
    issued_on: dt.date | None
    advance_issue: bool
    issued: Decimal | None
    received: Decimal
    in_transit: Decimal | None
    receipts: int
    first_received_on: dt.date | None
    state: str | None = Field(description="interlock (咬合): in_transit / matched / mismatch")

    @classmethod
    def of(cls, row: dict) -> TransferOut:
        issued = row["issued_fen"]
        transit = None if issued is None else max(issued - row["received_fen"], 0)
        return cls(**{k: row[k] for k in cls.model_fields if k in row}, issued=yuan(issued),
                   received=yuan(row["received_fen"]), in_transit=yuan(transit))


class PaymentOut(BaseModel):
    payment_id: str
    region: str
    indicator_id: str
    project_code: str | None
    plan_id: str | None
    amount: Decimal
    returned: Decimal
    payment_date: dt.date | None
    status: str = Field(description="counted / invalid / undated / special_transfer / cancelled")
    channel: str
    settlement: str
    payer_unit_code: str
    payer_unit_name: str
    payee_kind: str
    payee_name: str
    payee_account: str = Field(description="masked")
    purpose: str
    economic_class: str | None

    @classmethod
    def of(cls, row: dict) -> PaymentOut:
        return cls(**{k: row[k] for k in cls.model_fields if k in row}, amount=yuan(row["amount_fen"]),
                   returned=yuan(row["returned_fen"]), payee_account=row["payee_account_masked"])


class AllocationOut(BaseModel):
    allocation_id: str
    kind: str
    project_code: str | None
    project_name: str | None
    in_library: bool | None = Field(None, description="false: the project is not in the project library")
    to_region: str | None
    amount: Decimal
    allocated_on: dt.date

    @classmethod
    def of(cls, row: dict) -> AllocationOut:
        return cls(**{k: row[k] for k in cls.model_fields if k in row}, amount=yuan(row["amount_fen"]))


class ProjectOut(BaseModel):
    project_code: str
    name: str
    fund_code: str | None
    region: str
    category: str | None
    implementing_unit: str | None
    start_date: dt.date | None
    end_date: dt.date | None
    in_library: bool


class ProjectBalance(BaseModel):
    indicator_id: str
    project_code: str
    allocated: Decimal
    paid: Decimal
    balances: dict[str, Decimal]


class StatusSummary(BaseModel):
    status: str
    payments: int
    amount: Decimal
    returned: Decimal


class ReturnOut(BaseModel):
    return_id: str
    amount: Decimal
    returned_on: dt.date
    reason: str


class ChainLevel(BaseModel):
    """One step up a chain: a level's indicator or the transfer document that issued it."""

    kind: str = Field(description="indicator | transfer")
    id: str
    region: str | None
    doc_no: str | None
    doc_date: dt.date | None
    date: dt.date | None = Field(description="registered (indicator) or issued (transfer) on")
    amount: Decimal | None
    fund_code: str | None
    source: str | None = None
    missing: bool = Field(False, description="named by the level below but not (yet) known to the ledger")


class Downstream(BaseModel):
    transfer: TransferOut
    receipts: list[Receipt]


class Receipt(BaseModel):
    indicator: IndicatorOut
    transfers: list[Downstream]


class IndicatorDetail(BaseModel):
    indicator: IndicatorOut
    upstream: list[ChainLevel] = Field(description="from the transfer this indicator came from up to the top document")
    downstream: list[Downstream] = Field(description="transfers issued from it, lower indicators, and so on down")
    allocations: list[AllocationOut]
    projects: list[ProjectBalance]
    payment_summary: list[StatusSummary]
    payments: Page[PaymentOut]


class JournalEntry(BaseModel):
    seq: int
    posting_id: str
    event_id: str
    kind: str
    booked_on: dt.date
    red_ink: bool = Field(description="红字: a reversal (correction) entry")
    reverses: str | None
    project_code: str | None
    debit: str
    credit: str
    amount: Decimal
    change: Decimal = Field(description="effect on this account, natural side")
    balance: Decimal | None = Field(description="running balance after the entry, natural side (journal only)")


class Journal(BaseModel):
    indicator_id: str
    account: str
    account_name: str = Field(examples=[ACCOUNTS["5201"]])
    project_code: str | None
    balance: Decimal = Field(description="balance after the last entry, natural side")
    entries: Page[JournalEntry]


class Trace(BaseModel):
    payment: PaymentOut
    project: ProjectOut | None
    returns: list[ReturnOut]
    postings: list[JournalEntry]
    chain: list[ChainLevel] = Field(description="the paying indicator, then each transfer and upper indicator up to "
                                                "the top document")
    top_document: ChainLevel | None = Field(description="the document the money started from (central where it did)")


class SearchHits(BaseModel):
    query: str
    indicators: list[IndicatorOut]
    transfers: list[TransferOut]
    projects: list[ProjectOut]
    payments: list[PaymentOut]


class FundOut(BaseModel):
    fund_code: str
    name: str
    level: str
    region: str
    upper_fund_code: str | None = Field(description="the designated upper fund (指定关联)")
    linked_upper_funds: list[str] = Field(description="every upper fund it was linked to; more than one is IND-07")
    group_code: str | None
    for_households: bool


class Status(BaseModel):
    status: str = "ok"
    events_applied: int = Field(description="indicator and payment events applied (a parked one once released)")
    reference_applied: int
    applied_this_process: int
    dead_lettered: int
    journal_rows: int
    parked: int = Field(0, description="events waiting for another one (a correction for what it corrects, a "
                                       "return for its payment): applied when it arrives")
    lag: dict[str, int]


Downstream.model_rebuild()
Receipt.model_rebuild()
