"""Fund usage rules (资金使用), USE-01 … USE-09: what each rule finds (rule id, subject, region, the
evidence's key facts) and the near misses that must stay quiet. Checks on the payment alone run through
ingress (`facts_findings`); checks against other payments, the books or the reference data through the
in-memory engine (tests/alerts/harness.py) on wire events, where `flush()` is the end of the input."""

from __future__ import annotations

from decimal import Decimal

import pytest

from contracts.control import RuleConfigured
from services.alerts.config import RuleConfigs
from services.alerts.rules import usage as use
from tests import factories as wire
from tests.alerts.builders import at, clock, facts_findings, key_facts, pay, project_pay, run
from tests.alerts.builders import posting as post
from tests.alerts.harness import Harness, arriving, engine
from tests.alerts.harness import raised as of

COUNTY, ELSEWHERE = "410324", "411624"
IND = "IND-410324-1"
PAYEE_ACCOUNT = "6222020200118888"  # the enterprise payee of tests/factories.payment


def paid(pid: str, amount: str, day: str = "2026-03-02", **extra) -> dict:
    """A payment to the cooperative (tests/factories.payment), dated and sent on `day`."""
    e = wire.payment(pid, IND, amount, **{"payment_date": day, **extra})
    e["time"] = at(day)
    return e


def subsidy(pid: str, people: list[int], each: str = "2000.00", day: str = "2026-03-02", **extra) -> dict:
    lines = [{"person": wire.citizen_id(n), "name": f"农户{n}", "subsidy_type": "到户增收", "payable": each,
              "paid": each} for n in people]
    total = str(Decimal(each) * len(people))
    return paid(pid, total, day, subsidy_lines=lines, **extra)


def subjects(h: Harness, rule: str) -> list[str]:
    return sorted(t.subject for t in of(h, rule))


# ------------------------------------------------------------------ USE-01 beyond the available balance
# the indicator's books as the ledger publishes them (ledger.posting_applied); each posting carries its
# source event's time, and the books settle once the input has reached it (`clock`)


def posting(seq: int, kind: str, on: str, moves: list[tuple], subject: str | None = None, red_ink: bool = False,
            source: str | None = None) -> dict:
    """`ledger.posting_applied`; the postings of one event (a correction's reversal and re-post) share `source`."""
    return wire.event("ledger.posting_applied", {
        "posting_id": f"{IND}:{seq}", "journal_seq": seq, "source_event_id": source or f"src-{seq}",
        "source_event_type": kind, "source_subject": subject, "indicator_id": IND, "booked_on": on,
        "red_ink": red_ink, "balances": {},
        "moves": [{"debit": m[0], "credit": m[1], "amount": m[2], "project_code": m[3] if len(m) > 3 else None}
                  for m in moves]}, COUNTY, id=f"ledger:{seq}", time=at(on))


def registered(amount: str) -> list[dict]:
    reg = wire.registered(IND, amount, doc_scan_ref="oss://a.pdf", registered_on="2026-02-02")
    reg["time"] = at("2026-02-02")
    return [reg, posting(1, "indicator.registered", "2026-02-02", [("1001", "4001", amount), ("5001", "1001", amount)])]


def allot(seq: int, amount: str, on: str = "2026-02-10", project: str | None = None) -> dict:
    return posting(seq, "indicator.allocated", on, [("500201", "5001", amount, project)], f"FP-{seq}")


def spend(seq: int, amount: str, on: str, project: str | None = None) -> dict:
    return posting(seq, "payment.made", on, [("5201", "500201", amount, project)], f"ZF{seq}")


def test_use01_positive():
    h = engine([*registered("100000.00"), allot(2, "100000.00"), spend(3, "80000.00", "2026-03-02"),
                spend(4, "30000.00", "2026-03-05"), clock("2026-03-05")])
    (t,) = of(h, "USE-01")
    assert (t.subject, t.region, t.level) == ("payment/ZF4", COUNTY, "red")
    assert "30000.00 yuan exceeds the available balance of 20000.00 yuan" in t.findings
    facts = key_facts(t)
    assert facts["indicator_id"] == IND
    assert (facts["balance_500201"], facts["balance_5201"]) == ("20000.00", "80000.00")  # the books it met


