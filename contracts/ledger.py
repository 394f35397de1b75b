"""The ledger's derived stream: what it applied, published after commit so that alert rules
never re-implement balance logic."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, WithJsonSchema

from contracts.base import Data
from contracts.types import MAX_YUAN, BusinessDate, FundCode, Identifier, Money, ProjectCode, RegionCode

_SIGNED_RE = re.compile(r"-?[0-9]{1,12}(?:\.[0-9]{1,2})?", re.ASCII)


def _parse_signed(value: Any) -> Decimal:
    if isinstance(value, bool | float):
        raise ValueError("a balance must be a decimal string such as '-1234.50' (floats are not exact)")
    if isinstance(value, str) and not _SIGNED_RE.fullmatch(value):
        raise ValueError(f"balance {value[:40]!r} is not a decimal number")
    try:
        amount = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise ValueError(f"balance {value!r} is not a decimal number") from None
    if not amount.is_finite() or amount.as_tuple().exponent < -2 or abs(amount) >= MAX_YUAN:  # type: ignore[operator]
        raise ValueError("a balance is a finite amount in yuan with at most 2 decimal places")
    return amount.quantize(Decimal("0.01"))


SignedMoney = Annotated[
    Decimal,
    BeforeValidator(_parse_signed),
    WithJsonSchema({"type": "string", "pattern": r"^-?[0-9]{1,12}(\.[0-9]{1,2})?$",
                    "description": "yuan, at most 2 decimals; negative when an account is overdrawn"}),
]
"""A balance in yuan: unlike `Money` it may be negative (an overdrawn indicator is a fact the
ledger records and reports, see `BalanceExceeded`)."""


class Move(Data):
    """One balanced debit/credit pair of a posting."""

    debit: str = Field(pattern=r"^[0-9]{4,6}$")
    credit: str = Field(pattern=r"^[0-9]{4,6}$")
    amount: Money
    project_code: ProjectCode | None = None


class PostingApplied(Data):
    """One posting the ledger committed, with the indicator's balances after it."""

    posting_id: str = Field(max_length=120)
    journal_seq: int = Field(ge=1, description="the journal sequence number of the posting's last move: grows "
                             "with every posting the ledger commits, so a consumer can drop a redelivered "
                             "posting that is older than one it has applied")
    source_event_id: Identifier
    source_event_type: str = Field(max_length=60)
    source_subject: str | None = Field(None, max_length=120, description="the business id of the source event "
                                       "(payment_id, allocation_id, …): what an alert about the posting names")
    indicator_id: Identifier
    fund_code: FundCode | None = None
    budget_year: int | None = None
    booked_on: BusinessDate
    red_ink: bool = False
    reverses_event_id: Identifier | None = None
    moves: list[Move] = Field(min_length=1)
    balances: dict[str, SignedMoney] = Field(
        description="account → the indicator's balance on the account's natural side after the posting "
                    "(every account the posting moved, and every other non-zero one)")


class InterlockState(StrEnum):
    in_transit = "in_transit"  # issued, nothing received yet
    matched = "matched"
    mismatch = "mismatch"  # received ≠ issued (IND-02)


class InterlockChecked(Data):
    """Interlock (咬合) of one upper transfer: issued by the upper level vs received below."""

    transfer_indicator_id: Identifier
    issuer_region: RegionCode | None = None
    receiver_region: RegionCode
    fund_code: FundCode | None = None
    issued: Money
    received: Money
    in_transit: Money
    state: InterlockState
    receipt_indicator_ids: list[Identifier] = Field(default_factory=list)
    issued_on: BusinessDate | None = None
    first_received_on: BusinessDate | None = None


class OverdrawKind(StrEnum):
    allocation_beyond_pending = "allocation_beyond_pending"  # ALC-02
    payment_beyond_balance = "payment_beyond_balance"  # USE-01


class BalanceExceeded(Data):
    """An allocation or payment larger than what the indicator had available. The ledger still
    records it (the monitor mirrors upstream facts) and says so here."""

    kind: OverdrawKind
    source_event_id: Identifier
    indicator_id: Identifier
    fund_code: FundCode | None = None
    amount: Money
    available: SignedMoney = Field(description="balance the amount was drawn from, before it (may be negative)")
    payment_id: Identifier | None = None
    allocation_id: Identifier | None = None


class FundLinkConflict(Data):
    """A local fund linked to more than one upper fund (指定关联 allows exactly one: IND-07)."""

    fund_code: FundCode
    upper_fund_codes: list[FundCode] = Field(min_length=2)
    source_event_id: Identifier


class LedgerProgress(Data):
    """How far the ledger has applied its input, written after each batch's postings to every
    partition of the ledger topic (a watermark marker): a consumer that reads this marker on every
    ledger partition has read every posting of the input records before `positions`. The alerts
    use it to know when the books of a moment are complete, whatever order the sources arrived in."""

    positions: dict[str, int] = Field(description="input topic partition ('<topic>:<partition>') → the next offset, "
                                      "every record before it applied and its postings published")
    newest: dict[str, dt.datetime] = Field(default_factory=dict, description="input topic partition → the newest event "
                                           "time among the records applied from it (how far its books reach in time)")
    partition: int = Field(ge=0, description="the ledger-topic partition this copy of the marker was written to")
