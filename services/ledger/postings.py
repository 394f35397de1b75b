"""Double-entry postings of the indicator ledger (总台账), as plain functions over plain data.

Chart of accounts (seed 004, DESIGN §4), kept per region × fund × indicator × project:

    1001   total indicator (总指标)                  debit   registered, not yet available
    4001   current-year arranged revenue (本年安排收入) credit  source of every indicator
    5001   pending allocation (待分配指标)            debit
    500201 own-level expenditure (本级支出指标)       debit
    500202 transfer to lower level (对下级转移支付指标) debit
    500203 horizontal transfer (地区间横向转移支付)    debit
    5101   centralised payment plan (集中支付计划)    debit
    5201   actual payment (本级实际支付)              debit

A posting is a tuple of *moves*: each move debits one account and credits another with the
same positive amount, so a posting balances by construction (the journal table stores moves
with `amount_fen > 0` and `debit <> credit` CHECKs: an unbalanced posting cannot be written).

Flow: registration Dr 1001 / Cr 4001 and, unless issued in advance for next year (提前下达),
Dr 5001 / Cr 1001; compiling an advance issue Dr 5001 / Cr 1001; issue to a lower level Dr
500202 / Cr 5001; allocation Dr 500201 (own spending, project) or 500203 (horizontal) / Cr
5001; payment plan Dr 5101 / Cr 500201; payment Dr 5201 / Cr 5101 (with a plan) or 500201;
return Dr 500201 / Cr 5201. A red-ink correction (红字更正) reverses the moves of the original
posting and re-posts them with the corrected amount. Balances are debit-positive internally.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass, replace

from contracts.accounts import CHART as _CHART
from contracts.accounts import CREDIT_ACCOUNTS as _CREDIT
from contracts.accounts import NAMES, Account

TOTAL = Account.total.value
REVENUE = Account.revenue.value
PENDING = Account.pending.value
OWN_SPENDING = Account.own_spending.value
LOWER_TRANSFER = Account.lower_transfer.value
HORIZONTAL = Account.horizontal.value
PAYMENT_PLAN = Account.payment_plan.value
PAID = Account.paid.value

ACCOUNTS: dict[str, str] = {a.value: NAMES[a] for a in _CHART}  # the chart (contracts/accounts.py)
CREDIT_ACCOUNTS = frozenset(a.value for a in _CREDIT)
CHART = tuple(ACCOUNTS)


class InvalidMove(ValueError):
    """A move that would unbalance the books (non-positive amount, same account both sides)."""


@dataclass(slots=True)
class Move:
    """Debit one account and credit another with the same amount (fen): balanced by construction.
    Treated as immutable (not `frozen`: a frozen dataclass costs ~1 µs more per instance, and the
    replay builds one per event)."""

    debit: str
    credit: str
    fen: int
    project_code: str | None = None

    def __post_init__(self) -> None:
        if type(self.fen) is not int or self.fen <= 0:
            raise InvalidMove(f"move amount must be a positive number of fen, got {self.fen!r}")
        if self.debit == self.credit or self.debit not in ACCOUNTS or self.credit not in ACCOUNTS:
            raise InvalidMove(f"a move debits one account of the chart and credits another: {self.debit}/{self.credit}")

    def reversed(self) -> Move:
        return Move(self.credit, self.debit, self.fen, self.project_code)

    def with_amount(self, fen: int) -> Move:
        return replace(self, fen=fen)


@dataclass(slots=True)
class Posting:
    """One journal entry: what one event (or one step of a correction) did to one indicator.
    Treated as immutable (see `Move`)."""

    event_id: str
    no: int
    kind: str
    indicator_id: str
    booked_on: dt.date
    moves: tuple[Move, ...]
    red_ink: bool = False
    reverses: str | None = None  # posting id of the posting a red-ink entry reverses

    @property
    def posting_id(self) -> str:
        return posting_id(self.event_id, self.no)

    @property
    def amount_fen(self) -> int:
        return self.moves[0].fen

    def touched(self) -> set[str]:
        return {a for m in self.moves for a in (m.debit, m.credit)}


def posting_id(event_id: str, no: int) -> str:
    return f"{event_id}:{no}"


# ------------------------------------------------------------------ balances arithmetic


def empty_balances() -> dict[str, int]:
    return dict.fromkeys(CHART, 0)


def post(balances: MutableMapping[str, int], moves: Iterable[Move]) -> None:
    """Apply moves to debit-positive balances in place."""
    for m in moves:
        balances[m.debit] += m.fen
        balances[m.credit] -= m.fen


def natural(account: str, fen: int) -> int:
    """Balance on the account's natural side (credit accounts shown positive when in credit)."""
    return -fen if account in CREDIT_ACCOUNTS else fen


def snapshot(balances: Mapping[str, int], touched: Iterable[str]) -> dict[str, int]:
    """Natural-side balances of the accounts a posting touched and every other non-zero one."""
    keep = set(touched)
    return {a: natural(a, balances[a]) for a in CHART if balances[a] or a in keep}


def available_for_payment(balances: Mapping[str, int], via_plan: bool) -> int:
    return balances[PAYMENT_PLAN if via_plan else OWN_SPENDING]


def pending(balances: Mapping[str, int]) -> int:
    return balances[PENDING]


# ------------------------------------------------------------------ one builder per event family


def _one(event_id: str, kind: str, indicator_id: str, on: dt.date, *moves: Move) -> Posting:
    return Posting(event_id, 0, kind, indicator_id, on, tuple(moves))