def test_use01_beyond_the_projects_remaining_allocation_while_the_indicator_has_money():
    """Project XM1 has 285,500 left of its 500,000; the indicator has 1,785,500: a 1,000,000 payment for XM1
    takes the project to −714,500."""
    h = engine([*registered("2000000.00"), allot(2, "500000.00", project="XM1"), allot(3, "1500000.00"),
                spend(4, "214500.00", "2026-03-02", project="XM1"), spend(5, "1000000.00", "2026-03-09", project="XM1"),
                clock("2026-03-09")])
    (t,) = of(h, "USE-01")
    assert (t.subject, t.region) == ("payment/ZF5", COUNTY)
    assert "exceeds the remaining allocation of project XM1 of 285500.00 yuan" in t.findings


def test_use01_negative():
    """Within the balance and the project's allocation, judged in the order the events happened: the ledger
    may get the payment before the allocation it draws on."""
    postings = [allot(2, "500000.00", project="XM1"), spend(3, "300000.00", "2026-03-02", project="XM1"),
                spend(4, "200000.00", "2026-03-03", project="XM1")]
    for order in (postings, postings[::-1]):
        h = arriving(registered("500000.00"), *[[p] for p in order], [clock("2026-03-03")])
        assert of(h, "USE-01") == [], [p["data"]["journal_seq"] for p in order]


def correction(amount: str, on: str = "2026-03-20") -> list[dict]:
    """A red-ink correction (红字更正) of allocation FP-2 (500,000) to `amount`, as the ledger books it:
    the reversal, then the re-post (both `indicator.corrected`)."""
    return [posting(10, "indicator.corrected", on, [("5001", "500201", "500000.00")], "FP-2", red_ink=True,
                    source="src-corr"),
            posting(11, "indicator.corrected", on, [("500201", "5001", amount)], "FP-2", source="src-corr"), clock(on)]


def test_use01_correction_below_what_was_paid():
    """The allocation lowered to 300,000 after 400,000 were paid from it."""
    h = engine([*registered("1000000.00"), allot(2, "500000.00"), spend(3, "400000.00", "2026-03-02"),
                *correction("300000.00")])
    (t,) = of(h, "USE-01")
    assert (t.subject, t.region, t.level) == (f"indicator/{IND}/overpaid", COUNTY, "red")
    assert "more was paid than is now allocated" in t.findings


def test_use01_correction_reports_the_balance_after_the_whole_correction():
    h = engine([*registered("1000000.00"), allot(2, "500000.00"), spend(3, "400000.00", "2026-03-02"),
                *correction("300000.00")])
    (t,) = of(h, "USE-01")
    assert "balance is -100000.00 yuan" in t.findings


def test_use01_correction_that_still_covers_what_was_paid_is_not_an_alert():
    h = engine([*registered("1000000.00"), allot(2, "500000.00"), spend(3, "400000.00", "2026-03-02"),
                *correction("450000.00")])
    assert of(h, "USE-01") == []


@pytest.mark.store
def test_use01_with_the_real_ledger(tmp_path):
    """The same two cases with the ledger's own postings (its recorder on SQLite)."""
    reg = wire.registered(IND, "2000000.00", doc_scan_ref="oss://a.pdf", registered_on="2026-02-02", id="E-REG")
    reg["time"] = at("2026-02-02")

    def allocation(aid: str, amount: str, **extra) -> dict:
        e = wire.allocated(aid, IND, amount, allocated_on="2026-02-10", **extra)
        e["id"], e["time"] = f"E-{aid}", at("2026-02-10")
        return e

    project = {"kind": "project", "project_code": "XM1", "project_name": "张庄村道路硬化项目"}
    events = [reg, allocation("FP-1", "500000.00", **project), allocation("FP-2", "1500000.00"),
              paid("ZF1", "214500.00", "2026-03-02", project_code="XM1"),
              paid("ZF2", "1000000.00", "2026-03-09", project_code="XM1")]
    h = Harness(ledger_db=str(tmp_path / "ledger.db"))
    h.feed(events, batch=1)
    h.flush()
    assert subjects(h, "USE-01") == ["payment/ZF2"]
    assert "remaining allocation of project XM1 of 285500.00" in of(h, "USE-01")[0].findings


