"""Indicator receipt rules (指标接收), IND-01 … IND-07: what each rule finds (rule id, subject, region,
the evidence's key facts) and the near misses that must stay quiet. Rules that need state, time or
another source (deadlines, the interlock, the fund catalogue) run through the in-memory engine
(tests/alerts/harness.py) on wire events; `flush()` is the end of the input."""

from __future__ import annotations

from decimal import Decimal

import pytest

from contracts.control import RuleConfigured
from services.alerts.config import RuleConfigs
from services.alerts.findings import evidence
from services.alerts.rules import indicators as ind
from tests import factories as wire
from tests.alerts.builders import FUNDS, at, clock, doc, facts_findings, issue, key_facts, run
from tests.alerts.harness import Harness, arriving, engine, story
from tests.alerts.harness import raised as of

COUNTY, CITY, ELSEWHERE = "410324", "410300", "411624"


def issued(tid: str = "XD-9", on: str = "2026-02-27", amount: str = "100000.00", to: str = COUNTY,
           region: str = CITY, **extra) -> dict:
    data = {"indicator_id": tid, "from_indicator_id": f"IND-{region}-1", "to_region": to, "fund_code": "C22",
            "amount": amount, "budget_year": 2026, "doc_no": "洛财农〔2026〕12号", "doc_date": on,
            "functional_class": "2130504", "issued_on": on, "doc_scan_ref": "oss://scan/xd.pdf", **extra}
    return wire.event("indicator.issued", data, region, time=at(on))


def receipt(iid: str = "IND-410324-9", upper: str = "XD-9", on: str = "2026-03-02", amount: str = "100000.00",
            region: str = COUNTY, **extra) -> dict:
    data = {"indicator_id": iid, "fund_code": "C22", "amount": amount, "budget_year": 2026,
            "doc_no": "洛财农〔2026〕12号", "doc_date": "2026-02-27", "functional_class": "2130504",
            "registered_on": on, "source": "upper_transfer", "upper_indicator_id": upper, "upper_region": CITY,
            "doc_scan_ref": "oss://scan/r.pdf", **extra}
    return wire.event("indicator.registered", data, region, time=at(on))


def fund(code: str, level: str, upper: str | None = None, region: str = COUNTY, day: str = "2026-01-05") -> dict:
    return wire.event("fund.registered", {"fund_code": code, "name": f"{code} 专项资金", "level": level,
                                          "upper_fund_code": upper, "functional_classes": ["21305"]},
                      region, time=at(day))


def linked(code: str, upper: str, region: str = COUNTY, day: str = "2026-02-01") -> dict:
    return wire.event("fund.linked", {"fund_code": code, "upper_fund_code": upper}, region, time=at(day))


def interlock(state: str, issued_: str, received: str, receipts: list[str], day: str, tid: str = "XD-9") -> dict:
    in_transit = str(max(Decimal(issued_) - Decimal(received), Decimal(0)))
    return wire.event("ledger.interlock_checked", {
        "transfer_indicator_id": tid, "issuer_region": CITY, "receiver_region": COUNTY, "fund_code": "C22",
        "issued": issued_, "received": received, "in_transit": in_transit, "state": state,
        "receipt_indicator_ids": receipts, "issued_on": "2026-02-27"}, COUNTY, time=at(day))


# ------------------------------------------------------------------ IND-01 registration deadline (bell)
# issued Friday 27 February 2026 (28 February is an adjusted working Saturday): five working days
# → due 5 March; the bell rings two working days before, on 3 March.


def test_ind01_positive():
    h = engine([issued()], [clock("2026-03-10")])
    assert story(h, "IND-01") == [("raised", "bell", "2026-03-03"), ("escalated", "yellow", "2026-03-06")]
    bell = of(h, "IND-01")[0]
    assert (bell.subject, bell.region, bell.due) == ("transfer/XD-9", COUNTY, "2026-03-05")  # the receiver's alert
    facts = key_facts(bell)
    assert facts["indicator_id"] == "XD-9" and facts["amount"] == "100000.00" and facts["to_region"] == COUNTY
    assert facts["date"] == "2026-02-27" and facts["doc_no"] == "洛财农〔2026〕12号"


