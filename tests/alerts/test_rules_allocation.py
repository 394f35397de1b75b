"""Allocation rules (资金分配), ALC-01 … ALC-06: what each rule finds (rule id, subject, region, the
evidence's key facts) and the near misses that must stay quiet. The indicator keeps its own books
from the ledger's postings in the order the events happened, so the ledger's derived stream is
written here as the ledger publishes it (`ledger.posting_applied`, moves as services/ledger/postings.py
books them) and everything runs through the in-memory engine (tests/alerts/harness.py)."""

from __future__ import annotations

import pytest

from services.alerts.rules import allocation as alc
from tests import factories as wire
from tests.alerts.builders import FUNDS, allocation, at, clock, facts_findings, key_facts, run
from tests.alerts.harness import arriving, engine, story
from tests.alerts.harness import raised as of

COUNTY, ELSEWHERE = "410324", "411624"
IND = "IND-410324-1"


def received(amount: str = "1000000.00", on: str = "2026-02-02", iid: str = IND, **extra) -> dict:
    """The county registers a transfer received from the city (指标接收)."""
    data = {"source": "upper_transfer", "upper_indicator_id": "XD-1", "upper_region": "410300",
            "doc_scan_ref": "oss://scan.pdf", "registered_on": on, "doc_no": "洛财农〔2026〕12号",
            "doc_date": on, **extra}
    e = wire.registered(iid, amount, **data)
    e["time"] = at(on)
    return e


def posting(seq: int, kind: str, on: str, moves: list[tuple], *, subject: str | None = None, red_ink: bool = False,
            iid: str = IND, time: str | None = None, source: str | None = None) -> dict:
    """`ledger.posting_applied` as the ledger publishes it: moves (debit, credit, yuan[, project]). Its time is
    the source event's: the indicator's books settle once the input has reached it (a `clock` record here,
    as the source event itself would)."""
    return wire.event("ledger.posting_applied", {
        "posting_id": f"{iid}:{seq}", "journal_seq": seq, "source_event_id": source or f"src-{seq}",
        "source_event_type": kind, "source_subject": subject, "indicator_id": iid, "booked_on": on,
        "red_ink": red_ink, "balances": {},
        "moves": [{"debit": m[0], "credit": m[1], "amount": m[2], "project_code": m[3] if len(m) > 3 else None}
                  for m in moves]}, COUNTY, id=f"ledger:{iid}:{seq}", time=time or at(on))


def booked(amount: str = "1000000.00", on: str = "2026-02-02", seq: int = 1) -> dict:
    return posting(seq, "indicator.registered", on, [("1001", "4001", amount), ("5001", "1001", amount)])


def allotted(seq: int, amount: str, on: str, subject: str, project: str | None = None, account: str = "500201"
             ) -> dict:
    kind = "indicator.issued" if account == "500202" else "indicator.allocated"
    return posting(seq, kind, on, [(account, "5001", amount, project)], subject=subject)


def allocated(allocation_id: str = "FP-1", kind: str = "project", amount: str = "50000.00", on: str = "2026-02-10",
              **extra) -> dict:
    data = {"kind": kind, "allocated_on": on, **extra}
    if kind == "project":
        data = {"project_code": "XM1", "project_name": "2026年栾川县城关镇张庄村道路硬化项目", **data}
    e = wire.allocated(allocation_id, IND, amount, **data)
    e["time"] = at(on)
    return e


def fund(code: str, classes: list[str], level: str = "central") -> dict:
    return wire.event("fund.registered", {"fund_code": code, "name": f"{code} 资金", "level": level,
                                          "functional_classes": classes}, "000000", time=at("2026-01-05"))


# ------------------------------------------------------------------ ALC-01 allocate within 30 days (预算法第五十二条)
# received 2 February 2026: due 4 March (30 calendar days), the bell five working days before, 26 February


def test_alc01_positive():
    """Nothing more arrives for the indicator: the end of the input (and other counties' records) moves time on."""
    h = engine([received(), booked()], [clock("2026-03-10")])
    assert story(h, "ALC-01") == [("raised", "bell", "2026-02-26"), ("escalated", "yellow", "2026-03-05")]
    bell = of(h, "ALC-01")[0]
    assert (bell.subject, bell.region, bell.due) == (f"indicator/{IND}", COUNTY, "2026-03-04")
    facts = key_facts(bell)
    assert facts["indicator_id"] == IND and facts["amount"] == "1000000.00" and facts["source"] == "upper_transfer"
    assert facts["date"] == "2026-02-02" and facts["upper_indicator_id"] == "XD-1"


def test_alc01_bell_cleared_when_allocated_in_time():
    h = engine([received(), booked(), clock("2026-02-27")],
               [allotted(2, "400000.00", "2026-03-02", "FP-1")], [clock("2026-04-01")])
    assert story(h, "ALC-01") == [("raised", "bell", "2026-02-26"), ("cleared", "green", "2026-03-02")]
    cleared = [t for t in h.transitions if t.rule_id == "ALC-01"][-1]
    assert any(e.fact("booked_on") == "2026-03-02" for e in cleared.evidence)  # the allocation that did it


