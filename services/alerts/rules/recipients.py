"""Recipient rules (收款企业和受益贫困户): BEN-01 … BEN-09.

Beneficiary rules look at one person a payment reaches (`Line`) together with what is known
about that person: the registry entry in force on the payment's date, external records, earlier
subsidies (in any region: everything about a person is kept in one place, keyed by the person's
hash). Enterprise rules look at an enterprise payee with its business records and the staff
lists of paying units."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence

from services.alerts.config import RuleConfig
from services.alerts.findings import Evidence, Finding
from services.alerts.model import Line, Pay, Record
from services.alerts.rules.registry import rule
from services.alerts.zh import RECORDS, STATUSES, word, yuan


def _person_subject(p: Pay, line: Line) -> str:
    return f"payment/{p.pid}/person/{line.person}"


def _f(rule_id: str, p: Pay, line: Line, text: str, zh: str, extra: Iterable[Evidence] = ()) -> Finding:
    return Finding(rule_id, _person_subject(p, line), p.region, text, (p.evidence(), *extra), None, p.at, p.day.year,
                   indicator_id=p.ind, findings_zh=zh)


def _who(line: Line) -> str:
    return f"{line.name}（{line.masked}）"


@rule("BEN-01")
def ben01_not_in_registry(cfg: RuleConfig, p: Pay, line: Line, status: str | None) -> Finding | None:
    """BEN-01: the person paid was not in the poor-household registry on the payment's date (or had
    been removed from it). `status`: the registry status in force then, None when there was none."""
    if status is not None and status != "removed":
        return None
    why = "removed from" if status == "removed" else "not found in"
    return _f("BEN-01", p, line, f"{line.name} ({line.masked}) paid {line.paid} yuan by {p.pid} on {p.day} is {why} "
                                 f"the poor-household registry",
              f"{_who(line)}于 {p.day} 经支付 {p.pid} 获得 {yuan(line.paid)}，"
              f"{'已被移出' if status == 'removed' else '不在'}建档立卡贫困人口名单")


@rule("BEN-02")
def ben02_disqualifying_record(cfg: RuleConfig, p: Pay, line: Line, records: Sequence[Record]) -> Finding | None:
    """BEN-02: an external record (deed tax, vehicle, public employment …) before the payment
    shows the person is not eligible (seed 003: the 8,000-yuan deed-tax case)."""
    kinds = cfg.words("kinds")
    since = p.day - dt.timedelta(days=cfg.int("lookback_days"))
    hits = sorted((r for r in records if r.kind in kinds and since.isoformat() <= r.date <= p.day.isoformat()),
                  key=lambda r: (r.date, r.record_id))
    if not hits:
        return None
    first = hits[0]
    return _f("BEN-02", p, line, f"{line.name} ({line.masked}) paid {line.paid} yuan by {p.pid} has a {first.kind} "
                                 f"record of {first.date} ({first.record_id})",
              f"{_who(line)}经支付 {p.pid} 获得 {yuan(line.paid)}，但 {first.date} 有{word(RECORDS, first.kind)}记录"
              f"（{first.record_id}），不符合享受条件", (first.ev,))


@rule("BEN-03")
def ben03_deceased(cfg: RuleConfig, p: Pay, line: Line, records: Sequence[Record]) -> Finding | None:
    """BEN-03: the person died before the payment."""
    deaths = sorted((r for r in records if r.kind == "death" and r.date < p.day.isoformat()), key=lambda r: r.date)
    if not deaths:
        return None
    return _f("BEN-03", p, line, f"{line.name} ({line.masked}) paid {line.paid} yuan by {p.pid} on {p.day} died on "
                                 f"{deaths[0].date}",
              f"{_who(line)}于 {p.day} 经支付 {p.pid} 获得 {yuan(line.paid)}，但已于 {deaths[0].date} 死亡",
              (deaths[0].ev,))


def subsidy_period(p: Pay, line: Line, unit: str) -> str:
    """The period a subsidy is for: as the line says (补贴所属期), else the payment date's year, half,
    quarter or month (`unit`, the BEN-04 parameter `period`)."""
    if line.period:
        return line.period
    day = p.day
    if unit == "month":
        return f"{day.year}-{day.month:02d}"
    if unit == "quarter":
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    if unit == "half":
        return f"{day.year}-H{1 if day.month <= 6 else 2}"
    return str(day.year)


@rule("BEN-04")
def ben04_twice(cfg: RuleConfig, p: Pay, line: Line, history: Sequence[tuple[Pay, Line]]) -> list[Finding]:
    """BEN-04: the same subsidy type paid to the same person twice for one period (any region).
    Of two such payments the later one is the duplicate, whichever of them arrives first."""
    if not line.subsidy_type:
        return []
    unit = cfg.text("period")
    period = subsidy_period(p, line, unit)
    out = []
    for q, q_line in history:
        if q.pid == p.pid or q_line.subsidy_type != line.subsidy_type or subsidy_period(q, q_line, unit) != period:
            continue
        (later, later_line), first = ((p, line), q) if q.key < p.key else ((q, q_line), p)
        where = f" in {first.region}" if first.region != later.region else ""
        where_zh = f"（在地区 {first.region}）" if first.region != later.region else ""
        out.append(_f("BEN-04", later, later_line,
                      f"{later_line.name} ({later_line.masked}) received {line.subsidy_type} for {period} again by "
                      f"{later.pid}; already paid by {first.pid} on {first.day}{where}",
                      f"{_who(later_line)}经支付 {later.pid} 再次领取 {period} 期间的{line.subsidy_type}；"
                      f"已于 {first.day}{where_zh} 经支付 {first.pid} 领取（同一补贴同一期间重复享受）",
                      (first.evidence(),)))
    return out


@rule("BEN-05")
def ben05_payable_paid(cfg: RuleConfig, p: Pay, line: Line) -> Finding | None:
    """BEN-05: the paid amount (实发) differs from the payable amount (应发)."""
    if line.payable is None or line.payable == line.paid:
        return None
    return _f("BEN-05", p, line, f"{line.name} ({line.masked}) in {p.pid}: payable {line.payable} yuan, paid "
                                 f"{line.paid} yuan",
              f"{_who(line)}在支付 {p.pid} 中应发 {yuan(line.payable)}，实发 {yuan(line.paid)}，应发与实发不一致")


@rule("BEN-09")
def ben09_stable(cfg: RuleConfig, p: Pay, line: Line, status: str | None, since: str | None,
                 household: str | None) -> Finding | None:
    """BEN-09: the household was marked stable (稳定脱贫，不再享受政策) on the payment's date, yet
    still got a targeted subsidy."""
    if status != "stable":
        return None
    return _f("BEN-09", p, line, f"{line.name} ({line.masked}) paid {line.paid} yuan by {p.pid}: household "
                                 f"{household or ''} is marked stable since {since}",
              f"{_who(line)}经支付 {p.pid} 获得 {yuan(line.paid)}，但其家庭 {household or ''} 自 {since} 起已标注"
              f"“稳定脱贫（不再享受政策）”")


def _ent(rule_id: str, p: Pay, subject: str, text: str, zh: str, extra: Iterable[Evidence] = ()) -> Finding:
    return Finding(rule_id, subject, p.region, text, (p.evidence(), *extra), None, p.at, p.day.year,
                   indicator_id=p.ind, findings_zh=zh)


@rule("BEN-06")
def ben06_bad_status(cfg: RuleConfig, p: Pay, statuses: Sequence[Record]) -> Finding | None:
    """BEN-06: on the payment's date the enterprise was deregistered, revoked, or listed as abnormal or
    dishonest (the status in force then: an enterprise taken off the abnormal-operations list is clean)."""
    bad = cfg.words("statuses")
    known = sorted((r for r in statuses if r.status and r.date <= p.day.isoformat()), key=lambda r: (r.date, r.record_id))
    if not p.enterprise or not known or not any(b in (known[-1].status or "") for b in bad):
        return None
    r = known[-1]
    return _ent("BEN-06", p, f"enterprise/{p.enterprise}",
                f"{p.payee_name} ({p.enterprise}) paid {p.amount} yuan by {p.pid} on {p.day}: status {r.status} "
                f"since {r.date}",
                f"{p.payee_name}（{p.enterprise}）于 {p.day} 经支付 {p.pid} 获得 {yuan(p.amount)}，但自 {r.date} 起"
                f"企业状态为“{word(STATUSES, r.status)}”", (r.ev,))


@rule("BEN-07")
def ben07_young_enterprise(cfg: RuleConfig, p: Pay, founded: Record | None) -> Finding | None:
    """BEN-07: a large payment to an enterprise founded shortly before it."""
    if not p.enterprise or founded is None or p.amount < cfg.num("min_amount"):
        return None
    age = (p.day - dt.date.fromisoformat(founded.date)).days
    if not 0 <= age <= cfg.int("max_age_days"):
        return None
    return _ent("BEN-07", p, f"enterprise/{p.enterprise}",
                f"{p.payee_name} ({p.enterprise}) founded {founded.date} got {p.amount} yuan by {p.pid} {age} days "
                f"later",
                f"{p.payee_name}（{p.enterprise}）成立于 {founded.date}，{age} 天后即经支付 {p.pid} 获得 {yuan(p.amount)}",
                (founded.ev,))


@rule("BEN-08")
def ben08_related_party(cfg: RuleConfig, p: Pay, related_units: Mapping[str, Evidence]) -> Finding | None:
    """BEN-08: the enterprise's legal representative works for the paying unit."""
    if not p.enterprise or p.payer_unit not in related_units:
        return None
    return _ent("BEN-08", p, f"enterprise/{p.enterprise}/unit/{p.payer_unit}",
                f"{p.payee_name} ({p.enterprise}) paid {p.amount} yuan by {p.payer_name}: its legal representative is "
                f"on the staff of {p.payer_name}",
                f"{p.payee_name}（{p.enterprise}）收到 {p.payer_name} 支付的 {yuan(p.amount)}，其法定代表人是 "
                f"{p.payer_name} 的工作人员（关联交易）", (related_units[p.payer_unit],))
