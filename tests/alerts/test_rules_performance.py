"""Performance rules (绩效), PERF-01 … PERF-04: what each rule finds (rule id, subject, region, the
evidence's key facts) and the near misses that must stay quiet. Performance management applies to the
projects of the library from their first allocation on; the deadlines (PERF-01, PERF-03) ring a bell,
clear when the work is done in time and escalate when it is not — also for a project that never gets
a performance event at all: other counties' input (`clock`) and the end of the input (`flush()`) move
time on. Everything runs through the in-memory engine (tests/alerts/harness.py) on wire events."""

from __future__ import annotations

from decimal import Decimal

import pytest

from contracts.control import RuleConfigured
from services.alerts.config import RuleConfigs
from services.alerts.rules import performance as perf
from tests import factories as wire
from tests.alerts.builders import at, clock, facts_findings, key_facts, run
from tests.alerts.harness import Harness, arriving, engine
from tests.alerts.harness import raised as of

COUNTY, ELSEWHERE = "410324", "411624"
IND = "IND-410324-1"


def project(code: str = "XM1") -> dict:
    return wire.event("project.registered", {"project_code": code, "name": "张庄村道路硬化", "start_date": "2026-01-01",
                                             "end_date": "2026-12-31"}, COUNTY, time=at("2026-01-05"))


def allocated(on: str = "2026-03-02", code: str = "XM1", aid: str = "FP-1") -> dict:
    e = wire.allocated(aid, IND, "500000.00", kind="project", project_code=code, allocated_on=on,
                       project_name="2026年栾川县城关镇张庄村道路硬化项目")
    e["time"] = at(on)
    return e


def targets(on: str, value: str = "100", deadline: str = "2026-12-31", code: str = "XM1") -> dict:
    return wire.event("performance.targets_set", {
        "project_code": code, "indicator_id": IND, "set_on": on,
        "targets": [{"metric_id": "M1", "kind": "output_quantity", "name": "硬化道路长度", "unit": "公里",
                     "target_value": value, "deadline": deadline}]}, COUNTY, time=at(on))


def progress(period_end: str, value: str, reported_on: str, rid: str | None = None) -> dict:
    return wire.event("performance.progress_reported", {
        "report_id": rid or f"JK-{period_end}", "project_code": "XM1", "metric_id": "M1", "actual_value": value,
        "period_end": period_end, "reported_on": reported_on}, COUNTY, time=at(reported_on))


def evaluated(score: str, target: str, scale: str | None = None, on: str = "2027-01-20") -> dict:
    data = {"project_code": "XM1", "score": score, "target_score": target, "evaluated_on": on,
            **({"scale": scale} if scale else {})}
    return wire.event("performance.self_evaluated", data, COUNTY, time=at(on))


def story(h: Harness, rule: str) -> list[tuple[str, str, str, str]]:
    return [(t.kind.value, t.level, t.at[:10], t.subject) for t in h.transitions if t.rule_id == rule]


# ------------------------------------------------------------------ PERF-01 targets within 5 working days
# first allocated Monday 2 March 2026: due 9 March, the bell two working days before, 5 March

TARGETS = "project/XM1/targets"


def test_perf01_positive():
    """The project never gets a performance event: time moves on for it all the same."""
    h = engine([project(), allocated()], [clock("2026-03-20")])
    assert story(h, "PERF-01") == [("raised", "bell", "2026-03-05", TARGETS), ("escalated", "yellow", "2026-03-10",
                                                                                 TARGETS)]
    bell = of(h, "PERF-01")[0]
    assert (bell.region, bell.due) == (COUNTY, "2026-03-09")
    facts = key_facts(bell)
    assert facts["allocation_id"] == "FP-1" and facts["project_code"] == "XM1" and facts["date"] == "2026-03-02"
    assert facts["amount"] == "500000.00"


def test_perf01_bell_cleared_when_targets_are_set_in_time():
    h = engine([project(), allocated(), clock("2026-03-05")], [targets("2026-03-06")], [clock("2026-03-20")])
    assert story(h, "PERF-01") == [("raised", "bell", "2026-03-05", TARGETS), ("cleared", "green", "2026-03-06",
                                                                                 TARGETS)]
    cleared = [t for t in h.transitions if t.rule_id == "PERF-01"][-1]
    assert any(e.fact("set_on") == "2026-03-06" for e in cleared.evidence)


def test_perf01_targets_set_late_escalate():
    h = engine([project(), allocated(), targets("2026-03-12")])
    assert [s[:2] for s in story(h, "PERF-01")] == [("raised", "bell"), ("escalated", "yellow")]
    assert "done late on 2026-03-12" in [t for t in h.transitions if t.rule_id == "PERF-01"][-1].findings


def test_perf01_negative():
    """Targets set before the bell, in any order; a project that is not in the library is ALC-04's."""
    for order in ([project(), allocated(), targets("2026-03-03")], [targets("2026-03-03"), allocated(), project()]):
        assert story(arriving(*[[e] for e in order], [clock("2026-03-20")]), "PERF-01") == [], order[0]["type"]
    assert story(engine([allocated(code="XM9")], [clock("2026-03-20")]), "PERF-01") == []


def test_perf01_escalation_level_per_province():
    configs = RuleConfigs()
    assert configs.apply(RuleConfigured(rule_id="PERF-01", budget_year=2026, scope="410000", escalate_to="red"))
    h = engine([project(), allocated()], [clock("2026-03-20")], configs=configs)
    assert [s[:2] for s in story(h, "PERF-01")] == [("raised", "bell"), ("escalated", "red")]


