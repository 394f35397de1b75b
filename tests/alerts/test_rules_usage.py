"""Fund usage rules (资金使用), USE-01 … USE-09."""

from __future__ import annotations

from decimal import Decimal

from services.alerts.rules import usage as use
from tests.alerts.builders import cfg, exceeded, pay, project_pay, route_findings


def _recent(p, **kw) -> use.Recent:
    base = dict(pid="ZF0", amount=p.amount, purpose=p.purpose, date=p.date, payer_unit=p.payer_unit,
                ev=p.evidence().to_wire())
    base.update(kw)
    return use.Recent(**base)


def test_use01_positive():
    f = use.use01_beyond_balance("e1", "410324", "2026-03-02T10:00:00+08:00", "ZF9", "IND-1", "120.00", "100.00", "C22")
    assert f is not None and f.subject == "payment/ZF9" and f.rule_id == "USE-01"
    assert [x.rule_id for x in route_findings(exceeded("payment_beyond_balance", payment_id="ZF9"))] == ["USE-01"]


def test_use01_negative():
    assert [x.rule_id for x in route_findings(exceeded("allocation_beyond_pending", allocation_id="FP"))] == ["ALC-02"]


def test_use02_positive():
    assert use.use02_payment_date(pay(date=None)) is not None
    assert use.use02_payment_date(pay(date="2026-04-30")) is not None  # dated after it was recorded


def test_use02_negative():
    assert use.use02_payment_date(pay()) is None


def test_use03_positive():
    for econ in ("30217", "31013", "30101", "31001"):
        assert use.use03_prohibited_class(project_pay(economic_class=econ), cfg("USE-03")) is not None, econ


def test_use03_negative():
    for econ in ("31005", "30310", None):
        assert use.use03_prohibited_class(project_pay(economic_class=econ), cfg("USE-03")) is None


def test_use04_positive():
    assert use.use04_cash(project_pay(settlement="cash", amount=Decimal("60000.00")), cfg("USE-04")) is not None


def test_use04_negative():
    assert use.use04_cash(project_pay(settlement="cash", amount=Decimal("50000.00")), cfg("USE-04")) is None
    assert use.use04_cash(project_pay(amount=Decimal("90000.00")), cfg("USE-04")) is None


def test_use05_positive():
    p = project_pay(pid="ZF2")
    f = use.use05_duplicate(p, [_recent(p, pid="ZF1")], cfg("USE-05"))
    assert f is not None and "ZF1" in f.findings and len(f.evidence) == 2


def test_use05_negative():
    p = project_pay(pid="ZF2")
    assert use.use05_duplicate(p, [_recent(p, pid="ZF2")], cfg("USE-05")) is None  # the same payment again
    assert use.use05_duplicate(p, [_recent(p, pid="ZF1", purpose="第2期")], cfg("USE-05")) is None


def test_use06_positive():
    p = project_pay(pid="ZF2", amount=Decimal("60000.00"), date="2026-03-04", purpose="第1期(2)")
    f = use.use06_split(p, [_recent(p, pid="ZF1", amount=Decimal("55000.00"), date="2026-03-02", purpose="第1期")],
                        cfg("USE-06"))
    assert f is not None and "115000.00" in f.findings


def test_use06_negative():
    p = project_pay(pid="ZF2", amount=Decimal("60000.00"), date="2026-03-04")
    far = _recent(p, pid="ZF1", amount=Decimal("55000.00"), date="2026-02-10")
    other_payer = _recent(p, pid="ZF1", amount=Decimal("55000.00"), payer_unit="410324009")
    duplicate = _recent(p, pid="ZF1")  # same amount, purpose, date: USE-05's business
    for r in (far, other_payer, duplicate):
        assert use.use06_split(p, [r], cfg("USE-06")) is None
    big = project_pay(pid="ZF2", amount=Decimal("150000.00"))  # itself above the threshold: approved as such
    assert use.use06_split(big, [_recent(big, pid="ZF1", amount=Decimal("55000.00"))], cfg("USE-06")) is None


def test_use07_positive():
    assert use.use07_not_by_card(pay(channel="direct"), for_households=False) is not None
    assert use.use07_not_by_card(pay(channel="authorised", lines=0), for_households=True) is not None


def test_use07_negative():
    assert use.use07_not_by_card(pay(), for_households=True) is None
    assert use.use07_not_by_card(project_pay(), for_households=True) is None


def test_use08_positive():
    assert use.use08_outside_period(project_pay(date="2026-01-15"), "2026-02-01", "2026-12-31") is not None
    assert use.use08_outside_period(project_pay(date="2027-01-15"), "2026-02-01", "2026-12-31") is not None


def test_use08_negative():
    assert use.use08_outside_period(project_pay(date="2026-03-02"), "2026-02-01", "2026-12-31") is None
    assert use.use08_outside_period(pay(), "2026-04-01", "2026-12-31") is None  # not a project payment


def test_use09_positive():
    f = use.use09_purpose(project_pay(purpose="项目第1期工程款（含公务用车购置）"), cfg("USE-09"))
    assert f is not None and "公务用车" in f.findings


def test_use09_negative():
    assert use.use09_purpose(project_pay(), cfg("USE-09")) is None
