"""Recipient rules (收款企业和受益贫困户), BEN-01 … BEN-09: what each rule finds (rule id, subject, region,
the evidence's key facts) and the near misses that must stay quiet. A beneficiary is judged by the
registry entry and the records in force on the payment's date, whichever arrived first; everything
about one person (or enterprise) meets in one place, whichever county paid. The checks run through the
in-memory engine (tests/alerts/harness.py) on wire events, where `flush()` is the end of the input."""

from __future__ import annotations

import pytest

from contracts.types import keyed_hash
from services.alerts.rules import recipients as ben
from tests import factories as wire
from tests.alerts.builders import at, facts_findings, key_facts, line, pay, record, run
from tests.alerts.harness import PII_KEY, Harness, arriving, engine
from tests.alerts.harness import raised as of

COUNTY, NEIGHBOUR = "410324", "410325"
IND = "IND-410324-1"
PERSON = wire.citizen_id(21)
REP = wire.citizen_id(22)
ENTERPRISE = "93410324MA00000001"  # the enterprise payee of tests/factories.payment


def hashed(value: str) -> str:
    return keyed_hash(PII_KEY, value)


def subsidy(pid: str, person: str = PERSON, day: str = "2026-03-02", region: str = COUNTY, amount: str = "8000.00",
            subsidy_type: str = "到户增收", period: str | None = None, payable: str | None = None) -> dict:
    """A subsidy-card payment of one line (到人到户)."""
    lines = [{"person": person, "name": "曹某", "household_id": "HH-21", "subsidy_type": subsidy_type,
              "payable": payable or amount, "paid": amount, **({"period": period} if period else {})}]
    e = wire.payment(pid, IND, amount, person=person, region=region, payment_date=day, subsidy_lines=lines)
    e["time"] = at(day)
    return e


def registry(status: str = "poor", since: str = "2020-01-01", person: str = PERSON, day: str = "2026-01-05") -> dict:
    return wire.event("household.registered", {"person": person, "name": "曹某", "household_id": "HH-21",
                                               "status": status, "since": since}, "410324100", time=at(day))


def external(kind: str, on: str, rid: str | None = None, arrives: str | None = None, **extra) -> dict:
    data = {"record_id": rid or f"R-{kind}-{on}", "kind": kind, "record_date": on, **extra}
    return wire.event("external.recorded", data, COUNTY, time=at(arrives or on))


def to_enterprise(pid: str, amount: str = "300000.00", day: str = "2026-03-02") -> dict:
    e = wire.payment(pid, IND, amount, payment_date=day, purpose="食用菌大棚建设工程款")
    e["time"] = at(day)
    return e


def subjects(h: Harness, rule: str) -> list[str]:
    return sorted(t.subject for t in of(h, rule))


def line_subject(pid: str, person: str = PERSON) -> str:
    return f"payment/{pid}/person/{hashed(person)}"


# ------------------------------------------------------------------ BEN-01 not in the registry on the payment's date


def test_ben01_positive():
    """Not in the registry (decided once the registry is complete up to the payment), or removed before it."""
    h = engine([subsidy("ZF1")])
    (t,) = of(h, "BEN-01")
    assert (t.subject, t.region) == (line_subject("ZF1"), COUNTY) and "is not found in the" in t.findings
    assert key_facts(t)["payment_id"] == "ZF1" and key_facts(t)["amount"] == "8000.00"
    removed = engine([registry(), registry("removed", since="2026-02-01", day="2026-02-01"), subsidy("ZF2")])
    assert subjects(removed, "BEN-01") == [line_subject("ZF2")]
    assert "is removed from the" in of(removed, "BEN-01")[0].findings
    too_late = engine([registry(since="2026-04-01", day="2026-04-01"), subsidy("ZF3")])  # entered after the payment
    assert subjects(too_late, "BEN-01") == [line_subject("ZF3")]


def test_ben01_negative():
    """In the registry on the payment's date — also when the entry arrives after the payment; removed only later."""
    for order in ([registry(), subsidy("ZF1")], [subsidy("ZF1"), registry()]):
        assert of(arriving([order[0]], [order[1]]), "BEN-01") == [], order[0]["type"]
    later = engine([registry(), registry("removed", since="2026-06-01", day="2026-06-01"), subsidy("ZF2")])
    assert of(later, "BEN-01") == []


def test_ben01_a_person_paid_from_a_fund_that_is_not_per_person_is_no_beneficiary():
    fund = wire.event("fund.registered", {"fund_code": "C22", "name": "衔接资金", "level": "central",
                                          "functional_classes": ["21305"]}, "000000", time=at("2026-01-05"))
    reg = wire.registered(IND, "500000.00", doc_scan_ref="oss://a.pdf")
    reg["time"] = at("2026-02-02")
    labour = wire.payment("ZF9", IND, "3000.00", person=PERSON, channel="direct", purpose="村道养护劳务费")
    h = engine([fund, reg, labour])
    assert of(h, "BEN-01") == [] and of(h, "USE-07") == []