def test_use01_rule_alone():
    p = post(5, "payment.made", "2026-03-02", [("5201", "500201", 12_000)], subject="ZF9")
    (f,) = run(use.use01_beyond_balance, p, "the available balance", 10_000, 12_000, "C22", ())
    assert (f.rule_id, f.subject, f.region, f.budget_year) == ("USE-01", "payment/ZF9", COUNTY, 2026)
    assert run(use.use01_beyond_balance, p, "the available balance", 12_000, 12_000, "C22", ()) == []


# ------------------------------------------------------------------ USE-02 payment date


def test_use02_positive():
    undated = paid("ZF2", "5000.00", payment_date=None)
    (f,) = [x for x in facts_findings(undated) if x.rule_id == "USE-02"]
    assert (f.subject, f.region, f.indicator_id) == ("payment/ZF2", COUNTY, IND) and "no payment date" in f.findings
    assert key_facts(f)["payment_id"] == "ZF2" and key_facts(f)["amount"] == "5000.00"
    assert "payment_date" not in key_facts(f)
    ahead = paid("ZF3", "5000.00", "2026-03-02", payment_date="2026-03-05")  # recorded 2 March, dated 5 March
    (f,) = [x for x in facts_findings(ahead) if x.rule_id == "USE-02"]
    assert f.subject == "payment/ZF3" and key_facts(f)["payment_date"] == "2026-03-05"


def test_use02_negative():
    for day in ("2026-03-02", "2026-03-03", "2025-12-30"):  # dated up to max_ahead_days (1) after it was recorded
        assert [x for x in facts_findings(paid("ZF2", "1.00", "2026-03-02", payment_date=day))
                if x.rule_id == "USE-02"] == [], day


# ------------------------------------------------------------------ USE-03 prohibited economic class


@pytest.mark.parametrize("econ", ["30217", "30231", "30101", "30102", "31001", "31013"])
def test_use03_positive(econ: str):
    (f,) = [x for x in facts_findings(paid("ZF3", "9000.00", economic_class=econ)) if x.rule_id == "USE-03"]
    assert (f.subject, f.region) == ("payment/ZF3", COUNTY) and key_facts(f)["economic_class"] == econ


def test_use03_negative():
    for econ in ("31005", "30310", "30299", None):
        extra = {"economic_class": econ} if econ else {}
        assert [x for x in facts_findings(paid("ZF3", "1.00", **extra)) if x.rule_id == "USE-03"] == [], econ


# ------------------------------------------------------------------ USE-04 cash above the limit


def test_use04_positive():
    (f,) = [x for x in facts_findings(paid("ZF4", "60000.00", settlement="cash")) if x.rule_id == "USE-04"]
    assert (f.subject, f.region) == ("payment/ZF4", COUNTY) and "above the 50000 yuan limit" in f.findings
    assert key_facts(f)["settlement"] == "cash" and key_facts(f)["amount"] == "60000.00"


def test_use04_negative():
    assert [x for x in facts_findings(paid("ZF4", "50000.00", settlement="cash")) if x.rule_id == "USE-04"] == []
    assert [x for x in facts_findings(paid("ZF4", "90000.00")) if x.rule_id == "USE-04"] == []  # by transfer
    assert [x for x in facts_findings(paid("ZF4", "90000.00", settlement="cheque")) if x.rule_id == "USE-04"] == []


def test_use04_level_through_the_engine():
    (t,) = of(engine([paid("ZF4", "60000.00", settlement="cash")]), "USE-04")
    assert (t.subject, t.level, t.kind.value) == ("payment/ZF4", "yellow", "raised")


# ------------------------------------------------------------------ USE-05 duplicate payment (window_days 30)


def test_use05_positive():
    """The same 80,000 for the same purpose from the same unit to the same account, the next day: the
    later one is the repeat, whichever arrives first."""
    first, repeat = paid("ZF1", "80000.00", "2026-03-02"), paid("ZF2", "80000.00", "2026-03-03")
    for order in ([first, repeat], [repeat, first]):
        h = arriving([order[0]], [order[1]])
        (t,) = of(h, "USE-05")
        assert (t.subject, t.region) == ("payment/ZF2", COUNTY), order[0]["data"]["payment_id"]
        assert "repeats payment ZF1" in t.findings
        assert [e.fact("payment_id") for e in t.evidence] == ["ZF2", "ZF1"]
        assert key_facts(t)["amount"] == "80000.00" and key_facts(t)["payment_date"] == "2026-03-03"


