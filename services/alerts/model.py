"""Plain data the rules look at: summaries of events, built once by the router and carried on
the alerts' internal topic as dicts. Personal data only as keyed hash and mask."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any, ClassVar

from services.alerts.findings import Evidence, evidence


class Wire:
    """dataclass ⇄ dict with Decimal amounts as strings (shallow: the fields are plain values)."""

    _decimals: ClassVar[tuple[str, ...]] = ()
    _names: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        cls._names = ()

    @classmethod
    def _field_names(cls) -> tuple[str, ...]:
        if not cls._names:
            cls._names = tuple(f.name for f in fields(cls))  # type: ignore[arg-type]
        return cls._names

    def to_wire(self) -> dict[str, Any]:
        d = {name: getattr(self, name) for name in self._field_names()}
        for name in self._decimals:
            if d[name] is not None:
                d[name] = str(d[name])
        return d

    @classmethod
    def from_wire(cls, d: dict[str, Any]):
        kw = {name: d.get(name) for name in cls._field_names()}
        for name in cls._decimals:
            if kw[name] is not None:
                kw[name] = Decimal(kw[name])
        return cls(**kw)


@dataclass(frozen=True)
class Pay(Wire):
    """One payment (payment.made)."""

    _decimals = ("amount",)

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

    @property
    def day(self) -> dt.date:
        """The business date: the payment date, else the day the record arrived."""
        return dt.date.fromisoformat(self.date) if self.date else dt.date.fromisoformat(self.at[:10])

    @property
    def owner(self) -> str:
        """Who a payee account is for: the person, the enterprise, or the unit by name."""
        return self.payee_person or self.enterprise or f"name:{self.payee_name}"

    def evidence(self) -> Evidence:
        return evidence(self.event_id, "payment.made", self.at, self.region, payment_id=self.pid, indicator_id=self.ind,
                        amount=self.amount, payment_date=self.date, purpose=self.purpose, settlement=self.settlement,
                        channel=self.channel, economic_class=self.economic_class, project_code=self.project,
                        payer_unit=self.payer_unit, payer_account=self.payer_masked, payee=self.payee_name,
                        payee_kind=self.payee_kind, payee_account=self.payee_masked)


@dataclass(frozen=True)
class Line(Wire):
    """One person a payment reaches: a subsidy line, or the individual payee."""

    _decimals = ("payable", "paid")

    person: str
    masked: str
    name: str
    paid: Decimal
    payable: Decimal | None = None
    household: str | None = None
    subsidy_type: str | None = None


@dataclass(frozen=True)
class Fund(Wire):
    code: str
    level: str
    upper: str | None = None
    classes: tuple[str, ...] = ()
    group: str | None = None
    for_households: bool = False

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> Fund:
        return cls(d["code"], d["level"], d.get("upper"), tuple(d.get("classes") or ()), d.get("group"),
                   bool(d.get("for_households")))

    def covers(self, functional_class: str) -> bool:
        """Scope check: a class lies inside a scope entry when one is a prefix of the other
        ('2130504' lies in '21305'; a fund scoped to '2130504' accepts the broader '21305' too)."""
        if not self.classes:
            return True
        return any(functional_class.startswith(c) or c.startswith(functional_class) for c in self.classes)


@dataclass(frozen=True)
class IndicatorDoc(Wire):
    """An indicator registration (指标登记/接收) or issue (下达), as the IND rules see it."""

    _decimals = ("amount",)

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

    def evidence(self) -> Evidence:
        return evidence(self.event_id, self.event_type, self.at, self.region, indicator_id=self.indicator_id,
                        fund_code=self.fund, amount=self.amount, budget_year=self.budget_year, doc_no=self.doc_no,
                        source=self.source, upper_indicator_id=self.upper_indicator_id, to_region=self.to_region,
                        advance_issue=self.advance or None, date=self.on)


@dataclass(frozen=True)
class Allocation(Wire):
    _decimals = ("amount",)

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

    def evidence(self) -> Evidence:
        return evidence(self.event_id, "indicator.allocated", self.at, self.region, allocation_id=self.allocation_id,
                        indicator_id=self.indicator_id, kind=self.kind, amount=self.amount, project_code=self.project,
                        project_name=self.project_name, functional_class=self.functional_class,
                        economic_class=self.economic_class, date=self.on)


@dataclass(frozen=True)
class Posting(Wire):
    """What the ledger booked on one indicator (ledger.posting_applied), balances after it (fen)."""

    event_id: str
    region: str
    at: str
    indicator_id: str
    kind: str  # the source event type
    on: str  # booked_on
    balances: dict  # account → fen, natural side
    allocated_fen: int = 0  # moved out of pending (5001) by this posting
    paid_fen: int = 0  # moved into actual payment (5201) by this posting (negative: taken back)
    red_ink: bool = False
    seq: int | None = None  # the ledger's journal sequence: postings of one indicator arrive in this order

    def fen(self, account: str) -> int:
        return int(self.balances.get(account, 0))

    def evidence(self) -> Evidence:
        return evidence(self.event_id, "ledger.posting_applied", self.at, self.region, indicator_id=self.indicator_id,
                        source_event_type=self.kind, booked_on=self.on,
                        **{f"balance_{k}": f"{int(v) / 100:.2f}" for k, v in sorted(self.balances.items())})


def spending_base(balances: dict) -> int:
    """What an indicator has for its own spending (fen): received, less what is not yet
    available (advance issue not compiled) and what went to lower levels or other regions."""
    get = lambda a: int(balances.get(a, 0))  # noqa: E731
    return get("4001") - get("1001") - get("500202") - get("500203")
