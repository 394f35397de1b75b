"""Builders of the plain data the rules look at (defaults are a clean case; override to break it)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import msgspec

from services.alerts.catalogue import CATALOGUE
from services.alerts.config import RuleConfig, RuleConfigs
from services.alerts.findings import Finding
from services.alerts.model import Allocation, Fund, IndicatorDoc, Line, Move, Pay, Posting, Record, Registration
from services.alerts.rules.registry import Rules
from tests import factories as wire

T = "2026-03-02T10:00:00+08:00"


def cfg(rule_id: str, **params: Any) -> RuleConfig:
    c = RuleConfigs().get(rule_id, 2026)
    return replace(c, params={**c.params, **params}) if params else c


def pay(**kw: Any) -> Pay:
    base = dict(pid="ZF1", event_id="e-pay", region="410324", ind="IND-1", at=T, amount=Decimal("8000.00"),
                date="2026-03-02", purpose="到户增收项目补助", settlement="transfer", channel="subsidy_card",
                economic_class="30310", project=None, payer_unit="410324001", payer_name="栾川县财政局",
                payer_acct="a" * 32, payer_masked="4105****0001", payee_kind="individual", payee_name="王五",
                payee_holder="王五", payee_acct="b" * 32, payee_masked="6230****1234", payee_person="p" * 32,
                enterprise=None, lines=1)
    base.update(kw)
    return Pay(**base)


def project_pay(**kw: Any) -> Pay:
    base = dict(purpose="道路硬化项目第1期工程款", channel="direct", economic_class="31005", project="XM1",
                payer_unit="410324002", payer_name="栾川县乡村振兴局", payee_kind="enterprise",
                payee_name="栾川县宏达建筑工程有限公司", payee_holder="栾川县宏达建筑工程有限公司", payee_person=None,
                enterprise="91410324MA00000001", amount=Decimal("120000.00"), lines=0)
    base.update(kw)
    return pay(**base)


def line(**kw: Any) -> Line:
    base = dict(person="p" * 32, masked="4103**********1234", name="王五", paid=Decimal("8000.00"),
                payable=Decimal("8000.00"), household="HH1", subsidy_type="到户增收")
    base.update(kw)
    return Line(**base)


def registration(**kw: Any) -> Registration:
    base = dict(event_id="e-acct", at=T, kind="designated", status="active", holder="栾川县财政局", unit="410324001",
                effective_on=None)
    base.update(kw)
    return Registration(**base)


def record(kind: str, date: str, **kw: Any) -> Record:
    from services.alerts.findings import evidence

    base = dict(record_id=f"R-{kind}-{date}", kind=kind, date=date,
                ev=evidence(f"e-{kind}", "external.recorded", T, "410324", kind=kind, record_date=date),
                status=None, unit=None)
    base.update(kw)
    return Record(**base)


def doc(**kw: Any) -> IndicatorDoc:
    base = dict(indicator_id="IND-410324-1", event_id="e-reg", event_type="indicator.registered", region="410324",
                at=T, fund="C22", amount=Decimal("100000.00"), budget_year=2026, doc_no="洛财农〔2026〕12号",
                doc_date="2026-02-28", on="2026-03-02", source="upper_transfer", upper_indicator_id="XD-1",
                upper_region="410300", scan=True, functional_class="2130504")
    base.update(kw)
    return IndicatorDoc(**base)


def issue(**kw: Any) -> IndicatorDoc:
    base = dict(indicator_id="XD-1", event_id="e-issue", event_type="indicator.issued", region="410300",
                to_region="410324", source="issued", upper_indicator_id=None, upper_region=None,
                on="2026-02-27", doc_no="洛财农〔2026〕12号")
    base.update(kw)
    return doc(**base)


def allocation(**kw: Any) -> Allocation:
    base = dict(allocation_id="FP-1", event_id="e-alloc", region="410324", at=T, indicator_id="IND-410324-1",
                kind="project", amount=Decimal("50000.00"), on="2026-03-03", project="XM1",
                project_name="2026年栾川县城关镇张庄村道路硬化项目", functional_class="2130504", economic_class="31005")
    base.update(kw)
    return Allocation(**base)


def posting(seq: int, kind: str, on: str, moves: list[tuple[str, str, int] | tuple[str, str, int, str]], *,
            indicator_id: str = "IND-410324-1", subject: str | None = None, red_ink: bool = False,
            at: str | None = None, region: str = "410324") -> Posting:
    """A ledger posting (moves in fen) as the alerts see it."""
    from services.alerts.clock import event_key

    when = at or f"{on}T12:00:00+08:00"
    return Posting(f"ledger:e{seq}:0", region, when, indicator_id, kind, on, tuple(Move(*m) for m in moves), seq,
                   event_key(when), f"e{seq}", subject, red_ink)


FUNDS = {
    "C22": Fund("C22", "central", None, ("21305", "2130504", "2130505"), "agri", False),
    "C23": Fund("C23", "central", None, ("21303",), "agri", False),
    "410324-F01": Fund("410324-F01", "county", "C22", ("21305", "2130504"), "agri", False),
    "411624-F01": Fund("411624-F01", "county", "P09", ("21305",), "agri", False),
    "P09": Fund("P09", "provincial", "C22", ("21305",), "agri", False),
    "C33": Fund("C33", "central", None, ("22101",), "econ", True),
}

ALL_RULES = sorted(CATALOGUE)


def run(fn: Any, *args: Any, configs: RuleConfigs | None = None, year: int = 2026, region: str = "410324"
        ) -> list[Finding]:
    """One rule through the registry's gating, as an entity runs it: what it found."""
    return Rules(configs or RuleConfigs()).run(fn, year, region, *args)


def facts_findings(event: dict) -> list[Finding]:
    """The findings an event raises by itself (ingress, every rule on its defaults)."""
    from contracts import parse_event
    from services.alerts import facts as f
    from services.alerts import ingress
    from tests.alerts.harness import PII_KEY

    facts = ingress.facts_of(parse_event(event, pii_key=PII_KEY), Rules(RuleConfigs()))
    return [x.finding for x in facts if isinstance(x, f.FindingRaised)]


def key_facts(finding: Finding) -> dict[str, str]:
    """The evidence's facts of a finding, merged (first event wins): what the rule looked at."""
    out: dict[str, str] = {}
    for e in finding.evidence:
        for k, v in e.facts:
            out.setdefault(k, v)
    return out


def plain(obj: Any) -> Any:
    return msgspec.to_builtins(obj)


ELSEWHERE = "411624"  # another county (淅川县): its records move the input's time on


def at(day: str) -> str:
    return f"{day}T10:00:00+08:00"


def clock(day: str, region: str = ELSEWHERE) -> dict:
    """Another county's reference record of `day`: the input has reached that day (it says nothing
    about the indicators under test)."""
    return wire.event("region.registered", {"code": region, "name": "淅川县", "level": "county",
                                            "parent": region[:4] + "00"}, region, time=at(day))