def test_use05_within_the_window():
    h = engine([paid("ZF1", "80000.00", "2026-03-02"), paid("ZF2", "80000.00", "2026-04-01")])  # 30 days
    assert subjects(h, "USE-05") == ["payment/ZF2"]


def test_use05_negative():
    """Beyond the window, from another payer, another amount or purpose — or the same payment sent again."""
    base = paid("ZF1", "80000.00", "2026-03-02")
    for other in (paid("ZF2", "80000.00", "2026-04-02"),  # 31 days later
                  paid("ZF2", "80000.00", "2026-03-03",
                       payer={"unit_code": "U2", "unit_name": "栾川县农业农村局", "account": "6222020200114455"}),
                  paid("ZF2", "80000.01", "2026-03-03"),
                  paid("ZF2", "80000.00", "2026-03-03", purpose="到户增收补助第二批")):
        h = engine([base, other])
        assert of(h, "USE-05") == [], other["data"]
    again = paid("ZF1", "80000.00", "2026-03-02")  # re-extracted upstream: a new event id, the same payment
    assert of(engine([base], [again]), "USE-05") == []


def test_use05_window_configured_beyond_a_month():
    configs = RuleConfigs()
    assert configs.apply(RuleConfigured(rule_id="USE-05", budget_year=2026, params={"window_days": 60}))
    h = Harness(configs=configs)
    h.feed([paid("ZF1", "80000.00", "2026-03-02")])
    h.feed([paid("ZF3", "5000.00", "2026-04-10", purpose="合作社运营补助")])  # an unrelated payment in between
    h.feed([paid("ZF2", "80000.00", "2026-04-16")])  # 45 days after ZF1: inside the configured 60
    h.flush()
    assert subjects(h, "USE-05") == ["payment/ZF2"]


# ------------------------------------------------------------------ USE-06 split payments (threshold 100,000, 7 days)


def test_use06_positive():
    """60,000 and 50,000 within two days, each under the threshold, together above it — in any order."""
    a = paid("ZF1", "60000.00", "2026-03-02", purpose="村道硬化工程款（一）")
    b = paid("ZF2", "50000.00", "2026-03-04", purpose="村道硬化工程款（二）")
    for order in ([a, b], [b, a]):
        h = arriving([order[0]], [order[1]])
        (t,) = of(h, "USE-06")
        assert (t.subject, t.region) == ("payment/ZF2", COUNTY)
        assert "add up to 110000.00 yuan" in t.findings
        assert [e.fact("payment_id") for e in t.evidence] == ["ZF2", "ZF1"]


def test_use06_negative():
    """Eight days apart; parts below min_part_share (20,000); a payment at the threshold is no part; another
    paying unit."""
    for second in (paid("ZF2", "50000.00", "2026-03-10", purpose="二期"),
                   paid("ZF2", "45000.00", "2026-03-03", purpose="二期",
                        payer={"unit_code": "U2", "unit_name": "栾川县交通局", "account": "6222020200114455"})):
        assert of(engine([paid("ZF1", "60000.00", "2026-03-02", purpose="一期"), second]), "USE-06") == []
    small = [paid(f"ZF{n}", "19000.00", f"2026-03-0{n}", purpose=f"第{n}期") for n in range(1, 7)]
    assert of(engine(small), "USE-06") == []
    whole = [paid("ZF1", "100000.00", "2026-03-02", purpose="一期"),
             paid("ZF2", "30000.00", "2026-03-03", purpose="二期")]
    assert of(engine(whole), "USE-06") == []


def test_use06_a_repeat_the_next_day_is_use05s_not_a_split():
    h = engine([paid("ZF1", "60000.00", "2026-03-02"), paid("ZF2", "60000.00", "2026-03-03")])
    assert subjects(h, "USE-05") == ["payment/ZF2"]
    assert of(h, "USE-06") == []


# ------------------------------------------------------------------ USE-07 per-person subsidy not by the card


