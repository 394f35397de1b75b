"""Platform time (watermarks.py) on hand-made progress reports: what each family is complete up to."""

from __future__ import annotations

import datetime as dt

import pytest

from services.alerts.watermarks import NEVER, LedgerPosition, PartitionProgress, compute, merge_progress

pytestmark = pytest.mark.unit
DAY = dt.timedelta(days=1)
LATE = dict.fromkeys(("reference", "indicator", "payment", "performance"), DAY)


def t(day: int) -> str:
    return dt.datetime(2026, 3, day, tzinfo=dt.UTC).isoformat()


def busy(day: int, position: int = 10) -> PartitionProgress:
    return PartitionProgress(position, t(day), False, 1000.0, 1000.0)


def test_a_family_is_complete_up_to_its_least_busy_partition_less_its_lateness():
    progress = {"payment:0": busy(20), "payment:1": busy(12), "indicator:0": busy(25), "reference:0": busy(25),
                "performance:0": busy(25)}
    marks = compute(progress, {}, wall=1001.0, event_time=True, lateness=LATE, idle_s=5, ledger_partitions=0)
    assert marks["payment"] == dt.datetime(2026, 3, 11, tzinfo=dt.UTC)
    assert marks["indicator"] == dt.datetime(2026, 3, 24, tzinfo=dt.UTC)
    assert marks["clock"] == dt.datetime(2026, 3, 12, tzinfo=dt.UTC)


def test_a_partition_no_router_has_reported_on_holds_its_family_back():
    """Two routers each report the partitions they hold; until both are heard from, the family waits."""
    progress = {"payment:0": busy(20), "indicator:0": busy(20), "reference:0": busy(20), "performance:0": busy(20)}
    counts = {"payment": 2, "indicator": 1, "reference": 1, "performance": 1}
    marks = compute(progress, {}, wall=1001.0, event_time=True, lateness=LATE, idle_s=5, ledger_partitions=0,
                    input_partitions=counts)
    assert marks["payment"] == NEVER and marks["indicator"] == NEVER  # nothing is decided while one is unknown
    progress["payment:1"] = busy(18)
    marks = compute(progress, {}, wall=1001.0, event_time=True, lateness=LATE, idle_s=5, ledger_partitions=0,
                    input_partitions=counts)
    assert marks["payment"] == dt.datetime(2026, 3, 17, tzinfo=dt.UTC)
    assert marks["indicator"] == dt.datetime(2026, 3, 19, tzinfo=dt.UTC)


def test_a_quiet_partition_holds_everything_until_the_whole_input_has_ended():
    """Sources deliver separately: the quiet partition's source may have finished, or its extraction
    may still be to come months behind in event time. So nothing moves until every partition is quiet;
    then every family is complete up to the furthest event seen."""
    quiet = PartitionProgress(10, t(25), True, 990.0, 1000.0)  # read to its end, nothing for 10 s
    progress = {"payment:0": busy(20), "indicator:0": quiet, "reference:0": busy(20), "performance:0": busy(20)}
    marks = compute(progress, {}, wall=1000.0, event_time=True, lateness=LATE, idle_s=5, ledger_partitions=0)
    assert {f: marks[f] for f in ("payment", "indicator", "reference", "performance")} == \
        dict.fromkeys(("payment", "indicator", "reference", "performance"), NEVER)
    ended = {tp: PartitionProgress(p.position, p.newest, True, 990.0, 1000.0) for tp, p in progress.items()}
    marks = compute(ended, {}, wall=1000.0, event_time=True, lateness=LATE, idle_s=5, ledger_partitions=0)
    assert marks["payment"] == marks["indicator"] == marks["ledger"] == dt.datetime(2026, 3, 25, tzinfo=dt.UTC)


def test_the_ledger_holds_its_watermark_back_to_what_it_has_confirmed():
    progress = {"payment:0": busy(20, position=10), "indicator:0": busy(20, position=5),
                "reference:0": busy(20), "performance:0": busy(20)}
    ledger = {"0": {"payment:0": LedgerPosition(7, t(9)), "indicator:0": LedgerPosition(5, t(20))}}
    marks = compute(progress, ledger, wall=1001.0, event_time=True, lateness=LATE, idle_s=5, ledger_partitions=1)
    assert marks["ledger"] == dt.datetime(2026, 3, 8, tzinfo=dt.UTC)  # payment:0 applied up to 03-09 only
    ledger["0"]["payment:0"] = LedgerPosition(10, t(20))
    marks = compute(progress, ledger, wall=1001.0, event_time=True, lateness=LATE, idle_s=5, ledger_partitions=1)
    assert marks["ledger"] == dt.datetime(2026, 3, 19, tzinfo=dt.UTC)


def test_a_restarted_router_does_not_take_a_partition_backwards():
    known = {"payment:0": PartitionProgress(100, t(20), False, 1000.0, 1000.0)}
    # the new router resumes from its committed offset and has routed nothing yet
    changed = merge_progress(known, {"payment:0": PartitionProgress(0, None, True, 0.0, 1010.0)})
    assert changed
    assert known["payment:0"] == PartitionProgress(100, t(20), True, 1000.0, 1010.0)
    merge_progress(known, {"payment:0": PartitionProgress(120, t(22), False, 1020.0, 1020.0)})
    assert known["payment:0"] == PartitionProgress(120, t(22), False, 1020.0, 1020.0)
