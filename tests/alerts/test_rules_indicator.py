"""Indicator receipt rules (指标接收), IND-01 … IND-07: a positive and a negative case each."""

from __future__ import annotations

import datetime as dt

from services.alerts.deadlines import complete, tick
from services.alerts.findings import evidence
from services.alerts.rules import indicators as ind
from tests.alerts.builders import FUNDS, cfg, doc, issue


def test_ind01_positive():
    item = ind.ind01_deadline(issue(on="2026-02-27"), cfg("IND-01"))  # Friday; 02-28 is an adjusted working Saturday
    assert item.due == "2026-03-05" and item.bell == "2026-03-03" and item.stream == "indicator/410324"
    item, out = complete(item, dt.date(2026, 3, 9))  # registered late
    assert [f.op for f in out] == ["escalate"] and out[0].subject == "transfer/XD-1" and out[0].region == "410324"


def test_ind01_negative():
    item = ind.ind01_deadline(issue(on="2026-02-27"), cfg("IND-01"))
    item, out = complete(item, dt.date(2026, 3, 2))  # before the bell: nothing to say
    assert out == [] and item.done == "2026-03-02"
    _, out = tick(item, dt.datetime(2026, 3, 20, tzinfo=dt.UTC))
    assert out == []


def test_ind02_positive():
    f = ind.ind02_interlock_break("e1", "410324", "2026-03-02T10:00:00+08:00", "XD-1", "mismatch", "100000.00",
                                  "90000.00", "C22", ["IND-410324-1"])
    assert f is not None and f.rule_id == "IND-02" and f.subject == "transfer/XD-1" and "90000.00" in f.findings


def test_ind02_negative():
    for state in ("matched", "in_transit"):
        assert ind.ind02_interlock_break("e1", "410324", "2026-03-02T10:00:00+08:00", "XD-1", state, "1.00", "1.00",
                                         None, []) is None


def test_ind03_positive():
    f = ind.ind03_missing_scan(doc(scan=False), cfg("IND-03"))
    assert f is not None and f.subject == "indicator/IND-410324-1"
    f = ind.ind03_missing_scan(issue(scan=False), cfg("IND-03"))
    assert f is not None and f.region == "410300" and "issued" in f.findings


def test_ind03_negative():
    assert ind.ind03_missing_scan(doc(), cfg("IND-03")) is None


def test_ind04_positive():
    for number, why in (("栾川县乡村振兴局关于申请2026年产业发展资金的请示", "title"), ("2-14-80", "bare digits"),
                        ("177", "bare digits"), ("X牧字【2018】12号", "brackets"), ("财农[2018]5号", "brackets"),
                        ("本级追加", "title"), ("栾川县2026年12号", "follow")):
        f = ind.ind04_irregular_doc_no(doc(doc_no=number), cfg("IND-04"))
        assert f is not None and why in f.findings, number


def test_ind04_negative():
    for number in ("豫财农〔2026〕12号", "财农〔2026〕123号", "洛财预〔2025〕7号"):
        assert ind.ind04_irregular_doc_no(doc(doc_no=number), cfg("IND-04")) is None


def test_ind05_positive():
    f = ind.ind05_wrong_link(issue(fund="C22"), doc(fund="411624-F01"), FUNDS)  # designates P09, not C22
    assert f is not None and f.subject == "indicator/IND-410324-1" and "P09" in f.findings
    f = ind.ind05_self_entered(doc(source="own_arrangement", upper_indicator_id=None, fund="C22"), FUNDS, "county")
    assert f is not None and "own arrangement" in f.findings


def test_ind05_negative():
    assert ind.ind05_wrong_link(issue(fund="C22"), doc(fund="C22"), FUNDS) is None
    assert ind.ind05_wrong_link(issue(fund="C22"), doc(fund="410324-F01"), FUNDS) is None  # its designated upper
    own = doc(source="own_arrangement", upper_indicator_id=None, fund="410324-F01")
    assert ind.ind05_self_entered(own, FUNDS, "county") is None
    assert ind.ind05_self_entered(doc(source="own_arrangement", fund="C22"), FUNDS, "province") is None


def test_ind06_positive():
    f = ind.ind06_carry_over(issue(budget_year=2025), doc(budget_year=2026))
    assert f is not None and "carry-over" in f.findings
    f = ind.ind06_old_document(doc(source="own_arrangement", doc_no="栾财预〔2025〕3号", doc_date="2025-12-20"))
    assert f is not None


def test_ind06_negative():
    assert ind.ind06_carry_over(issue(budget_year=2026), doc(budget_year=2026)) is None
    assert ind.ind06_carry_over(issue(budget_year=2025, advance=True), doc(budget_year=2026, advance=True)) is None
    assert ind.ind06_carry_over(issue(budget_year=2025), doc(source="carry_over")) is None
    assert ind.ind06_old_document(doc(source="own_arrangement", doc_no="栾财预〔2026〕3号")) is None


def test_ind07_positive():
    ev = evidence("e1", "fund.linked", "2026-01-05T09:00:00+08:00", "411326", fund_code="411326-F01")
    f = ind.ind07_several_uppers("411326-F01", ["C23", "C22"], ev, "411326")
    assert f is not None and f.subject == "fund/411326-F01" and "C22, C23" in f.findings


def test_ind07_negative():
    ev = evidence("e1", "fund.linked", "2026-01-05T09:00:00+08:00", "411326")
    assert ind.ind07_several_uppers("411326-F01", ["C23", "C23"], ev, "411326") is None