def household_fund() -> list[dict]:
    """Fund C33 is paid per person (到人到户); the indicator IND-410324-1 is of C33."""
    fund = wire.event("fund.registered", {"fund_code": "C33", "name": "雨露计划补助", "level": "central",
                                          "functional_classes": ["21305"], "for_households": True},
                      "000000", time=at("2026-01-05"))
    reg = wire.registered(IND, "500000.00", fund_code="C33", doc_scan_ref="oss://a.pdf")
    reg["time"] = at("2026-02-02")
    return [fund, reg]


def test_use07_positive():
    h = engine([subsidy("ZF7", [1, 2, 3], channel="direct")])
    (t,) = of(h, "USE-07")
    assert (t.subject, t.region) == ("payment/ZF7", COUNTY) and "paid by direct" in t.findings
    assert key_facts(t)["channel"] == "direct" and key_facts(t)["amount"] == "6000.00"
    person = wire.payment("ZF8", IND, "3000.00", person=wire.citizen_id(4), channel="authorised")
    h = engine(household_fund(), [person])
    assert subjects(h, "USE-07") == ["payment/ZF8"]


def test_use07_negative():
    """Through the subsidy card; or an individual paid from a fund that is not per person."""
    assert of(engine([subsidy("ZF7", [1, 2, 3], channel="subsidy_card")]), "USE-07") == []
    card = wire.payment("ZF8", IND, "3000.00", person=wire.citizen_id(4), channel="subsidy_card")
    assert of(engine(household_fund(), [card]), "USE-07") == []
    labour = wire.payment("ZF9", IND, "3000.00", person=wire.citizen_id(4), channel="direct")
    assert of(engine([labour]), "USE-07") == []  # C22 is not paid per person: not a subsidy


# ------------------------------------------------------------------ USE-08 outside the implementation period


def project(start: str = "2026-01-01", end: str = "2026-06-30") -> dict:
    return wire.event("project.registered", {"project_code": "XM1", "name": "张庄村道路硬化", "start_date": start,
                                             "end_date": end}, COUNTY, time=at("2026-01-05"))


def test_use08_positive():
    late = paid("ZF8", "120000.00", "2026-08-01", project_code="XM1")
    for order in ([project(), late], [late, project()]):  # the library's record may come after the payment
        h = arriving([order[0]], [order[1]])
        (t,) = of(h, "USE-08")
        assert (t.subject, t.region) == ("payment/ZF8", COUNTY)
        assert "outside the implementation period 2026-01-01 – 2026-06-30 of project XM1" in t.findings
        assert key_facts(t)["project_code"] == "XM1" and key_facts(t)["payment_date"] == "2026-08-01"


def test_use08_negative():
    for day in ("2026-01-01", "2026-06-30"):
        assert of(engine([project(), paid("ZF8", "1.00", day, project_code="XM1")]), "USE-08") == [], day
    assert run(use.use08_outside_period, project_pay(date=None), "2026-01-01", "2026-06-30") == []  # USE-02's


# ------------------------------------------------------------------ USE-09 purpose outside the fund's scope


@pytest.mark.parametrize(("purpose", "word"), [("春节慰问品采购", "慰问品"), ("乡镇公务用车维修", "公务用车"),
                                               ("偿还债务本息", "偿还债务"), ("扶贫办工作人员奖金", "奖金")])
def test_use09_positive(purpose: str, word: str):
    (f,) = [x for x in facts_findings(paid("ZF9", "9000.00", purpose=purpose)) if x.rule_id == "USE-09"]
    assert (f.subject, f.region) == ("payment/ZF9", COUNTY) and f"({word})" in f.findings
    assert key_facts(f)["purpose"] == purpose


def test_use09_negative():
    for purpose in ("到户增收补助", "张庄村道路硬化工程进度款", "食用菌大棚建设"):
        assert [x for x in facts_findings(paid("ZF9", "1.00", purpose=purpose)) if x.rule_id == "USE-09"] == []
    assert run(use.use09_purpose, pay(purpose="雨露计划学生补助")) == []


def test_findings_show_accounts_masked_never_in_clear():
    """Personal data (seed 000 art. 25): a finding carries the masked account, not the number."""
    (f,) = [x for x in facts_findings(paid("ZF1", "60000.00", settlement="cash")) if x.rule_id == "USE-04"]
    assert PAYEE_ACCOUNT not in repr(f) and "6222020200112233" not in repr(f)
    assert (key_facts(f)["payee_account"], key_facts(f)["payer_account"]) == ("6222********8888", "6222********2233")
