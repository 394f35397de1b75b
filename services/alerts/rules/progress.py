"""Disbursement progress rules (拨付进度): PRG-01 … PRG-06.

They read what the ledger booked for one indicator (natural-side balances, fen, with the account
meanings of contracts/accounts.py) and are evaluated on the indicator's checkpoints: a checkpoint
is looked at with the balances as they stood on its date, in the order the events happened."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal

from services.alerts.config import RuleConfig
from services.alerts.findings import Evidence, Finding
from services.alerts.model import Account, Pay, spending_base
from services.alerts.rules.registry import rule
from services.alerts.zh import fen, pct, yuan

YEAR_END = (12, 31)
Balances = Mapping[str, int]


def _yuan(fen: int) -> str:
    return f"{fen / 100:.2f}"


def _fen(yuan: Decimal) -> int:
    return int(yuan * 100)


def _paid(b: Balances) -> int:
    return int(b.get(Account.paid, 0))


def checkpoint_date(year: int, mmdd: str) -> dt.date:
    month, day = (int(x) for x in mmdd.split("-"))
    return dt.date(year, month, day)


def _end_of_day(day: dt.date) -> str:
    return dt.datetime.combine(day, dt.time(23, 59)).isoformat() + "+08:00"


def _start_of_day(day: dt.date) -> str:
    return dt.datetime.combine(day, dt.time()).isoformat() + "+08:00"


@rule("PRG-01")
def prg01_behind_schedule(cfg: RuleConfig, indicator_id: str, region: str, received_on: dt.date,
                          checkpoint: dt.date, balances: Balances, ev: tuple[Evidence, ...] = (),
                          fund_code: str | None = None) -> Finding | None:
    """PRG-01: at a checkpoint, spending is below `factor` × the time-proportional schedule
    (from the day the money arrived to the end of the year)."""
    base = spending_base(balances)
    age = (checkpoint - received_on).days
    if base < _fen(cfg.num("min_amount")) or age < cfg.int("min_age_days"):
        return None
    year_end = dt.date(checkpoint.year, *YEAR_END)
    schedule = Decimal(age) / Decimal(max(1, (year_end - received_on).days))
    expected = cfg.num("factor") * schedule
    share = Decimal(_paid(balances)) / Decimal(base)
    if share >= expected:
        return None
    return Finding("PRG-01", f"indicator/{indicator_id}/checkpoint/{checkpoint:%m-%d}", region,
                   f"indicator {indicator_id} at {checkpoint}: spent {share:.1%} of {_yuan(base)} yuan, below "
                   f"{expected:.1%} ({cfg.num('factor')} × schedule {schedule:.1%})", ev, fund_code,
                   _end_of_day(checkpoint), checkpoint.year, indicator_id=indicator_id,
                   findings_zh=f"指标 {indicator_id} 截至检查点 {checkpoint}：可支出 {fen(base)}，支出进度 {pct(share)}，"
                               f"低于要求的 {pct(expected)}（序时进度 {pct(schedule)} × {cfg.num('factor')}）")


@rule("PRG-02")
def prg02_idle(cfg: RuleConfig, indicator_id: str, region: str, since: dt.date, checked_on: dt.date,
               balances: Balances, ev: tuple[Evidence, ...] = (), fund_code: str | None = None) -> Finding | None:
    """PRG-02: allocated money has not moved for `idle_days` (no payment since `since`)."""
    available = spending_base(balances) - _paid(balances) - int(balances.get(Account.pending, 0))
    if (checked_on - since).days < cfg.int("idle_days") or available < _fen(cfg.num("min_amount")):
        return None
    return Finding("PRG-02", f"indicator/{indicator_id}/idle", region,
                   f"indicator {indicator_id}: {_yuan(available)} yuan allocated but no payment since {since} "
                   f"({(checked_on - since).days} days)", ev, fund_code, _start_of_day(checked_on), checked_on.year,
                   indicator_id=indicator_id,
                   findings_zh=f"指标 {indicator_id}：已分配未支付 {fen(available)}，自 {since} 起 "
                               f"{(checked_on - since).days} 天无支付（资金闲置）")


@rule("PRG-03")
def prg03_unspent(cfg: RuleConfig, indicator_id: str, region: str, checkpoint: dt.date, balances: Balances,
                  ev: tuple[Evidence, ...] = (), fund_code: str | None = None) -> Finding | None:
    """PRG-03: near the year end, a large share of the indicator is unspent."""
    base = spending_base(balances)
    if base < _fen(cfg.num("min_amount")):
        return None
    unspent = base - _paid(balances)
    share = Decimal(unspent) / Decimal(base)
    if share <= cfg.num("max_unspent_share"):
        return None
    return Finding("PRG-03", f"indicator/{indicator_id}/year-end", region,
                   f"indicator {indicator_id} at {checkpoint}: {_yuan(unspent)} of {_yuan(base)} yuan ({share:.1%}) "
                   f"unspent, above {cfg.num('max_unspent_share'):.0%}", ev, fund_code, _end_of_day(checkpoint),
                   checkpoint.year, indicator_id=indicator_id,
                   findings_zh=f"指标 {indicator_id} 截至 {checkpoint}：{fen(base)} 中尚有 {fen(unspent)} 未支出"
                               f"（{pct(share)}），超过 {cfg.num('max_unspent_share'):.0%} 的结余比例")


@rule("PRG-04")
def prg04_special_account(cfg: RuleConfig, p: Pay, account_kind: str | None) -> Finding | None:
    """PRG-04: a payment into a fiscal special account (财政专户) booked as spending (seed 002)."""
    if account_kind != "special" or p.channel == "special_account" or not p.valid:
        return None
    return Finding("PRG-04", f"payment/{p.pid}", p.region,
                   f"payment {p.pid} of {p.amount} yuan moves money into the fiscal special account "
                   f"{p.payee_masked}; it is not spending", (p.evidence(),), None, p.at, p.day.year,
                   indicator_id=p.ind,
                   findings_zh=f"支付 {p.pid} 金额 {yuan(p.amount)} 转入财政专户 {p.payee_masked}，"
                               f"不应列为支出")


@rule("PRG-05")
def prg05_held_up(cfg: RuleConfig, indicator_id: str, region: str, received_on: dt.date, checked_on: dt.date,
                  balances: Balances, ev: tuple[Evidence, ...] = (), fund_code: str | None = None) -> Finding | None:
    """PRG-05: `held_days` after receipt, part of the indicator is still unallocated (滞留)."""
    received = int(balances.get(Account.revenue, 0)) - int(balances.get(Account.total, 0))
    pending = int(balances.get(Account.pending, 0))
    if received <= 0 or pending < _fen(cfg.num("min_amount")):
        return None
    share = Decimal(pending) / Decimal(received)
    if share < cfg.num("min_share"):
        return None
    return Finding("PRG-05", f"indicator/{indicator_id}/held", region,
                   f"indicator {indicator_id}: {_yuan(pending)} yuan ({share:.1%}) still unallocated "
                   f"{(checked_on - received_on).days} days after receipt on {received_on}", ev, fund_code,
                   _start_of_day(checked_on), checked_on.year, indicator_id=indicator_id,
                   findings_zh=f"指标 {indicator_id}：{received_on} 接收后 {(checked_on - received_on).days} 天，"
                               f"仍有 {fen(pending)}（{pct(share)}）未分配（资金滞留）")


@rule("PRG-06")
def prg06_surge(cfg: RuleConfig, indicator_id: str, region: str, on: dt.date, paid_fen: int, window_fen: int,
                ev: tuple[Evidence, ...] = (), fund_code: str | None = None) -> Finding | None:
    """PRG-06: from `window_start` to the year end, the indicator pays more than `max_share`
    of everything it paid this year (突击花钱)."""
    if paid_fen <= 0 or window_fen < _fen(cfg.num("min_amount")):
        return None
    share = Decimal(window_fen) / Decimal(paid_fen)
    if share <= cfg.num("max_share"):
        return None
    return Finding("PRG-06", f"indicator/{indicator_id}/surge", region,
                   f"indicator {indicator_id}: {_yuan(window_fen)} of {_yuan(paid_fen)} yuan ({share:.1%}) paid since "
                   f"{cfg.text('window_start')} (year-end surge)", ev, fund_code, _end_of_day(on), on.year,
                   indicator_id=indicator_id,
                   findings_zh=f"指标 {indicator_id}：全年支付 {fen(paid_fen)}，其中 {cfg.text('window_start')} 以后支付 "
                               f"{fen(window_fen)}（{pct(share)}），年末突击支出")
