"""Fund usage rules (资金使用): USE-01 … USE-09."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from decimal import Decimal

from services.alerts.config import RuleConfig
from services.alerts.findings import Evidence, Finding
from services.alerts.model import Pay, Posting
from services.alerts.rules.registry import rule
from services.alerts.zh import CHANNELS, fen, word, yuan


def _yuan(fen: int) -> str:
    return f"{fen / 100:.2f}"


def _pay_finding(rule_id: str, p: Pay, text: str, zh: str, extra: tuple[Evidence, ...] = ()) -> Finding:
    return Finding(rule_id, f"payment/{p.pid}", p.region, text, (p.evidence(), *extra), None, p.at, p.day.year,
                   indicator_id=p.ind, findings_zh=zh)


def _what_zh(what: str) -> str:
    """The balance a payment was held against (the entity's English words) in the ledger's Chinese terms."""
    if what == "the payment plan":
        return "用款计划余额"
    if what.startswith("the remaining allocation of project "):
        return f"项目 {what.rsplit(' ', 1)[1]} 的剩余分配额度"
    return "可用指标余额"


@rule("USE-01")
def use01_beyond_balance(cfg: RuleConfig, post: Posting, what: str, available_fen: int, amount_fen: int,
                         fund_code: str | None, ev: tuple[Evidence, ...]) -> Finding | None:
    """USE-01: a payment larger than what its indicator (or the project's share of it) had left, in
    the order the events happened — whatever order the ledger received them in."""
    if amount_fen <= available_fen:
        return None
    subject = f"payment/{post.subject}" if post.subject else f"indicator/{post.indicator_id}/overpaid"
    return Finding("USE-01", subject, post.region,
                   f"payment {post.subject or '?'} of {_yuan(amount_fen)} yuan exceeds {what} of "
                   f"{_yuan(available_fen)} yuan (indicator {post.indicator_id})", ev, fund_code, post.at,
                   int(post.on[:4]), indicator_id=post.indicator_id,
                   findings_zh=f"支付 {post.subject or '（未知）'} 金额 {fen(amount_fen)}，超过指标 {post.indicator_id} 的"
                               f"{_what_zh(what)} {fen(available_fen)}")


@rule("USE-01")
def use01_overdrawn(cfg: RuleConfig, post: Posting, own_fen: int, fund_code: str | None,
                    ev: tuple[Evidence, ...]) -> Finding | None:
    """USE-01: a red-ink correction took an indicator's own-spending balance below what it had
    already paid (the allocation was lowered under the payments made from it)."""
    if own_fen >= 0 or not post.red_ink:
        return None
    return Finding("USE-01", f"indicator/{post.indicator_id}/overpaid", post.region,
                   f"indicator {post.indicator_id}: after correction {post.source_event_id} the own-spending balance "
                   f"is {_yuan(own_fen)} yuan: more was paid than is now allocated", ev, fund_code, post.at,
                   int(post.on[:4]), indicator_id=post.indicator_id,
                   findings_zh=f"指标 {post.indicator_id} 经红字冲销 {post.source_event_id} 后本级可用余额为 {fen(own_fen)}："
                               f"已支付金额超过调整后的分配金额")


@rule("USE-02")
def use02_payment_date(cfg: RuleConfig, p: Pay) -> Finding | None:
    """USE-02: no payment date (not a valid payment, seed 002), or a date after the record arrived."""
    if p.date is None:
        return _pay_finding("USE-02", p, f"payment {p.pid} of {p.amount} yuan has no payment date",
                            f"支付 {p.pid} 金额 {yuan(p.amount)} 未填写支付日期（不是有效支付）")
    if dt.date.fromisoformat(p.date) > dt.date.fromisoformat(p.at[:10]) + dt.timedelta(days=cfg.int("max_ahead_days")):
        return _pay_finding("USE-02", p, f"payment {p.pid} is dated {p.date}, after it was recorded ({p.at[:10]})",
                            f"支付 {p.pid} 的支付日期 {p.date} 晚于记录日期 {p.at[:10]}，日期无效")
    return None


@rule("USE-03")
def use03_prohibited_class(cfg: RuleConfig, p: Pay) -> Finding | None:
    """USE-03: the economic class is on the negative list (salaries, hospitality, vehicles, buildings)."""
    if not p.economic_class or not p.economic_class.startswith(cfg.words("prohibited")):
        return None
    return _pay_finding("USE-03", p, f"payment {p.pid} of {p.amount} yuan is booked to prohibited economic class "
                                     f"{p.economic_class}",
                        f"支付 {p.pid} 金额 {yuan(p.amount)} 列支经济分类 {p.economic_class}，属于禁止范围"
                        f"（工资福利、接待、车辆、楼堂馆所等）")


@rule("USE-04")
def use04_cash(cfg: RuleConfig, p: Pay) -> Finding | None:
    """USE-04: paid in cash above the limit."""
    if p.settlement != "cash" or p.amount <= cfg.num("cash_limit"):
        return None
    return _pay_finding("USE-04", p, f"payment {p.pid} of {p.amount} yuan settled in cash, above the "
                                     f"{cfg.num('cash_limit')} yuan limit",
                        f"支付 {p.pid} 金额 {yuan(p.amount)} 以现金结算，超过现金限额 {yuan(cfg.num('cash_limit'))}")


def _same(p: Pay, q: Pay) -> bool:
    return p.pid != q.pid and p.amount == q.amount and p.purpose == q.purpose and p.payer_unit == q.payer_unit


def _days_apart(p: Pay, q: Pay) -> int:
    return abs((p.day - q.day).days)


@rule("USE-05")
def use05_duplicate(cfg: RuleConfig, p: Pay, others: Sequence[Pay]) -> list[Finding]:
    """USE-05: the same payee account got the same amount for the same purpose from the same payer
    within `window_days`: of two such payments the later (by date, then id) is the repeat, whichever
    of them arrived first."""
    window = cfg.int("window_days")
    out = []
    for q in others:
        if not _same(p, q) or _days_apart(p, q) > window:
            continue
        later, first = (p, q) if q.key < p.key else (q, p)
        out.append(_pay_finding("USE-05", later, f"payment {later.pid} repeats payment {first.pid}: {later.amount} "
                                                 f"yuan to {later.payee_masked} for {later.purpose!r} on "
                                                 f"{later.date or later.at[:10]} (first on {first.date or first.at[:10]})",
                                f"支付 {later.pid} 与支付 {first.pid} 重复：同一付款单位于 {later.date or later.at[:10]} "
                                f"向 {later.payee_masked} 支付 {yuan(later.amount)}，用途“{later.purpose}”"
                                f"（首笔支付于 {first.date or first.at[:10]}）",
                                (first.evidence(),)))
    return out


def _part(p: Pay, threshold: Decimal, min_share: Decimal) -> bool:
    return p.date is not None and threshold * min_share <= p.amount < threshold


@rule("USE-06")
def use06_split(cfg: RuleConfig, payments: Iterable[Pay], changed: Pay, repeat_days: int = 0) -> list[Finding]:
    """USE-06: payments from one unit to one account within `window_days`, each under the approval
    threshold, that together reach it (化整为零): every payment at which the window's total (it and
    the earlier parts) reaches the threshold. Judged again for the later payments whenever an
    earlier one arrives, so the result does not depend on the order they came in."""
    threshold, min_share, window = cfg.num("threshold"), cfg.num("min_part_share"), cfg.int("window_days")
    if not _part(changed, threshold, min_share):
        return []
    parts = sorted((q for q in payments if q.payer_unit == changed.payer_unit and _part(q, threshold, min_share)),
                   key=lambda q: q.key)
    out = []
    for i, p in enumerate(parts):
        if p.key < changed.key or (p.day - changed.day).days > window:
            continue  # not affected by `changed`
        window_parts = [q for q in parts[:i] if (p.day - q.day).days <= window and not _repeat(q, parts[:i],
                                                                                                   repeat_days)]
        if _repeat(p, parts[:i], repeat_days):
            continue  # a duplicate is USE-05's
        total = p.amount + sum((q.amount for q in window_parts), Decimal(0))
        if window_parts and total >= threshold:
            out.append(_pay_finding(
                "USE-06", p, f"payment {p.pid} of {p.amount} yuan and {len(window_parts)} earlier payment(s) from "
                             f"{p.payer_unit} to {p.payee_masked} within {window} days add up to {total} yuan, each "
                             f"under the {threshold} yuan approval threshold",
                f"支付 {p.pid} 金额 {yuan(p.amount)} 与此前 {len(window_parts)} 笔支付由 {p.payer_unit} 在 {window} 日内"
                f"付给 {p.payee_masked}，合计 {yuan(total)}，每笔均低于审批限额 {yuan(threshold)}（化整为零）",
                tuple(q.evidence() for q in window_parts[-5:])))
    return out


def _repeat(p: Pay, earlier: Sequence[Pay], days: int) -> bool:
    """Is `p` a repeat of an earlier payment (USE-05's: the same amount, purpose and payer within `days`)?"""
    return any(_same(p, q) and _days_apart(p, q) <= days for q in earlier)


@rule("USE-07")
def use07_not_by_card(cfg: RuleConfig, p: Pay, for_households: bool) -> Finding | None:
    """USE-07: a per-person subsidy paid outside the subsidy card system (一卡通). Handing the bank a
    list to pay into the farmers' cards is not the card system (seed 002)."""
    per_person = p.lines > 0 or (for_households and p.payee_kind == "individual")
    if not per_person or p.channel == "subsidy_card":
        return None
    return _pay_finding("USE-07", p, f"per-person subsidy payment {p.pid} of {p.amount} yuan paid by {p.channel}, "
                                     f"not through the subsidy card system (一卡通)",
                        f"到人到户补助支付 {p.pid} 金额 {yuan(p.amount)} 通过{word(CHANNELS, p.channel)}发放，"
                        f"未通过惠民补贴“一卡通”发放")


@rule("USE-08")
def use08_outside_period(cfg: RuleConfig, p: Pay, start: str, end: str) -> Finding | None:
    """USE-08: a project payment dated outside the project's implementation period."""
    if not p.project or not p.date or start <= p.date <= end:
        return None
    return _pay_finding("USE-08", p, f"payment {p.pid} on {p.date} is outside the implementation period "
                                     f"{start} – {end} of project {p.project}",
                        f"支付 {p.pid} 的支付日期 {p.date} 不在项目 {p.project} 的实施期（{start} 至 {end}）内")


@rule("USE-09")
def use09_purpose(cfg: RuleConfig, p: Pay) -> Finding | None:
    """USE-09: the stated purpose names something poverty funds may not pay for."""
    hits = [w for w in cfg.words("keywords") if w in p.purpose]
    if not hits:
        return None
    return _pay_finding("USE-09", p, f"payment {p.pid}: purpose {p.purpose!r} is outside the fund's scope "
                                     f"({', '.join(hits)})",
                        f"支付 {p.pid} 的用途“{p.purpose}”与资金使用范围不符（涉及：{'、'.join(hits)}）")
