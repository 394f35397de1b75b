"""Recipient rules (收款企业和受益贫困户), BEN-01 … BEN-09."""

from __future__ import annotations

from decimal import Decimal

from services.alerts.rules import recipients as ben
from tests.alerts.builders import cfg, line, pay, project_pay

POOR = ben.Registry("poor", "2016-01-01", "HH1")


def _record(kind: str, date: str, **kw) -> ben.Record:
    return ben.Record(f"R-{kind}", kind, date, {"id": f"ev-{kind}", "type": "external.recorded"}, **kw)


def test_ben01_positive():
    f = ben.ben01_not_in_registry(pay(), line(), None)
    assert f is not None and f.subject == f"payment/ZF1/person/{'p' * 32}" and "not found" in f.findings
    assert "removed" in ben.ben01_not_in_registry(pay(), line(), ben.Registry("removed", "2020-01-01")).findings


def test_ben01_negative():
    assert ben.ben01_not_in_registry(pay(), line(), POOR) is None


def test_ben02_positive():
    f = ben.ben02_disqualifying_record(pay(), line(), [_record("deed_tax", "2025-05-01")], cfg("BEN-02"))
    assert f is not None and "deed_tax" in f.findings and len(f.evidence) == 2


def test_ben02_negative():
    for records in ([_record("deed_tax", "2026-05-01")],  # after the payment
                    [_record("deed_tax", "2019-05-01")],  # beyond the look-back
                    [_record("business_registration", "2025-05-01")]):
        assert ben.ben02_disqualifying_record(pay(), line(), records, cfg("BEN-02")) is None


def test_ben03_positive():
    assert ben.ben03_deceased(pay(), line(), [_record("death", "2025-12-01")]) is not None


def test_ben03_negative():
    assert ben.ben03_deceased(pay(), line(), [_record("death", "2026-06-01")]) is None


def test_ben04_positive():
    first = pay(pid="ZF1", region="410325", date="2026-02-02")
    found = ben.ben04_twice(pay(pid="ZF2"), line(), [(first, line())], cfg("BEN-04"))
    assert [f.subject.split("/person/")[0] for f in found] == ["payment/ZF2"] and "410325" in found[0].findings
    # whichever of the two arrives first, the later one is the duplicate
    found = ben.ben04_twice(first, line(), [(pay(pid="ZF2"), line())], cfg("BEN-04"))
    assert [f.subject.split("/person/")[0] for f in found] == ["payment/ZF2"]


def test_ben04_negative():
    other_type = ben.ben04_twice(pay(pid="ZF2"), line(), [(pay(pid="ZF1"), line(subsidy_type="雨露计划"))], cfg("BEN-04"))
    last_year = ben.ben04_twice(pay(pid="ZF2"), line(), [(pay(pid="ZF1", date="2025-11-02"), line())], cfg("BEN-04"))
    again = ben.ben04_twice(pay(pid="ZF2"), line(), [(pay(pid="ZF2"), line())], cfg("BEN-04"))
    assert other_type == last_year == again == []


def test_ben05_positive():
    assert ben.ben05_payable_paid(pay(), line(payable=Decimal("9000.00"))) is not None


def test_ben05_negative():
    assert ben.ben05_payable_paid(pay(), line()) is None
    assert ben.ben05_payable_paid(pay(), line(payable=None)) is None


def test_ben06_positive():
    status = [_record("business_status", "2026-02-01", status="吊销")]
    f = ben.ben06_bad_status(project_pay(), status, cfg("BEN-06"))
    assert f is not None and f.subject == "enterprise/91410324MA00000001"


def test_ben06_negative():
    assert ben.ben06_bad_status(project_pay(), [_record("business_status", "2026-04-01", status="吊销")],
                                cfg("BEN-06")) is None  # revoked after the payment
    assert ben.ben06_bad_status(project_pay(), [_record("business_status", "2026-01-01", status="存续")],
                                cfg("BEN-06")) is None


def test_ben07_positive():
    f = ben.ben07_young_enterprise(project_pay(amount=Decimal("300000.00")), _record("business_registration", "2026-01-10"),
                                   cfg("BEN-07"))
    assert f is not None and "51 days" in f.findings


def test_ben07_negative():
    assert ben.ben07_young_enterprise(project_pay(amount=Decimal("300000.00")),
                                      _record("business_registration", "2015-01-10"), cfg("BEN-07")) is None
    assert ben.ben07_young_enterprise(project_pay(amount=Decimal("50000.00")),
                                      _record("business_registration", "2026-01-10"), cfg("BEN-07")) is None


def test_ben08_positive():
    f = ben.ben08_related_party(project_pay(), {"410324002": {"id": "ev-staff", "type": "external.recorded"}})
    assert f is not None and f.subject == "enterprise/91410324MA00000001/unit/410324002"


def test_ben08_negative():
    assert ben.ben08_related_party(project_pay(), {"410324009": {"id": "ev", "type": "external.recorded"}}) is None


def test_ben09_positive():
    assert ben.ben09_stable(pay(), line(), ben.Registry("stable", "2021-06-30", "HH1")) is not None


def test_ben09_negative():
    assert ben.ben09_stable(pay(), line(), POOR) is None
    assert ben.ben09_stable(pay(), line(), ben.Registry("stable", "2026-06-30", "HH1")) is None  # marked later
