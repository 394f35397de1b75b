"""Double-entry postings of the indicator ledger (总台账), as plain functions over events.

Chart of accounts (seed 004, DESIGN §4), kept per region × indicator (the fund comes with
the indicator):

    1001   total indicator (总指标)             debit   registered, not yet available
    4001   current-year arranged revenue       credit  source of every indicator
    5001   pending allocation (待分配指标)       debit
    500201 own-level expenditure (本级支出指标)  debit
    500202 transfer to lower level             debit
    500203 horizontal transfer                  debit
    5101   centralised payment plan             debit
    5201   actual payment (本级实际支付)          debit

Flow: registration Dr 1001 / Cr 4001 and, unless issued in advance for next year
(提前下达), Dr 5001 / Cr 1001 in the same posting; allocation and issue move 5001 into
5002xx; a plan moves 500201 into 5101; a payment moves 5101 (or 500201 without a plan)
into 5201; a return moves 5201 back into 500201. Balances are stored debit-positive.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from contracts.envelope import Envelope
from contracts.indicator import (
    AllocationKind,
    IndicatorAllocated,
    IndicatorCompiled,
    IndicatorIssued,
    IndicatorRegistered,
)
from contracts.payment import PaymentMade, PaymentPlanned, PaymentReturned
from contracts.types import to_fen

TOTAL = "1001"
REVENUE = "4001"
PENDING = "5001"
OWN_SPENDING = "500201"
LOWER_TRANSFER = "500202"
HORIZONTAL = "500203"
PAYMENT_PLAN = "5101"
PAID = "5201"

ACCOUNTS = {
    TOTAL: "总指标",
    REVENUE: "本年安排收入",
    PENDING: "待分配指标",
    OWN_SPENDING: "本级支出指标",
    LOWER_TRANSFER: "对下级转移支付指标",
    HORIZONTAL: "地区间横向转移支付指标",
    PAYMENT_PLAN: "集中支付计划",
    PAID: "本级实际支付",
}


@dataclass(frozen=True)
class Line:
    account: str
    debit_fen: int = 0
    credit_fen: int = 0
    project_code: str | None = None

    @property
    def signed_fen(self) -> int:
        """Debit-positive amount, the sign the balances table stores."""
        return self.debit_fen - self.credit_fen


@dataclass(frozen=True)
class Posting:
    """One balanced journal entry of one event on one indicator's books."""

    event_id: str
    seq: int
    kind: str
    region: str
    indicator_id: str
    booked_on: dt.date
    lines: tuple[Line, ...]
    red_ink: bool = False
    reverses_event_id: str | None = None

    @property
    def posting_id(self) -> str:
        return f"{self.event_id}#{self.seq}"

    @property
    def balanced(self) -> bool:
        return sum(line.debit_fen for line in self.lines) == sum(line.credit_fen for line in self.lines)


@dataclass
class Registration:
    """What the ledger learns about an indicator besides its balances."""

    indicator_id: str
    region: str
    fund_code: str | None = None
    budget_year: int | None = None
    doc_no: str | None = None
    amount_fen: int = 0
    kind: str = "registered"  # registered | issued
    upper_indicator_id: str | None = None
    extra: dict = field(default_factory=dict)


def _move(debit: str, credit: str, fen: int, project: str | None = None) -> tuple[Line, Line]:
    return Line(debit, debit_fen=fen, project_code=project), Line(credit, credit_fen=fen, project_code=project)


def postings_for(event: Envelope) -> list[Posting]:
    """The postings an event implies (empty for events that do not move indicator money)."""
    data = event.data
    on = event.time.date()

    def one(indicator_id: str, lines: tuple[Line, ...], kind: str | None = None) -> list[Posting]:
        return [Posting(event.id, 0, kind or event.type, event.region, indicator_id, on, lines)]

    match data:
        case IndicatorRegistered():
            fen = to_fen(data.amount)
            lines = _move(TOTAL, REVENUE, fen)
            if not data.advance_issue:
                lines += _move(PENDING, TOTAL, fen)
            return one(data.indicator_id, lines)
        case IndicatorCompiled():
            return one(data.indicator_id, _move(PENDING, TOTAL, to_fen(data.amount)))
        case IndicatorIssued():
            return one(data.from_indicator_id, _move(LOWER_TRANSFER, PENDING, to_fen(data.amount)))
        case IndicatorAllocated():
            account = HORIZONTAL if data.kind == AllocationKind.horizontal else OWN_SPENDING
            return one(data.indicator_id, _move(account, PENDING, to_fen(data.amount), data.project_code))
        case PaymentPlanned():
            return one(data.indicator_id, _move(PAYMENT_PLAN, OWN_SPENDING, to_fen(data.amount)))
        case PaymentMade():
            if not counts_as_spending(data):
                return []
            source = PAYMENT_PLAN if data.plan_id else OWN_SPENDING
            return one(data.indicator_id, _move(PAID, source, to_fen(data.amount), data.project_code))
        case PaymentReturned():
            return one(data.indicator_id, _move(OWN_SPENDING, PAID, to_fen(data.amount)))
    return []


def counts_as_spending(payment: PaymentMade) -> bool:
    """Seed 002: only valid payments with a payment date are spending."""
    return payment.valid and payment.payment_date is not None


def registration_for(event: Envelope) -> Registration | None:
    """Indicator facts an event establishes (registered indicators and issued transfers)."""
    data = event.data
    if isinstance(data, IndicatorRegistered):
        return Registration(
            data.indicator_id, event.region, data.fund_code, data.budget_year, data.doc_no,
            to_fen(data.amount), "registered", data.upper_indicator_id,
        )
    if isinstance(data, IndicatorIssued):
        return Registration(
            data.indicator_id, data.to_region, data.fund_code, data.budget_year, data.doc_no,
            to_fen(data.amount), "issued", data.from_indicator_id, {"issuer_region": event.region},
        )
    return None


def reversal_of(original: list[Posting], correction_event_id: str, on: dt.date, corrected_fen: int | None,
                original_fen: int) -> list[Posting]:
    """Red-ink correction (红字更正): reverse every original posting, then re-post it scaled to
    the corrected amount (nothing re-posted when the correction cancels)."""
    out: list[Posting] = []
    seq = 0
    for p in original:
        reversed_lines = tuple(
            Line(line.account, debit_fen=line.credit_fen, credit_fen=line.debit_fen, project_code=line.project_code)
            for line in p.lines
        )
        out.append(Posting(correction_event_id, seq, "indicator.corrected", p.region, p.indicator_id, on,
                           reversed_lines, red_ink=True, reverses_event_id=p.event_id))
        seq += 1
    if corrected_fen is not None:
        for p in original:
            lines = tuple(
                Line(line.account,
                     debit_fen=_scale(line.debit_fen, corrected_fen, original_fen),
                     credit_fen=_scale(line.credit_fen, corrected_fen, original_fen),
                     project_code=line.project_code)
                for line in p.lines
            )
            out.append(Posting(correction_event_id, seq, p.kind, p.region, p.indicator_id, on, lines))
            seq += 1
    return out


def _scale(fen: int, new_total: int, old_total: int) -> int:
    if fen == 0:
        return 0
    if fen != old_total:
        raise ValueError("only single-amount postings can be corrected by amount")
    return new_total