def test_ind01_escalates_for_a_receiver_that_never_sends_an_event():
    """The county never sends anything at all: another county's input moves time on for it."""
    h = engine([issued()])
    assert story(h, "IND-01") == []  # the input ends on the issue day: nothing is due yet
    h.feed([clock("2026-03-04")])
    h.flush()
    assert story(h, "IND-01") == [("raised", "bell", "2026-03-03")]
    h.feed([clock("2026-03-09", region="411625")])
    h.flush()
    assert story(h, "IND-01") == [("raised", "bell", "2026-03-03"), ("escalated", "yellow", "2026-03-06")]


def test_ind01_bell_cleared_when_registered_in_time():
    h = engine([issued(), clock("2026-03-03")], [receipt(on="2026-03-04")], [clock("2026-03-20")])
    assert story(h, "IND-01") == [("raised", "bell", "2026-03-03"), ("cleared", "green", "2026-03-04")]
    cleared = [t for t in h.transitions if t.rule_id == "IND-01"][-1]
    assert key_facts(cleared)["indicator_id"] == "XD-9"
    assert {e.event_id for e in cleared.evidence} >= {e.event_id for e in of(h, "IND-01")[0].evidence}


def test_ind01_registered_late_escalates_with_the_late_registration_as_evidence():
    h = engine([issued(), receipt(on="2026-03-09")])  # both arrive together: the books say late
    assert story(h, "IND-01") == [("raised", "bell", "2026-03-03"), ("escalated", "yellow", "2026-03-06")]
    escalated = [t for t in h.transitions if t.rule_id == "IND-01"][-1]
    assert "done late on 2026-03-09" in escalated.findings
    assert any(e.fact("indicator_id") == "IND-410324-9" for e in escalated.evidence)


def test_ind01_negative():
    """Registered before the bell day: no reminder at all, whichever of issue and receipt comes first."""
    for order in ([issued(), receipt(on="2026-03-02")], [receipt(on="2026-03-02"), issued()]):
        h = arriving(order[:1], order[1:], [clock("2026-03-20")])
        assert story(h, "IND-01") == [], order[0]["type"]


def test_ind01_escalation_level_is_configured():
    configs = RuleConfigs()
    assert configs.apply(RuleConfigured(rule_id="IND-01", budget_year=2026, escalate_to="red", level="red"))
    h = Harness(configs=configs)
    h.feed([issued(), clock("2026-03-10")])
    h.flush()
    assert story(h, "IND-01") == [("raised", "bell", "2026-03-03"), ("escalated", "red", "2026-03-06")]


def test_ind01_horizontal_transfer_has_the_same_deadline():
    """A horizontal transfer (地区间横向转移支付, e.g. East–West cooperation money) allocated by the giver is
    registered by the receiver like a vertical one."""
    giver = "330106"
    own = wire.registered("IND-330106-1", "2000000.00", region=giver, doc_scan_ref="oss://g.pdf")
    own["time"] = at("2026-02-02")
    horizontal = wire.event("indicator.allocated", {
        "allocation_id": "HX-1", "indicator_id": "IND-330106-1", "kind": "horizontal", "amount": "1000000.00",
        "to_region": COUNTY, "allocated_on": "2026-02-27", "doc_no": "杭财农〔2026〕7号", "doc_date": "2026-02-26",
        "doc_scan_ref": "oss://h.pdf"}, giver, time=at("2026-02-27"))
    h = engine([own, horizontal], [clock("2026-03-10")])
    assert story(h, "IND-01") == [("raised", "bell", "2026-03-03"), ("escalated", "yellow", "2026-03-06")]
    (bell,) = of(h, "IND-01")
    assert (bell.subject, bell.region) == ("transfer/HX-1", COUNTY)
    assert key_facts(bell)["amount"] == "1000000.00" and key_facts(bell)["source"] == "horizontal"
    in_time = receipt("IND-410324-8", upper="HX-1", on="2026-03-02", amount="1000000.00", source="horizontal_transfer",
                      upper_region=giver)
    h = engine([own, horizontal, in_time], [clock("2026-03-10")])
    assert story(h, "IND-01") == []