# ------------------------------------------------------------------ PERF-02 progress far behind
# targets set 6 March, 100 km by 31 December (300 days); by 30 June 116 days (38.7 %) have passed:
# 38.7 km expected, at least half of it (0.5 × 38.7) must be done


def test_perf02_positive():
    report = progress("2026-06-30", "10", "2026-07-03")
    for order in ([targets("2026-03-06"), report], [report, targets("2026-03-06")]):  # a report may come first
        h = arriving([project(), allocated()], [order[0]], [order[1]])
        (t,) = of(h, "PERF-02")
        assert (t.subject, t.region) == ("project/XM1/metric/M1/period/2026-06-30", COUNTY), order[0]["type"]
        assert "10 at 2026-06-30, far behind the 38.67 expected by then (target 100 by 2026-12-31)" in t.findings
        assert key_facts(t)["actual_value"] == "10" and key_facts(t)["report_id"] == "JK-2026-06-30"


def test_perf02_negative():
    """Half of what is expected (19.3) done; and too early to judge (min_expected_share 0.2)."""
    h = engine([project(), allocated(), targets("2026-03-06"), progress("2026-06-30", "20", "2026-07-03"),
                progress("2026-03-31", "0", "2026-04-02")])
    assert of(h, "PERF-02") == []


# ------------------------------------------------------------------ PERF-03 monitoring report by 10 working days
# the period ending 30 June: due 14 July, bell 10 July


PERIOD = "project/XM1/period/2026-06-30"


def test_perf03_positive():
    h = engine([project(), allocated(), targets("2026-03-03")], [clock("2026-07-20")])
    assert story(h, "PERF-03") == [("raised", "bell", "2026-07-10", PERIOD), ("escalated", "yellow", "2026-07-15",
                                                                               PERIOD)]
    bell = of(h, "PERF-03")[0]
    assert (bell.region, bell.due) == (COUNTY, "2026-07-14") and "period ending 2026-06-30" in bell.findings
    assert key_facts(bell)["project_code"] == "XM1" and key_facts(bell)["allocation_id"] == "FP-1"


def test_perf03_bell_cleared_when_reported_in_time():
    h = engine([project(), allocated(), targets("2026-03-03"), clock("2026-07-10")],
               [progress("2026-06-30", "60", "2026-07-13")], [clock("2026-07-20")])
    assert story(h, "PERF-03") == [("raised", "bell", "2026-07-10", PERIOD), ("cleared", "green", "2026-07-13",
                                                                               PERIOD)]


def test_perf03_negative():
    """Reported before the bell; and a project allocated less than min_age_days (30) before the period end
    has no report due for it."""
    h = engine([project(), allocated(), targets("2026-03-03"), progress("2026-06-30", "60", "2026-07-03")],
               [clock("2026-07-20")])
    assert story(h, "PERF-03") == []
    young = engine([project(), allocated("2026-06-10"), targets("2026-06-11")], [clock("2026-07-20")])
    assert story(young, "PERF-03") == []


# ------------------------------------------------------------------ PERF-04 self-evaluation below target


def test_perf04_positive():
    (f,) = facts_findings(evaluated("85", "90"))
    assert (f.rule_id, f.subject, f.region, f.budget_year) == ("PERF-04", "project/XM1/evaluation", COUNTY, 2027)
    assert "self-evaluated 85 of 100, below the target 90" in f.findings
    facts = key_facts(f)
    assert (facts["score"], facts["target_score"], facts["scale"]) == ("85", "90", "100")


def test_perf04_on_a_five_point_scale():
    """4.5 of 5 against 4.8 is 6 points on 100: below target even with a 5 % tolerance (0.25 of 5)."""
    configs = RuleConfigs()
    assert configs.apply(RuleConfigured(rule_id="PERF-04", budget_year=2027, params={"tolerance_share": "0.05"}))
    h = engine([evaluated("4.5", "4.8", scale="5")], configs=configs)
    (t,) = of(h, "PERF-04")
    assert (t.subject, t.region, t.level) == ("project/XM1/evaluation", COUNTY, "yellow")
    assert key_facts(t)["scale"] == "5"
    within = engine([evaluated("4.6", "4.8", scale="5")], configs=configs)  # 0.2 short: within 0.25
    assert of(within, "PERF-04") == []


def test_perf04_negative():
    assert facts_findings(evaluated("92", "90")) == []
    assert facts_findings(evaluated("90", "90")) == []
    assert facts_findings(evaluated("8.8", "9.0", scale="10")) != []  # 0.2 short, no tolerance by default
    assert run(perf.perf04_below_target, "XM1", COUNTY, Decimal("90"), Decimal("90"), Decimal("100"), "2027-01-20",
               at("2027-01-20"), None) == []


@pytest.mark.parametrize(("scale", "score", "found"), [("100", "88", False), ("10", "8.8", True)])
def test_perf04_tolerance_is_a_share_of_the_scale(scale: str, score: str, found: bool):
    """A tolerance of 10 % allows 10 points on 100 but 1 point on 10: 90 − 88 is within it, 9.9 − 8.8 is not."""
    configs = RuleConfigs()
    assert configs.apply(RuleConfigured(rule_id="PERF-04", budget_year=2027, params={"tolerance_share": "0.1"}))
    target = "90" if scale == "100" else "9.9"
    h = engine([evaluated(score, target, scale=scale)], configs=configs)
    assert [t.subject for t in of(h, "PERF-04")] == (["project/XM1/evaluation"] if found else [])