def registration(event_id: str, indicator_id: str, fen: int, on: dt.date, *, advance_issue: bool) -> Posting:
    """Indicator registered or an upper transfer received (指标登记/接收): Dr 1001 / Cr 4001, and
    unless advance-issued for next year (提前下达) it becomes pending at once: Dr 5001 / Cr 1001."""
    moves = [Move(TOTAL, REVENUE, fen)]
    if not advance_issue:
        moves.append(Move(PENDING, TOTAL, fen))
    return _one(event_id, "indicator.registered", indicator_id, on, *moves)


def compilation(event_id: str, indicator_id: str, fen: int, on: dt.date) -> Posting:
    """An advance issue compiled into its budget year (编入预算): Dr 5001 / Cr 1001."""
    return _one(event_id, "indicator.compiled", indicator_id, on, Move(PENDING, TOTAL, fen))


def issue(event_id: str, from_indicator_id: str, fen: int, on: dt.date) -> Posting:
    """Transfer issued to a lower level (下达): Dr 500202 / Cr 5001 on the issuer's indicator."""
    return _one(event_id, "indicator.issued", from_indicator_id, on, Move(LOWER_TRANSFER, PENDING, fen))


def allocation(event_id: str, indicator_id: str, fen: int, on: dt.date, *, horizontal: bool,
               project_code: str | None) -> Posting:
    """Allocation (分配) to own spending or a project (500201) or a horizontal transfer (500203)."""
    account = HORIZONTAL if horizontal else OWN_SPENDING
    return _one(event_id, "indicator.allocated", indicator_id, on, Move(account, PENDING, fen, project_code))


def payment_plan(event_id: str, indicator_id: str, fen: int, on: dt.date) -> Posting:
    """Centralised payment plan (集中支付计划): Dr 5101 / Cr 500201."""
    return _one(event_id, "payment.planned", indicator_id, on, Move(PAYMENT_PLAN, OWN_SPENDING, fen))


def payment(event_id: str, indicator_id: str, fen: int, on: dt.date, *, via_plan: bool,
            project_code: str | None) -> Posting:
    """Actual payment (实际支付): Dr 5201 / Cr 5101 (against a plan) or 500201."""
    source = PAYMENT_PLAN if via_plan else OWN_SPENDING
    return _one(event_id, "payment.made", indicator_id, on, Move(PAID, source, fen, project_code))


def payment_return(event_id: str, indicator_id: str, fen: int, on: dt.date, *, project_code: str | None) -> Posting:
    """Money returned to the indicator (退回): Dr 500201 / Cr 5201."""
    return _one(event_id, "payment.returned", indicator_id, on, Move(OWN_SPENDING, PAID, fen, project_code))


def reclassification(event_id: str, no: int, indicator_id: str, fen: int, on: dt.date, *, via_plan: bool,
                     project_code: str | None, reverses: str | None) -> Posting:
    """A counted payment turned out to go into a fiscal special account (财政专户) once that account
    was registered: it is not spending (seed 002), so the ledger takes it back out of 5201."""
    source = PAYMENT_PLAN if via_plan else OWN_SPENDING
    return Posting(event_id, no, "payment.reclassified", indicator_id, on,
                   (Move(source, PAID, fen, project_code),), red_ink=True, reverses=reverses)


def return_reversal(event_id: str, no: int, indicator_id: str, fen: int, on: dt.date, *,
                    project_code: str | None) -> Posting:
    """A payment cancelled by a red-ink correction after money came back from it: the returns are
    taken back too (Dr 5201 / Cr 500201), as if they had come after the cancellation (not booked)."""
    moves = (Move(PAID, OWN_SPENDING, fen, project_code),)
    return Posting(event_id, no, "payment.returned", indicator_id, on, moves, red_ink=True)


# ------------------------------------------------------------------ red-ink correction (红字更正)


def correction(event_id: str, on: dt.date, originals: list[Posting], corrected_fen: int | None,
               first_no: int = 0) -> list[Posting]:
    """Reverse every original posting (red ink, referencing it), then — unless the correction
    cancels — re-post each with the corrected amount. Only single-amount postings (every move
    the same amount, which is every posting this module builds) can be corrected by amount."""
    out: list[Posting] = []
    no = first_no
    for p in originals:
        out.append(Posting(event_id, no, p.kind, p.indicator_id, on, tuple(m.reversed() for m in p.moves),
                           red_ink=True, reverses=p.posting_id))
        no += 1
    if corrected_fen is None or corrected_fen == 0:
        return out
    for p in originals:
        if len({m.fen for m in p.moves}) != 1:
            raise InvalidMove(f"posting {p.posting_id} moves several amounts; it cannot be corrected by amount")
        out.append(Posting(event_id, no, p.kind, p.indicator_id, on, tuple(m.with_amount(corrected_fen) for m in p.moves)))
        no += 1
    return out


# ------------------------------------------------------------------ statistics rules (seed 002)


class PaymentStatus:
    """What a payment record is for the ledger and the statistics."""

    counted = "counted"  # valid, dated, not into a special account: spending (posted to 5201)
    invalid = "invalid"  # flagged invalid upstream
    undated = "undated"  # no payment date: not a valid payment (seed 002, USE-02)
    special_transfer = "special_transfer"  # moved into a fiscal special account: not spending
    cancelled = "cancelled"  # cancelled by a red-ink correction


def payment_status(*, valid: bool, payment_date: dt.date | None, into_special_account: bool) -> str:
    """Seed 002: spending counts only valid payments with a payment date; money moved into a
    fiscal special account (财政专户) is not spending."""
    if not valid:
        return PaymentStatus.invalid
    if payment_date is None:
        return PaymentStatus.undated
    if into_special_account:
        return PaymentStatus.special_transfer
    return PaymentStatus.counted