# ------------------------------------------------------------------ IND-02 interlock (咬合)


def test_ind02_positive():
    """Only 90,000 of 100,000 received, and the registration window closed: the interlock is broken."""
    h = engine([issued(), receipt(amount="90000.00"),
                interlock("mismatch", "100000.00", "90000.00", ["IND-410324-9"], "2026-03-02")],
               [clock("2026-03-10")])
    (found,) = of(h, "IND-02")
    assert (found.subject, found.region, found.level) == ("transfer/XD-9", COUNTY, "yellow")
    facts = key_facts(found)
    assert facts == {**facts, "transfer_indicator_id": "XD-9", "issued": "100000.00", "received": "90000.00",
                     "receipts": "IND-410324-9"}


def test_ind02_more_received_than_issued_breaks_at_once():
    h = engine([issued(), receipt(amount="120000.00"),
                interlock("mismatch", "100000.00", "120000.00", ["IND-410324-9"], "2026-03-02")])
    (found,) = of(h, "IND-02")
    assert found.subject == "transfer/XD-9" and "received 120000.00" in found.findings


def test_ind02_negative():
    """Received in two parts that add up (60,000 + 40,000): not a break, though the ledger saw a
    mismatch after the first part; and a partial receipt is not judged before the window closes."""
    parts = [issued(), receipt("IND-410324-9", amount="60000.00", on="2026-03-02"),
             interlock("mismatch", "100000.00", "60000.00", ["IND-410324-9"], "2026-03-02"),
             receipt("IND-410324-10", amount="40000.00", on="2026-03-04"),
             interlock("matched", "100000.00", "100000.00", ["IND-410324-9", "IND-410324-10"], "2026-03-04")]
    h = engine(parts, [clock("2026-03-20")])
    assert of(h, "IND-02") == []
    half_way = engine(parts[:3], [clock("2026-03-04")])  # the second part is still allowed to come
    assert of(half_way, "IND-02") == []
    half_way.feed([clock("2026-03-10")])
    half_way.flush()
    assert [t.subject for t in of(half_way, "IND-02")] == ["transfer/XD-9"]  # … and it never came


def test_ind02_two_parts_are_not_a_break_with_ind01_switched_off():
    configs = RuleConfigs()
    assert configs.apply(RuleConfigured(rule_id="IND-01", budget_year=2026, enabled=False))
    h = Harness(configs=configs)
    h.feed([issued(), receipt("IND-410324-9", amount="60000.00", on="2026-03-02"),
            interlock("mismatch", "100000.00", "60000.00", ["IND-410324-9"], "2026-03-02")])
    h.feed([receipt("IND-410324-10", amount="40000.00", on="2026-03-04"),
            interlock("matched", "100000.00", "100000.00", ["IND-410324-9", "IND-410324-10"], "2026-03-04")])
    h.flush()
    assert of(h, "IND-02") == []


def test_ind02_states_other_than_mismatch_are_never_a_break():
    ev = evidence("e-il", "ledger.interlock_checked", at("2026-03-02"), COUNTY)
    for state in ("matched", "in_transit"):
        assert run(ind.ind02_interlock_break, "XD-9", COUNTY, at("2026-03-02"), state, "100000.00", "0.00", "C22",
                   ev, True) == []


# ------------------------------------------------------------------ IND-03 document scan


def test_ind03_positive():
    (found,) = [x for x in facts_findings(wire.registered("IND-410324-3", "250000.00")) if x.rule_id == "IND-03"]
    assert (found.subject, found.region, found.budget_year) == ("indicator/IND-410324-3", COUNTY, 2026)
    facts = key_facts(found)
    assert facts["indicator_id"] == "IND-410324-3" and facts["doc_no"] == "财农〔2026〕1号"
    assert facts["amount"] == "250000.00" and facts["fund_code"] == "C22"
    (down,) = [x for x in facts_findings(issued(doc_scan_ref=None)) if x.rule_id == "IND-03"]
    assert (down.subject, down.region) == ("indicator/XD-9", CITY) and "issued to a lower level" in down.findings


