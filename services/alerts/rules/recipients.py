"""Recipient rules (收款企业和受益贫困户): BEN-01 … BEN-09.

Beneficiary rules look at one person a payment reaches (`Line`) together with what is known
about that person: the registry entry, external records, earlier subsidies (in any region:
everything about a person is kept in one place, keyed by the person's hash). Enterprise rules
look at an enterprise payee with its business records and the staff lists of paying units."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from services.alerts.config import RuleConfig
from services.alerts.findings import Evidence, Finding
from services.alerts.model import Line, Pay


@dataclass(frozen=True)
class Registry:
    status: str  # poor | stable | removed
    since: str
    household: str | None = None


@dataclass(frozen=True)
class Record:
    """An external record about a person or an enterprise."""

    record_id: str
    kind: str
    date: str
    ev: dict
    status: str | None = None
    unit: str | None = None


def _person_subject(p: Pay, line: Line) -> str:
    return f"payment/{p.pid}/person/{line.person}"


def _f(rule_id: str, p: Pay, line: Line, text: str, extra: Iterable[Evidence] = ()) -> Finding:
    return Finding(rule_id, _person_subject(p, line), p.region, text, (p.evidence(), *extra), None, p.at, p.day.year,
                   details={"indicator_id": p.ind})


def ben01_not_in_registry(p: Pay, line: Line, registry: Registry | None) -> Finding | None:
    """BEN-01: the person paid is not in (or was removed from) the poor-household registry."""
    if registry is not None and registry.status != "removed":
        return None
    why = "removed from" if registry is not None else "not found in"
    return _f("BEN-01", p, line, f"{line.name} ({line.masked}) paid {line.paid} yuan by {p.pid} is {why} the "
                                 f"poor-household registry")


def ben02_disqualifying_record(p: Pay, line: Line, records: Sequence[Record], cfg: RuleConfig) -> Finding | None:
    """BEN-02: an external record (deed tax, vehicle, public employment …) before the payment
    shows the person is not eligible (seed 003: the 8,000-yuan deed-tax case)."""
    kinds = cfg.words("kinds")
    since = p.day - dt.timedelta(days=cfg.int("lookback_days"))
    hits = [r for r in records if r.kind in kinds and since.isoformat() <= r.date <= p.day.isoformat()]
    if not hits:
        return None
    first = hits[0]
    return _f("BEN-02", p, line, f"{line.name} ({line.masked}) paid {line.paid} yuan by {p.pid} has a {first.kind} "
                                 f"record of {first.date} ({first.record_id})", (Evidence.from_wire(first.ev),))


def ben03_deceased(p: Pay, line: Line, records: Sequence[Record]) -> Finding | None:
    """BEN-03: the person died before the payment."""
    deaths = [r for r in records if r.kind == "death" and r.date < p.day.isoformat()]
    if not deaths:
        return None
    return _f("BEN-03", p, line, f"{line.name} ({line.masked}) paid {line.paid} yuan by {p.pid} on {p.day} died on "
                                 f"{deaths[0].date}", (Evidence.from_wire(deaths[0].ev),))


def ben04_twice(p: Pay, line: Line, history: Sequence[tuple[Pay, Line]], cfg: RuleConfig) -> list[Finding]:
    """BEN-04: the same subsidy type paid to the same person twice in one period (any region).
    Of two such payments the later one is the duplicate, whichever of them arrives first."""
    if not line.subsidy_type:
        return []
    out = []
    mine = (p.day.isoformat(), p.pid)
    for q, q_line in history:
        if q.pid == p.pid or q_line.subsidy_type != line.subsidy_type or q.day.year != p.day.year:
            continue
        (later, later_line), first = ((p, line), q) if (q.day.isoformat(), q.pid) < mine else ((q, q_line), p)
        where = f" in {first.region}" if first.region != later.region else ""
        out.append(_f("BEN-04", later, later_line,
                      f"{later_line.name} ({later_line.masked}) received {line.subsidy_type} again by {later.pid}; "
                      f"already paid by {first.pid} on {first.day}{where}", (first.evidence(),)))
    return out


def ben05_payable_paid(p: Pay, line: Line) -> Finding | None:
    """BEN-05: the paid amount (实发) differs from the payable amount (应发)."""
    if line.payable is None or line.payable == line.paid:
        return None
    return _f("BEN-05", p, line, f"{line.name} ({line.masked}) in {p.pid}: payable {line.payable} yuan, paid "
                                 f"{line.paid} yuan")


def ben09_stable(p: Pay, line: Line, registry: Registry | None) -> Finding | None:
    """BEN-09: the household is marked stable (稳定脱贫，不再享受政策) yet still gets a targeted subsidy."""
    if registry is None or registry.status != "stable" or registry.since > p.day.isoformat():
        return None
    return _f("BEN-09", p, line, f"{line.name} ({line.masked}) paid {line.paid} yuan by {p.pid}: household "
                                 f"{registry.household or ''} is marked stable since {registry.since}")


def _ent(rule_id: str, p: Pay, subject: str, text: str, extra: Iterable[Evidence] = ()) -> Finding:
    return Finding(rule_id, subject, p.region, text, (p.evidence(), *extra), None, p.at, p.day.year,
                   details={"indicator_id": p.ind})


def ben06_bad_status(p: Pay, statuses: Sequence[Record], cfg: RuleConfig) -> Finding | None:
    """BEN-06: the enterprise was deregistered, revoked, or listed as abnormal or dishonest before the payment."""
    bad = cfg.words("statuses")
    hits = [r for r in statuses if r.status and any(b in r.status for b in bad) and r.date <= p.day.isoformat()]
    if not p.enterprise or not hits:
        return None
    r = hits[0]
    return _ent("BEN-06", p, f"enterprise/{p.enterprise}",
                f"{p.payee_name} ({p.enterprise}) paid {p.amount} yuan by {p.pid} on {p.day}: status {r.status} "
                f"since {r.date}", (Evidence.from_wire(r.ev),))


def ben07_young_enterprise(p: Pay, founded: Record | None, cfg: RuleConfig) -> Finding | None:
    """BEN-07: a large payment to an enterprise founded shortly before it."""
    if not p.enterprise or founded is None or p.amount < cfg.num("min_amount"):
        return None
    age = (p.day - dt.date.fromisoformat(founded.date)).days
    if not 0 <= age <= cfg.int("max_age_days"):
        return None
    return _ent("BEN-07", p, f"enterprise/{p.enterprise}",
                f"{p.payee_name} ({p.enterprise}) founded {founded.date} got {p.amount} yuan by {p.pid} {age} days "
                f"later", (Evidence.from_wire(founded.ev),))


def ben08_related_party(p: Pay, related_units: dict[str, dict]) -> Finding | None:
    """BEN-08: the enterprise's legal representative works for the paying unit."""
    if not p.enterprise or p.payer_unit not in related_units:
        return None
    return _ent("BEN-08", p, f"enterprise/{p.enterprise}/unit/{p.payer_unit}",
                f"{p.payee_name} ({p.enterprise}) paid {p.amount} yuan by {p.payer_name}: its legal representative is "
                f"on the staff of {p.payer_name}", (Evidence.from_wire(related_units[p.payer_unit]),))
