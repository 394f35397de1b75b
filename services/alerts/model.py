"""Plain data the rules look at: summaries of contract events, built once by `ingress` and
carried inside the facts (`facts.py`). Personal data only as keyed hash and mask. Dates are ISO
strings (they compare in order as strings); money is Decimal yuan or integer fen. On the wire and in
the state these are arrays, not maps (`array_like`: a payment kept in an account's history is a third
of the bytes without its field names) — a field is only ever added last, with a default."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import msgspec

from contracts.accounts import Account, available_for_payment, spending_base
from services.alerts.findings import Evidence, evidence

__all__ = ["Account", "Allocation", "Fund", "IndicatorDoc", "Line", "Move", "Pay", "Posting", "Record", "Registration",
           "available_for_payment", "spending_base"]


class Pay(msgspec.Struct, frozen=True, array_like=True):
    """One payment (payment.made)."""

    pid: str
    event_id: str
    region: str
    ind: str
    at: str  # event time (ISO)
    amount: Decimal
    date: str | None = None  # payment_date (ISO) — None: not a valid payment (seed 002)
    valid: bool = True
    purpose: str = ""
    settlement: str = "transfer"
    channel: str = "direct"
    economic_class: str | None = None
    project: str | None = None
    payer_unit: str = ""
    payer_name: str = ""
    payer_acct: str = ""
    payer_masked: str = ""
    payee_kind: str = "enterprise"
    payee_name: str = ""
    payee_holder: str = ""
    payee_acct: str = ""
    payee_masked: str = ""
    payee_person: str | None = None
    enterprise: str | None = None
    lines: int = 0
    traceparent: str | None = None

    @property
    def day(self) -> dt.date:
        """The business date: the payment date, else the day the record arrived."""
        return dt.date.fromisoformat(self.date) if self.date else dt.date.fromisoformat(self.at[:10])

    @property
    def key(self) -> tuple[str, str]:
        """Business order of payments: by date, then id (of two duplicates the later is the repeat)."""
        return (self.date or self.at[:10], self.pid)

    @property
    def owner(self) -> str:
        """Who a payee account is for: the person, the enterprise, or the unit by name."""
        return self.payee_person or self.enterprise or f"name:{self.payee_name}"

    def evidence(self) -> Evidence:
        return evidence(self.event_id, "payment.made", self.at, self.region, traceparent=self.traceparent,
                        payment_id=self.pid, indicator_id=self.ind, amount=self.amount, payment_date=self.date,
                        purpose=self.purpose, settlement=self.settlement, channel=self.channel,
                        economic_class=self.economic_class, project_code=self.project, payer_unit=self.payer_unit,
                        payer_account=self.payer_masked, payee=self.payee_name, payee_kind=self.payee_kind,
                        payee_account=self.payee_masked)


class Line(msgspec.Struct, frozen=True, array_like=True):
    """One person a payment reaches: a subsidy line, or the individual payee."""

    person: str
    masked: str
    name: str
    paid: Decimal
    payable: Decimal | None = None
    household: str | None = None
    subsidy_type: str | None = None
    period: str | None = None  # the period the subsidy is for (补贴所属期)
    account: str | None = None  # hash of the card or account the line was paid into
    account_masked: str | None = None


class Registration(msgspec.Struct, frozen=True, array_like=True):
    """One registration of an account (account.registered), in force from `effective_on`."""

    event_id: str
    at: str
    kind: str
    status: str
    holder: str
    unit: str | None = None
    effective_on: str | None = None  # None: since the account was opened

    @property
    def order(self) -> tuple[str, str, str]:
        return (self.effective_on or "", self.at, self.event_id)


class Record(msgspec.Struct, frozen=True, array_like=True):
    """An external record about a person or an enterprise (external.recorded)."""

    record_id: str
    kind: str
    date: str
    ev: Evidence
    status: str | None = None
    unit: str | None = None


class Fund(msgspec.Struct, frozen=True, array_like=True):
    code: str
    level: str
    upper: str | None = None
    classes: tuple[str, ...] = ()
    group: str | None = None
    for_households: bool = False

    def covers(self, functional_class: str) -> bool:
        """Scope check: a class lies inside a scope entry when one is a prefix of the other
        ('2130504' lies in '21305'; a fund scoped to '2130504' accepts the broader '21305' too)."""
        if not self.classes:
            return True
        return any(functional_class.startswith(c) or c.startswith(functional_class) for c in self.classes)


class IndicatorDoc(msgspec.Struct, frozen=True, array_like=True):
    """An indicator registration (指标登记/接收) or issue (下达), as the IND rules see it."""

    indicator_id: str
    event_id: str
    event_type: str
    region: str
    at: str
    fund: str
    amount: Decimal
    budget_year: int
    doc_no: str
    doc_date: str
    on: str  # registered_on / issued_on
    source: str = "own_arrangement"
    upper_indicator_id: str | None = None
    upper_region: str | None = None
    to_region: str | None = None
    advance: bool = False
    scan: bool = True
    functional_class: str | None = None
    origin_year: int | None = None  # carry-overs: the budget year the money was first arranged for

    def evidence(self) -> Evidence:
        return evidence(self.event_id, self.event_type, self.at, self.region, indicator_id=self.indicator_id,
                        fund_code=self.fund, amount=self.amount, budget_year=self.budget_year, doc_no=self.doc_no,
                        source=self.source, upper_indicator_id=self.upper_indicator_id, to_region=self.to_region,
                        advance_issue=self.advance or None, origin_year=self.origin_year, date=self.on)


class Allocation(msgspec.Struct, frozen=True, array_like=True):
    allocation_id: str
    event_id: str
    region: str
    at: str
    indicator_id: str
    kind: str
    amount: Decimal
    on: str
    project: str | None = None
    project_name: str | None = None
    functional_class: str | None = None
    economic_class: str | None = None
    to_region: str | None = None

    def evidence(self) -> Evidence:
        return evidence(self.event_id, "indicator.allocated", self.at, self.region, allocation_id=self.allocation_id,
                        indicator_id=self.indicator_id, kind=self.kind, amount=self.amount, project_code=self.project,
                        project_name=self.project_name, functional_class=self.functional_class,
                        economic_class=self.economic_class, to_region=self.to_region, date=self.on)


class Move(msgspec.Struct, frozen=True, array_like=True):
    """One balanced move of a posting (fen), as the ledger booked it."""

    debit: str
    credit: str
    fen: int
    project: str | None = None


class Posting(msgspec.Struct, frozen=True, array_like=True):
    """What the ledger booked on one indicator (ledger.posting_applied): its moves, in the order the
    source events happened (`order`), whatever order the ledger received them in."""

    event_id: str
    region: str
    at: str  # the source event's time (ISO): the posting's place in business order
    indicator_id: str
    kind: str  # the source event type
    on: str  # booked_on
    moves: tuple[Move, ...]
    seq: int  # the ledger's journal sequence (identity of the posting)
    at_key: str = ""  # `at` in comparable form (clock.key), computed once
    source_event_id: str = ""
    subject: str | None = None  # the business id of the source event (payment_id, allocation_id …)
    red_ink: bool = False
    balances: tuple[tuple[str, int], ...] = ()  # natural-side balances after it, in the ledger's own order
    traceparent: str | None = None

    @property
    def order(self) -> tuple[str, str, int]:
        return (self.at, self.source_event_id, self.seq)

    @property
    def allocated_fen(self) -> int:
        """Moved out of pending (5001) into an allocation or a transfer by this posting (negative: back)."""
        out = 0
        for m in self.moves:
            if m.credit == Account.pending and m.debit in _ALLOCATED:
                out += m.fen
            elif m.debit == Account.pending and m.credit in _ALLOCATED:
                out -= m.fen
        return out

    @property
    def paid_fen(self) -> int:
        """Moved into actual payment (5201) by this posting (negative: taken back)."""
        out = 0  # one pass (read for every posting taken)
        for m in self.moves:
            if m.debit == Account.paid:
                out += m.fen
            if m.credit == Account.paid:
                out -= m.fen
        return out

    def evidence(self, balances: dict[str, int] | None = None) -> Evidence:
        shown = balances if balances is not None else dict(self.balances)
        return evidence(self.event_id, "ledger.posting_applied", self.at, self.region, traceparent=self.traceparent,
                        indicator_id=self.indicator_id, source_event_type=self.kind, booked_on=self.on,
                        **{f"balance_{k}": f"{int(v) / 100:.2f}" for k, v in sorted(shown.items()) if v})


_ALLOCATED = frozenset(a.value for a in (Account.own_spending, Account.lower_transfer, Account.horizontal))
