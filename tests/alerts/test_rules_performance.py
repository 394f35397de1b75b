"""Performance rules (绩效), PERF-01 … PERF-04."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from services.alerts.deadlines import complete, tick
from services.alerts.rules import performance as perf
from tests.alerts.builders import cfg

CST = dt.timezone(dt.timedelta(hours=8))


def test_perf01_positive():
    item = perf.perf01_deadline("XM1", "410324", dt.date(2026, 3, 2), (), cfg("PERF-01"))
    assert item.due == "2026-03-09" and item.subject == "project/XM1/targets"
    _, out = complete(item, dt.date(2026, 3, 16))
    assert [f.op for f in out] == ["escalate"]


def test_perf01_negative():
    item = perf.perf01_deadline("XM1", "410324", dt.date(2026, 3, 2), (), cfg("PERF-01"))
    _, out = complete(item, dt.date(2026, 3, 2))
    assert out == []


def test_perf02_positive():
    f = perf.perf02_behind("XM1", "410324", "2026-09-30T10:00:00+08:00", "XM1-M1", "硬化道路长度", Decimal("10"),
                           Decimal("1"), dt.date(2026, 3, 2), dt.date(2026, 12, 31), dt.date(2026, 9, 30),
                           cfg("PERF-02"), ())
    assert f is not None and f.subject == "project/XM1/metric/XM1-M1/period/2026-09-30"


def test_perf02_negative():
    args = ("XM1", "410324", "2026-09-30T10:00:00+08:00", "XM1-M1", "硬化道路长度", Decimal("10"))
    assert perf.perf02_behind(*args, Decimal("7"), dt.date(2026, 3, 2), dt.date(2026, 12, 31), dt.date(2026, 9, 30),
                              cfg("PERF-02"), ()) is None
    # a checkpoint too early in the project to judge (expected share below 20 %)
    assert perf.perf02_behind(*args, Decimal("0"), dt.date(2026, 6, 1), dt.date(2026, 12, 31), dt.date(2026, 6, 30),
                              cfg("PERF-02"), ()) is None


def test_perf03_positive():
    assert perf.perf03_applies(dt.date(2026, 3, 2), dt.date(2026, 6, 30), cfg("PERF-03"))
    item = perf.perf03_deadline("XM1", "410324", dt.date(2026, 6, 30), (), cfg("PERF-03"))
    assert item.due == "2026-07-14" and item.bell == "2026-07-10"
    item, out = tick(item, dt.datetime(2026, 7, 10, 9, tzinfo=CST))
    assert [f.op for f in out] == ["bell"]
    _, out = tick(item, dt.datetime(2026, 7, 15, 9, tzinfo=CST))
    assert [f.op for f in out] == ["escalate"]


def test_perf03_negative():
    assert not perf.perf03_applies(dt.date(2026, 6, 15), dt.date(2026, 6, 30), cfg("PERF-03"))
    item = perf.perf03_deadline("XM1", "410324", dt.date(2026, 6, 30), (), cfg("PERF-03"))
    _, out = complete(item, dt.date(2026, 7, 8))
    assert out == []


def test_perf04_positive():
    f = perf.perf04_below_target("XM1", "410324", "e1", "2026-12-14T10:00:00+08:00", Decimal("72.5"), Decimal("80"),
                                 "2026-12-14")
    assert f is not None and f.subject == "project/XM1/evaluation"


def test_perf04_negative():
    assert perf.perf04_below_target("XM1", "410324", "e1", "2026-12-14T10:00:00+08:00", Decimal("80"), Decimal("80"),
                                    "2026-12-14") is None