# ------------------------------------------------------------------ BEN-02 disqualifying external record


def test_ben02_positive():
    """Seed 003: an 8,000-yuan household subsidy, and a deed-tax record of the year before — whenever it arrives."""
    deed = external("deed_tax", "2025-06-01", rid="QS-2025-001", person=PERSON, amount="4500.00", arrives="2026-03-20")
    for order in ([deed, subsidy("ZF1")], [subsidy("ZF1"), deed]):
        h = arriving([registry()], [order[0]], [order[1]])
        (t,) = of(h, "BEN-02")
        assert (t.subject, t.region) == (line_subject("ZF1"), COUNTY), order[0]["type"]
        assert "has a deed_tax record of 2025-06-01 (QS-2025-001)" in t.findings
        assert [e.fact("record_id") or e.fact("payment_id") for e in t.evidence] == ["ZF1", "QS-2025-001"]


def test_ben02_negative():
    """A record dated after the payment, older than lookback_days (1,095), or of a kind that does not disqualify."""
    for rec in (external("deed_tax", "2026-03-10", person=PERSON), external("deed_tax", "2022-01-01", person=PERSON),
                external("business_registration", "2025-06-01", person=PERSON, enterprise_code="92410324MA0000000X")):
        assert of(engine([registry(), rec, subsidy("ZF1")]), "BEN-02") == [], rec["data"]["kind"]


# ------------------------------------------------------------------ BEN-03 deceased before the payment


def test_ben03_positive():
    death = external("death", "2026-01-15", rid="SW-1", person=PERSON, arrives="2026-04-01")
    h = arriving([registry()], [subsidy("ZF1")], [death])  # the death registry reports after the payment
    (t,) = of(h, "BEN-03")
    assert (t.subject, t.region) == (line_subject("ZF1"), COUNTY) and "died on 2026-01-15" in t.findings
    assert key_facts(t)["payment_date"] == "2026-03-02"
    assert any(e.fact("record_id") == "SW-1" for e in t.evidence)


def test_ben03_negative():
    for day in ("2026-03-02", "2026-05-01"):  # died on the day of the payment, or after it
        assert of(engine([registry(), external("death", day, person=PERSON), subsidy("ZF1")]), "BEN-03") == [], day


# ------------------------------------------------------------------ BEN-04 same subsidy twice in a period


def test_ben04_positive():
    """The same 到户增收 subsidy for 2026 paid by two counties: the later payment is the duplicate,
    whichever arrives first."""
    first, again = subsidy("ZF1", day="2026-03-02"), subsidy("ZF2", day="2026-05-06", region=NEIGHBOUR)
    for order in ([first, again], [again, first]):
        h = arriving([registry()], [order[0]], [order[1]])
        (t,) = of(h, "BEN-04")
        assert (t.subject, t.region) == (line_subject("ZF2"), NEIGHBOUR), order[0]["data"]["payment_id"]
        assert "for 2026 again by ZF2; already paid by ZF1 on 2026-03-02 in 410324" in t.findings
        assert [e.fact("payment_id") for e in t.evidence] == ["ZF2", "ZF1"]


def test_ben04_period_named_on_the_line():
    """The line's period (补贴所属期) decides, not the payment's calendar year: 2026-Q4 paid in December and
    again in January is a duplicate."""
    h = engine([registry(), subsidy("ZF1", day="2026-12-20", period="2026-Q4"),
                subsidy("ZF2", day="2027-01-10", period="2026-Q4")])
    assert subjects(h, "BEN-04") == [line_subject("ZF2")] and "for 2026-Q4 again" in of(h, "BEN-04")[0].findings


def test_ben04_negative():
    """The same type for another period named on the line; another subsidy type; another person."""
    h = engine([registry(), registry(person=wire.citizen_id(23)),
                subsidy("ZF1", day="2026-03-02", period="2026-H1"), subsidy("ZF2", day="2026-09-02", period="2026-H2"),
                subsidy("ZF3", day="2026-03-05", subsidy_type="雨露计划"),
                subsidy("ZF4", day="2026-03-02", person=wire.citizen_id(23))])
    assert of(h, "BEN-04") == []


# ------------------------------------------------------------------ BEN-05 payable ≠ paid


def test_ben05_positive():
    (f,) = [x for x in facts_findings(subsidy("ZF5", payable="8500.00")) if x.rule_id == "BEN-05"]
    assert (f.subject, f.region) == (line_subject("ZF5"), COUNTY)
    assert "payable 8500.00 yuan, paid 8000.00 yuan" in f.findings and key_facts(f)["payment_id"] == "ZF5"


def test_ben05_negative():
    assert [x for x in facts_findings(subsidy("ZF5")) if x.rule_id == "BEN-05"] == []
    assert run(ben.ben05_payable_paid, pay(), line(payable=None)) == []


# ------------------------------------------------------------------ BEN-06 enterprise deregistered / revoked / listed