def test_alc01_passing_the_money_down_counts_as_allocating():
    h = engine([received(), booked(), allotted(2, "1000000.00", "2026-02-20", "XD-2", account="500202")],
               [clock("2026-04-01")])
    assert story(h, "ALC-01") == []


def test_alc01_allocated_late_escalates():
    h = engine([received(), booked(), allotted(2, "400000.00", "2026-03-09", "FP-1"), clock("2026-03-09")])
    assert story(h, "ALC-01") == [("raised", "bell", "2026-02-26"), ("escalated", "yellow", "2026-03-05")]
    escalated = [t for t in h.transitions if t.rule_id == "ALC-01"][-1]
    assert "done late on 2026-03-09" in escalated.findings


def test_alc01_negative():
    """Allocated before the bell day, whichever of registration and posting arrives first; and the
    county's own arrangement (本级安排) is not a received transfer."""
    for order in ([received(), booked(), allotted(2, "1.00", "2026-02-10", "FP-1")],
                  [allotted(2, "1.00", "2026-02-10", "FP-1"), booked(), received()]):
        h = arriving(order[:1], order[1:], [clock("2026-04-01")])
        assert story(h, "ALC-01") == [], order[0]["type"]
    own = received(source="own_arrangement", upper_indicator_id=None, upper_region=None)
    assert story(engine([own, booked()], [clock("2026-04-01")]), "ALC-01") == []


# ------------------------------------------------------------------ ALC-02 allocation beyond the pending balance


def test_alc02_positive():
    h = engine([received("100000.00"), booked("100000.00"), allotted(2, "60000.00", "2026-02-10", "FP-1"),
                allotted(3, "60000.00", "2026-02-11", "FP-2"), clock("2026-02-11")])
    (found,) = of(h, "ALC-02")
    assert (found.subject, found.region, found.level) == ("allocation/FP-2", COUNTY, "red")
    assert "60000.00 yuan exceeds the pending balance 40000.00" in found.findings
    facts = key_facts(found)
    assert facts["indicator_id"] == IND and facts["balance_5001"] == "40000.00"  # the books it met


def test_alc02_negative():
    """The pending balance judged in the order the events happened, whatever order the ledger got them in."""
    postings = [booked("100000.00"), allotted(2, "60000.00", "2026-02-10", "FP-1"),
                allotted(3, "40000.00", "2026-02-11", "FP-2")]
    for order in (postings, postings[::-1]):
        h = arriving([received("100000.00")], *[[p] for p in order], [clock("2026-02-11")])
        assert of(h, "ALC-02") == [], [p["data"]["journal_seq"] for p in order]


def test_alc02_correction_below_what_was_allocated():
    """A red-ink correction lowers the registered amount under what was already allocated."""
    h = engine([received(), booked(), allotted(2, "500000.00", "2026-02-10", "FP-1"),
                posting(3, "indicator.corrected", "2026-03-05",
                        [("4001", "1001", "1000000.00"), ("1001", "5001", "1000000.00")], red_ink=True, source="src-c"),
                posting(4, "indicator.corrected", "2026-03-05",
                        [("1001", "4001", "400000.00"), ("5001", "1001", "400000.00")], source="src-c"),
                clock("2026-03-05")])
    (found,) = of(h, "ALC-02")
    assert (found.subject, found.region) == (f"indicator/{IND}/overallocated", COUNTY)


def test_alc02_correction_that_stays_above_what_was_allocated_is_not_an_overallocation():
    h = engine([received(), booked(), allotted(2, "500000.00", "2026-02-10", "FP-1"),
                posting(3, "indicator.corrected", "2026-03-05",
                        [("4001", "1001", "1000000.00"), ("1001", "5001", "1000000.00")], red_ink=True, source="src-c"),
                posting(4, "indicator.corrected", "2026-03-05",
                        [("1001", "4001", "900000.00"), ("5001", "1001", "900000.00")], source="src-c"),
                clock("2026-03-05")])
    assert of(h, "ALC-02") == []


# ------------------------------------------------------------------ ALC-03 project name


@pytest.mark.parametrize(("name", "why"), [
    (None, "no project name"), ("  ", "no project name"), ("53", "a number"), ("877", "a number"),
    ("水利专项", "a generic name"), ("扶贫专项", "a generic name"), ("道路", "a generic name"),
    ("2026年中央财政衔接推进乡村振兴补助资金", "the fund or document name"),
])
def test_alc03_positive(name: str | None, why: str):
    e = allocated("FP-3", project_name=name)
    if name is None:
        del e["data"]["project_name"]
    (found,) = [x for x in facts_findings(e) if x.rule_id == "ALC-03"]
    assert (found.subject, found.region, found.indicator_id) == ("allocation/FP-3", COUNTY, IND)
    assert why in found.findings
    facts = key_facts(found)
    assert facts["allocation_id"] == "FP-3" and facts["project_code"] == "XM1" and facts["amount"] == "50000.00"


