"""Fund usage rules (资金使用): USE-01 … USE-09."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from services.alerts.config import RuleConfig
from services.alerts.findings import Evidence, Finding, evidence
from services.alerts.model import Pay


def _pay_finding(rule_id: str, p: Pay, text: str, extra: tuple[Evidence, ...] = ()) -> Finding:
    return Finding(rule_id, f"payment/{p.pid}", p.region, text, (p.evidence(), *extra), None, p.at, p.day.year,
                   details={"indicator_id": p.ind})


def use01_beyond_balance(event_id: str, region: str, at: str, payment_id: str | None, indicator_id: str,
                         amount: str, available: str, fund_code: str | None) -> Finding | None:
    """USE-01: the ledger booked a payment larger than the indicator's available balance."""
    subject = f"payment/{payment_id}" if payment_id else f"indicator/{indicator_id}/overpaid"
    ev = evidence(event_id, "ledger.balance_exceeded", at, region, indicator_id=indicator_id, payment_id=payment_id,
                  amount=amount, available=available)
    return Finding("USE-01", subject, region,
                   f"payment {payment_id or '?'} of {amount} yuan exceeds the available balance {available} yuan of "
                   f"indicator {indicator_id}", (ev,), fund_code, at, int(at[:4]),
                   details={"indicator_id": indicator_id})


def use02_payment_date(p: Pay) -> Finding | None:
    """USE-02: no payment date (not a valid payment, seed 002), or a date after the record arrived."""
    if p.date is None:
        return _pay_finding("USE-02", p, f"payment {p.pid} of {p.amount} yuan has no payment date")
    if dt.date.fromisoformat(p.date) > dt.date.fromisoformat(p.at[:10]) + dt.timedelta(days=1):
        return _pay_finding("USE-02", p, f"payment {p.pid} is dated {p.date}, after it was recorded ({p.at[:10]})")
    return None


def use03_prohibited_class(p: Pay, cfg: RuleConfig) -> Finding | None:
    """USE-03: the economic class is on the negative list (salaries, hospitality, vehicles, buildings)."""
    if not p.economic_class or not p.economic_class.startswith(cfg.words("prohibited")):
        return None
    return _pay_finding("USE-03", p, f"payment {p.pid} of {p.amount} yuan is booked to prohibited economic class "
                                     f"{p.economic_class}")


def use04_cash(p: Pay, cfg: RuleConfig) -> Finding | None:
    """USE-04: paid in cash above the limit."""
    if p.settlement != "cash" or p.amount <= cfg.num("cash_limit"):
        return None
    return _pay_finding("USE-04", p, f"payment {p.pid} of {p.amount} yuan settled in cash, above the "
                                     f"{cfg.num('cash_limit')} yuan limit")


@dataclass(frozen=True)
class Recent:
    """A payment an account has recently received (kept in the account's state)."""

    pid: str
    amount: Decimal
    purpose: str
    date: str | None
    payer_unit: str
    ev: dict


def use05_duplicate(p: Pay, recent: Sequence[Recent], cfg: RuleConfig) -> Finding | None:
    """USE-05: the same payee account got the same amount for the same purpose on the same date."""
    for r in recent:
        if r.pid != p.pid and r.amount == p.amount and r.purpose == p.purpose and r.date == p.date:
            return _pay_finding("USE-05", p, f"payment {p.pid} repeats payment {r.pid}: {p.amount} yuan to "
                                             f"{p.payee_masked} for {p.purpose!r} on {p.date}",
                                (Evidence.from_wire(r.ev),))
    return None


def use06_split(p: Pay, recent: Sequence[Recent], cfg: RuleConfig) -> Finding | None:
    """USE-06: payments from one unit to one account within a few days, each under the approval
    threshold, that together reach it (化整为零)."""
    threshold = cfg.num("threshold")
    if p.amount >= threshold or p.amount < threshold * cfg.num("min_part_share"):
        return None
    window = cfg.int("window_days")
    parts = [r for r in recent
             if r.pid != p.pid and r.payer_unit == p.payer_unit and r.date and p.date
             and not (r.amount == p.amount and r.purpose == p.purpose and r.date == p.date)  # a duplicate: USE-05
             and abs((dt.date.fromisoformat(p.date) - dt.date.fromisoformat(r.date)).days) <= window
             and r.amount < threshold and r.amount >= threshold * cfg.num("min_part_share")]
    total = p.amount + sum((r.amount for r in parts), Decimal(0))
    if not parts or total < threshold:
        return None
    return _pay_finding("USE-06", p, f"payment {p.pid} of {p.amount} yuan and {len(parts)} more payment(s) from "
                                     f"{p.payer_unit} to {p.payee_masked} within {window} days add up to {total} yuan, "
                                     f"each under the {threshold} yuan approval threshold",
                        tuple(Evidence.from_wire(r.ev) for r in parts[:5]))


def use07_not_by_card(p: Pay, for_households: bool) -> Finding | None:
    """USE-07: a per-person subsidy paid outside the subsidy card system (一卡通)."""
    per_person = p.lines > 0 or (for_households and p.payee_kind == "individual" and not p.project)
    if not per_person or p.channel == "subsidy_card":
        return None
    return _pay_finding("USE-07", p, f"per-person subsidy payment {p.pid} of {p.amount} yuan paid by {p.channel}, "
                                     f"not through the subsidy card system (一卡通)")


def use08_outside_period(p: Pay, start: str, end: str) -> Finding | None:
    """USE-08: a project payment dated outside the project's implementation period."""
    if not p.project or not p.date or start <= p.date <= end:
        return None
    return _pay_finding("USE-08", p, f"payment {p.pid} on {p.date} is outside the implementation period "
                                     f"{start} – {end} of project {p.project}")


def use09_purpose(p: Pay, cfg: RuleConfig) -> Finding | None:
    """USE-09: the stated purpose names something poverty funds may not pay for."""
    hits = [w for w in cfg.words("keywords") if w in p.purpose]
    if not hits:
        return None
    return _pay_finding("USE-09", p, f"payment {p.pid}: purpose {p.purpose!r} is outside the fund's scope "
                                     f"({', '.join(hits)})")
