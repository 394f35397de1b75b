"""Ingest refuses event times beyond its horizon (issue 9): a `time` of 9999-12-31 or 1970-01-01
would move the platform's clock, so the row is refused naming the field, the row and the horizon."""

from __future__ import annotations

import datetime as dt

import pytest

from services.ingest.validation import Horizon, validate_rows
from services.runtime.settings import Settings
from tests import factories as f

pytestmark = pytest.mark.unit
NOW = dt.datetime(2026, 12, 2, tzinfo=dt.UTC)
KEY = b"test pii key"


def test_far_future_and_far_past_times_are_refused_with_row_field_and_horizon():
    good = f.registered("I1", "10.00")
    future = {**f.registered("I2", "1.00"), "time": "9999-12-31T23:59:59+00:00"}
    past = {**f.registered("I3", "1.00"), "time": "1970-01-01T00:00:00+00:00"}
    events, errors = validate_rows([good, future, past], KEY, horizon=Horizon(3660, 366, NOW))
    assert [e.id for e in events] == [good["id"]]
    assert [(e["row"], e["field"], e["type"]) for e in errors] == [
        (1, "time", "time_out_of_horizon"), (2, "time", "time_out_of_horizon")]
    assert "now + 366 days (2027-12-03, FUNDWATCH_INGEST_MAX_FUTURE_DAYS)" in errors[0]["message"]
    assert "9999-12-31" in errors[0]["message"]
    assert "now - 3660 days (2016-11-24, FUNDWATCH_INGEST_MAX_PAST_DAYS)" in errors[1]["message"]


def test_the_horizon_is_configured_and_its_edges_are_inside():
    settings = Settings(ingest_max_future_days=10, ingest_max_past_days=20)
    horizon = Horizon.of(settings)
    assert (horizon.past_days, horizon.future_days) == (20, 10)
    pinned = Horizon(20, 10, NOW)
    assert pinned.refusal(NOW + dt.timedelta(days=10)) is None
    assert pinned.refusal(NOW - dt.timedelta(days=20)) is None
    assert "later than" in (pinned.refusal(NOW + dt.timedelta(days=10, seconds=1)) or "")
    assert "earlier than" in (pinned.refusal(NOW - dt.timedelta(days=20, seconds=1)) or "")
    assert (Settings().ingest_max_future_days, Settings().ingest_max_past_days) == (366, 3660)