def test_ind03_negative():
    assert [x.rule_id for x in facts_findings(wire.registered("IND-410324-3", "1.00", doc_scan_ref="oss://a.pdf"))
            ] == []
    assert facts_findings(issued()) == []


# ------------------------------------------------------------------ IND-04 document number


@pytest.mark.parametrize(("doc_no", "why"), [
    ("2-14-80", "bare digits"), ("177", "bare digits"),
    ("关于下达2026年扶贫资金的请示", "a title"), ("县政府常务会议纪要", "a title"),
    ("豫财农[2026]5号", "non-standard brackets"), ("豫财农（2026）5号", "non-standard brackets"),
])
def test_ind04_positive(doc_no: str, why: str):
    (found,) = facts_findings(wire.registered("IND-410324-4", "1.00", doc_no=doc_no, doc_scan_ref="oss://a.pdf"))
    assert (found.rule_id, found.subject, found.region) == ("IND-04", "indicator/IND-410324-4", COUNTY)
    assert key_facts(found)["doc_no"] == doc_no and why in found.findings


def test_ind04_negative():
    for doc_no in ("豫财农〔2026〕5号", "财农〔2026〕123号", "洛财预〔2026〕1号"):
        assert facts_findings(wire.registered("IND-410324-4", "1.00", doc_no=doc_no, doc_scan_ref="oss://a")) == []


def test_ind04_horizontal_allocation_document_is_checked_like_an_issue():
    giver = "330106"
    own = wire.registered("IND-330106-1", "2000000.00", region=giver, doc_scan_ref="oss://g.pdf")
    own["time"] = at("2026-02-02")
    horizontal = wire.event("indicator.allocated", {
        "allocation_id": "HX-2", "indicator_id": "IND-330106-1", "kind": "horizontal", "amount": "500000.00",
        "to_region": COUNTY, "allocated_on": "2026-02-27", "doc_no": "协作资金拨付函"}, giver, time=at("2026-02-27"))
    h = engine([own, horizontal])
    assert sorted((t.rule_id, t.subject, t.region) for t in h.raised() if t.rule_id in ("IND-03", "IND-04")) == [
        ("IND-03", "indicator/HX-2", giver), ("IND-04", "indicator/HX-2", giver)]
    assert key_facts(of(h, "IND-04")[0])["doc_no"] == "协作资金拨付函"


# ------------------------------------------------------------------ IND-05 designated upper fund (指定关联)


def test_ind05_positive():
    """The city's transfer of central fund C22 received under a county fund that designates P09."""
    h = engine([fund("C22", "central", region="000000"), fund("P09", "provincial", "C22", region="410000"),
                fund("410324-F09", "county", "P09"), issued(),
                receipt(fund_code="410324-F09")])
    (found,) = of(h, "IND-05")
    assert (found.subject, found.region) == ("indicator/IND-410324-9", COUNTY)
    assert "designates P09" in found.findings
    assert [e.fact("indicator_id") for e in found.evidence] == ["IND-410324-9", "XD-9"]
    assert key_facts(found)["fund_code"] == "410324-F09"


def test_ind05_self_entered_upper_fund():
    """A county enters the central fund as its own arrangement instead of receiving the transfer (自行再录入)."""
    reg = wire.registered("IND-410324-5", "300000.00", doc_scan_ref="oss://a.pdf")
    h = engine([fund("C22", "central", region="000000"), reg])
    (found,) = of(h, "IND-05")
    assert (found.subject, found.region) == ("indicator/IND-410324-5", COUNTY)
    assert key_facts(found)["source"] == "own_arrangement" and key_facts(found)["fund_code"] == "C22"
    late_catalogue = arriving([reg], [fund("C22", "central", region="000000")])  # the catalogue arrives after it
    assert [t.subject for t in of(late_catalogue, "IND-05")] == ["indicator/IND-410324-5"]