def test_ben06_positive():
    status = external("business_status", "2026-01-10", rid="GS-1", enterprise_code=ENTERPRISE, status="吊销",
                      arrives="2026-04-01")
    for order in ([status, to_enterprise("ZF6")], [to_enterprise("ZF6"), status]):
        h = arriving([order[0]], [order[1]])
        (t,) = of(h, "BEN-06")
        assert (t.subject, t.region) == (f"enterprise/{ENTERPRISE}", COUNTY), order[0]["type"]
        assert "status 吊销 since 2026-01-10" in t.findings
        assert [e.fact("payment_id") or e.fact("record_id") for e in t.evidence] == ["ZF6", "GS-1"]


def test_ben06_negative():
    """Listed only after the payment date; a good standing (存续)."""
    for status, on in (("经营异常", "2026-03-20"), ("存续", "2026-01-10")):
        rec = external("business_status", on, enterprise_code=ENTERPRISE, status=status)
        assert of(engine([rec, to_enterprise("ZF6")]), "BEN-06") == [], status


def test_ben06_judged_by_the_status_in_force_on_the_payment_date():
    listed = external("business_status", "2025-05-01", rid="GS-1", enterprise_code=ENTERPRISE, status="经营异常")
    restored = external("business_status", "2025-10-01", rid="GS-2", enterprise_code=ENTERPRISE, status="存续")
    assert of(engine([listed, restored, to_enterprise("ZF6")]), "BEN-06") == []


# ------------------------------------------------------------------ BEN-07 young enterprise, large award


def founded(on: str, **extra) -> dict:
    return external("business_registration", on, rid=f"ZC-{on}", enterprise_code=ENTERPRISE, **extra)


def test_ben07_positive():
    h = engine([founded("2026-01-10"), to_enterprise("ZF7", "300000.00")])
    (t,) = of(h, "BEN-07")
    assert (t.subject, t.region) == (f"enterprise/{ENTERPRISE}", COUNTY)
    assert "founded 2026-01-10 got 300000.00 yuan by ZF7 51 days later" in t.findings
    assert key_facts(t)["amount"] == "300000.00" and any(e.fact("record_id") == "ZC-2026-01-10" for e in t.evidence)


def test_ben07_negative():
    assert of(engine([founded("2026-01-10"), to_enterprise("ZF7", "150000.00")]), "BEN-07") == []  # below 200,000
    assert of(engine([founded("2025-06-01"), to_enterprise("ZF7", "300000.00")]), "BEN-07") == []  # 274 days
    assert run(ben.ben07_young_enterprise, pay(enterprise=None), record("business_registration", "2026-01-10")) == []


# ------------------------------------------------------------------ BEN-08 related party


def test_ben08_positive():
    """The cooperative's legal representative is on the staff of the paying office (U1), in any order."""
    events = [founded("2020-05-01", related_person=REP),
              external("public_employee", "2019-09-01", rid="GWY-1", person=REP, unit_code="U1"),
              to_enterprise("ZF8")]
    for order in (events, events[::-1]):
        h = arriving(*[[e] for e in order])
        (t,) = of(h, "BEN-08")
        assert (t.subject, t.region) == (f"enterprise/{ENTERPRISE}/unit/U1", COUNTY), order[0]["type"]
        assert "its legal representative is on the staff of 栾川县扶贫办" in t.findings
        assert any(e.fact("record_id") == "GWY-1" for e in t.evidence)


def test_ben08_negative():
    h = engine([founded("2020-05-01", related_person=REP),
                external("public_employee", "2019-09-01", person=REP, unit_code="U7"), to_enterprise("ZF8")])
    assert of(h, "BEN-08") == []  # works for another unit


# ------------------------------------------------------------------ BEN-09 stable household still subsidised


def test_ben09_positive():
    """Marked stable (稳定脱贫，不再享受政策) on 1 December 2025; paid on 2 March 2026 — whenever the mark arrives."""
    stable = registry("stable", since="2025-12-01", day="2026-03-10")
    for order in ([stable, subsidy("ZF9")], [subsidy("ZF9"), stable]):
        h = arriving([registry()], [order[0]], [order[1]])
        (t,) = of(h, "BEN-09")
        assert (t.subject, t.region) == (line_subject("ZF9"), COUNTY), order[0]["type"]
        assert "household HH-21 is marked stable since 2025-12-01" in t.findings
        assert key_facts(t)["payment_id"] == "ZF9"
        assert of(h, "BEN-01") == []  # a stable household is in the registry


def test_ben09_negative():
    """Marked stable only after the payment (the entry in force on the payment's date says poor)."""
    h = engine([registry(), registry("stable", since="2026-04-01", day="2026-04-01"), subsidy("ZF9")])
    assert of(h, "BEN-09") == [] and of(h, "BEN-01") == []


@pytest.mark.parametrize("status", ["poor", "removed", None])
def test_ben09_only_a_stable_mark_counts(status: str | None):
    assert run(ben.ben09_stable, pay(), line(), status, "2020-01-01", "HH1") == []