def test_alc03_negative():
    for name in ("2026年栾川县城关镇张庄村道路硬化项目", "潭头镇食用菌产业扶贫资金项目", "庙子镇安全饮水巩固提升工程"):
        assert [x for x in facts_findings(allocated(project_name=name)) if x.rule_id == "ALC-03"] == [], name
    assert facts_findings(allocated(kind="own_spending")) == []  # not a project allocation: no name needed


# ------------------------------------------------------------------ ALC-04 project library


def test_alc04_positive():
    h = engine([allocated("FP-4", project_code="XM9", amount="80000.00")])
    (found,) = of(h, "ALC-04")
    assert (found.subject, found.region) == ("allocation/FP-4", COUNTY)
    facts = key_facts(found)
    assert facts["project_code"] == "XM9" and facts["amount"] == "80000.00" and facts["date"] == "2026-02-10"


def test_alc04_negative():
    """The project is in the library — also when the library's record arrives after the allocation."""
    project = wire.event("project.registered", {"project_code": "XM1", "name": "张庄村道路硬化",
                                                "start_date": "2026-01-01", "end_date": "2026-12-31"},
                         COUNTY, time=at("2026-02-11"))
    for order in ([project, allocated()], [allocated(), project]):
        h = arriving(order[:1], order[1:])
        assert of(h, "ALC-04") == [], order[0]["type"]
    assert run(alc.alc04_not_in_library, allocation(kind="own_spending", project=None), False) == []


# ------------------------------------------------------------------ ALC-05 functional class / basic expenditure


def test_alc05_positive():
    """Central fund C23 may be spent on 21303 only; the allocation books 2130504. And salaries (301) are
    basic expenditure, which poverty funds do not pay."""
    reg = received(fund_code="C23", functional_class="21303")
    h = engine([fund("C23", ["21303"]), reg, allocated("FP-5", functional_class="2130504")])
    (found,) = of(h, "ALC-05")
    assert (found.subject, found.region) == ("allocation/FP-5", COUNTY)
    assert "functional class 2130504 is outside the scope of fund C23" in found.findings
    assert key_facts(found)["functional_class"] == "2130504" and key_facts(found)["allocation_id"] == "FP-5"
    h = engine([fund("C23", ["21303"]), reg, allocated("FP-6", functional_class="21303", economic_class="30101")])
    (basic,) = of(h, "ALC-05")
    assert basic.subject == "allocation/FP-6" and "economic class 30101 is basic expenditure" in basic.findings
    assert key_facts(basic)["economic_class"] == "30101"


def test_alc05_negative():
    """Inside the scope (a sub-class of 21305, or the broader class), whichever of catalogue, registration
    and allocation arrives first."""
    events = [fund("C22", ["21305"]), received(), allocated("FP-5", functional_class="2130504", economic_class="31005"),
              allocated("FP-6", kind="own_spending", functional_class="21305")]
    for order in (events, events[::-1]):
        h = arriving(*[[e] for e in order])
        assert of(h, "ALC-05") == []
    assert run(alc.alc05_outside_scope, allocation(functional_class="2130504"), FUNDS["C22"], "2130504") == []


# ------------------------------------------------------------------ ALC-06 advance issue compiled by 31 March
# advance-issued (提前下达) in November 2025 for the 2026 budget: due 31 March 2026, bell ten working days before


def advance(**extra) -> dict:
    return received(on="2025-11-20", advance_issue=True, budget_year=2026, **extra)


def compiled(on: str) -> dict:
    return wire.event("indicator.compiled", {"indicator_id": IND, "amount": "1000000.00", "budget_year": 2026,
                                             "compiled_on": on}, COUNTY, time=at(on))


def test_alc06_positive():
    h = engine([advance()], [clock("2026-04-02")])
    assert story(h, "ALC-06") == [("raised", "bell", "2026-03-17"), ("escalated", "yellow", "2026-04-01")]
    bell = of(h, "ALC-06")[0]
    assert (bell.subject, bell.region, bell.due) == (f"indicator/{IND}", COUNTY, "2026-03-31")
    facts = key_facts(bell)
    assert facts["advance_issue"] == "True" and facts["indicator_id"] == IND and facts["budget_year"] == "2026"


def test_alc06_bell_cleared_when_compiled_in_time():
    h = engine([advance(), clock("2026-03-18")], [compiled("2026-03-20")], [clock("2026-04-10")])
    assert story(h, "ALC-06") == [("raised", "bell", "2026-03-17"), ("cleared", "green", "2026-03-20")]
    cleared = [t for t in h.transitions if t.rule_id == "ALC-06"][-1]
    assert key_facts(cleared)["indicator_id"] == IND
    assert any(e.fact("compiled_on") == "2026-03-20" for e in cleared.evidence)


def test_alc06_negative():
    """Compiled in January (before the bell), in any order; and an ordinary issue has nothing to compile."""
    for order in ([advance(), compiled("2026-01-10")], [compiled("2026-01-10"), advance()]):
        h = arriving(order[:1], order[1:], [clock("2026-04-10")])
        assert story(h, "ALC-06") == [], order[0]["type"]
    assert story(engine([received()], [clock("2026-04-10")]), "ALC-06") == []