def test_ind05_negative():
    catalogue = [fund("C22", "central", region="000000"), fund("410324-F01", "county", "C22")]
    h = engine([*catalogue, issued(), receipt(fund_code="410324-F01"),  # the county fund designates C22
                receipt("IND-410324-11", upper="XD-9", fund_code="C22"),  # received under the same fund
                wire.registered("IND-410324-12", "1.00", fund_code="410324-F01", doc_scan_ref="oss://a")])
    assert of(h, "IND-05") == []
    province = wire.registered("IND-410000-1", "1.00", region="410000", doc_scan_ref="oss://a")
    assert run(ind.ind05_self_entered, doc(region="410000", source="own_arrangement"), FUNDS, "province") == []
    assert of(engine([fund("C22", "central", region="000000"), province]), "IND-05") == []


# ------------------------------------------------------------------ IND-06 carry-over (上年结转)


def test_ind06_positive():
    """A 2025 transfer registered as a 2026 indicator (not as a carry-over)."""
    old_issue = issued(budget_year=2025, on="2025-11-20", doc_no="洛财农〔2025〕88号")
    old_issue["time"] = at("2026-01-05")
    h = engine([old_issue, receipt(on="2026-01-06", doc_no="洛财农〔2025〕88号", doc_date="2025-11-20")])
    (found,) = of(h, "IND-06")
    assert (found.subject, found.region) == ("indicator/IND-410324-9", COUNTY)
    assert [(e.fact("indicator_id"), e.fact("budget_year")) for e in found.evidence] == [
        ("IND-410324-9", "2026"), ("XD-9", "2025")]


def test_ind06_old_document_registered_as_own_arrangement():
    (found,) = [x for x in facts_findings(wire.registered(
        "IND-410324-6", "80000.00", doc_no="栾财农〔2025〕31号", doc_date="2025-06-30", doc_scan_ref="oss://a"))
        if x.rule_id == "IND-06"]
    assert (found.subject, found.region) == ("indicator/IND-410324-6", COUNTY) and "of 2025" in found.findings
    assert key_facts(found)["doc_no"] == "栾财农〔2025〕31号" and key_facts(found)["budget_year"] == "2026"


def test_ind06_negative():
    """The same money registered as what it is — a carry-over naming its origin year — is not IND-06."""
    carry = wire.registered("IND-410324-6", "80000.00", doc_no="栾财农〔2025〕31号", doc_date="2025-06-30",
                            doc_scan_ref="oss://a", source="carry_over", origin_year=2025)
    assert facts_findings(carry) == []
    old_issue = issued(budget_year=2025, on="2025-11-20", doc_no="洛财农〔2025〕88号")
    old_issue["time"] = at("2026-01-05")
    h = engine([old_issue, receipt(on="2026-01-06", source="carry_over", origin_year=2025,
                                   doc_no="洛财农〔2025〕88号", doc_date="2025-11-20")])
    assert of(h, "IND-06") == []
    # an advance issue (提前下达) of the next year's money is not a carry-over either
    advance = issued(on="2025-11-20", advance_issue=True)
    advance["time"] = at("2025-11-20")
    h = engine([advance, receipt(on="2025-11-24", advance_issue=True, doc_date="2025-11-20")])
    assert of(h, "IND-06") == []
    assert run(ind.ind06_carry_over, issue(budget_year=2026), doc(budget_year=2026)) == []


# ------------------------------------------------------------------ IND-07 one upper fund per local fund


def test_ind07_positive():
    h = engine([fund("410324-F01", "county", "C22"), linked("410324-F01", "C23")])
    (found,) = of(h, "IND-07")
    assert (found.subject, found.region) == ("fund/410324-F01", COUNTY) and "C22, C23" in found.findings
    assert key_facts(found)["fund_code"] == "410324-F01"  # the evidence: whichever of the two came last
    first_link = arriving([linked("410324-F01", "C23")], [fund("410324-F01", "county", "C22")])  # any order
    assert [(t.subject, t.region) for t in of(first_link, "IND-07")] == [("fund/410324-F01", COUNTY)]


def test_ind07_negative():
    """Linking to the designated fund again, and many local funds designating one upper fund, are fine."""
    h = engine([fund("410324-F01", "county", "C22"), linked("410324-F01", "C22"),
                fund("410325-F01", "county", "C22", region="410325"), fund("410324-F02", "county", "C22")])
    assert of(h, "IND-07") == []
