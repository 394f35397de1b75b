"""Allocation rules (资金分配), ALC-01 … ALC-06."""

from __future__ import annotations

import datetime as dt

from services.alerts.deadlines import complete, tick
from services.alerts.rules import allocation as alc
from tests.alerts.builders import FUNDS, allocation, cfg, doc, exceeded, route_findings


def test_alc01_positive():
    item = alc.alc01_deadline(doc(on="2026-03-02"), dt.date(2026, 3, 2), cfg("ALC-01"))
    assert item.due == "2026-04-01" and item.stream == "ledger/410324"  # 30 calendar days (Budget Law art. 52)
    item, out = tick(item, dt.datetime(2026, 4, 2, tzinfo=dt.timezone(dt.timedelta(hours=8))))
    assert [f.op for f in out] == ["escalate"] and out[0].details["bell_at"].startswith("2026-03-25")


def test_alc01_negative():
    assert alc.alc01_deadline(doc(source="own_arrangement"), dt.date(2026, 3, 2), cfg("ALC-01")) is None
    item = alc.alc01_deadline(doc(on="2026-03-02"), dt.date(2026, 3, 2), cfg("ALC-01"))
    _, out = complete(item, dt.date(2026, 3, 10))
    assert out == []


def test_alc02_positive():
    f = alc.alc02_beyond_pending("e1", "410324", "2026-03-02T10:00:00+08:00", "FP-1", "IND-1", "120.00", "100.00", "C22")
    assert f is not None and f.subject == "allocation/FP-1" and f.rule_id == "ALC-02"


def test_alc02_negative():
    """The ledger decides: only its allocation_beyond_pending raises ALC-02; a payment overdraw is USE-01's."""
    assert [f.rule_id for f in route_findings(exceeded("allocation_beyond_pending", allocation_id="FP-1"))] == ["ALC-02"]
    assert [f.rule_id for f in route_findings(exceeded("payment_beyond_balance", payment_id="ZF1"))] == ["USE-01"]


def test_alc03_positive():
    for name, why in ((None, "no project name"), ("53", "number"), ("水利专项", "generic"),
                      ("根据X财社【2018】16号文，下达2018年困难群众救助补助资金", "fund or document name")):
        f = alc.alc03_project_name(allocation(project_name=name), cfg("ALC-03"))
        assert f is not None and why in f.findings, name


def test_alc03_negative():
    assert alc.alc03_project_name(allocation(), cfg("ALC-03")) is None
    assert alc.alc03_project_name(allocation(kind="own_spending", project=None, project_name=None), cfg("ALC-03")) is None


def test_alc04_positive():
    f = alc.alc04_not_in_library(allocation(project="XMZZ"), project_known=False)
    assert f is not None and f.subject == "allocation/FP-1" and "XMZZ" in f.findings


def test_alc04_negative():
    assert alc.alc04_not_in_library(allocation(), project_known=True) is None


def test_alc05_positive():
    f = alc.alc05_outside_scope(allocation(functional_class="2010350"), FUNDS["C22"], "2130504", cfg("ALC-05"))
    assert f is not None and "outside the scope" in f.findings
    f = alc.alc05_outside_scope(allocation(economic_class="30101"), FUNDS["C22"], "2130504", cfg("ALC-05"))
    assert f is not None and "basic expenditure" in f.findings


def test_alc05_negative():
    assert alc.alc05_outside_scope(allocation(), FUNDS["C22"], "2130504", cfg("ALC-05")) is None
    assert alc.alc05_outside_scope(allocation(functional_class=None), FUNDS["C22"], "21305", cfg("ALC-05")) is None


def test_alc06_positive():
    item = alc.alc06_deadline(doc(advance=True, on="2026-01-13"), cfg("ALC-06"))
    assert item is not None and item.due == "2026-03-31" and item.stream == "indicator/410324"
    _, out = tick(item, dt.datetime(2026, 4, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=8))))
    assert [f.op for f in out] == ["escalate"]


def test_alc06_negative():
    assert alc.alc06_deadline(doc(advance=False), cfg("ALC-06")) is None
    item = alc.alc06_deadline(doc(advance=True, on="2026-01-13"), cfg("ALC-06"))
    _, out = complete(item, dt.date(2026, 2, 10))
    assert out == []
