"""The monitor's rates: deltas of counters between readings, never invented (pure, no platform)."""

from __future__ import annotations

from services.console.ops_pages import WINDOW_S, Reading, Sampler, metric_sums, rate_text, rates, topic_label


def test_a_rate_is_the_counter_delta_over_the_time_between_readings():
    s = Sampler()
    assert s.add("410000", Reading(100.0, {"topic:a": 10})) is None  # one reading: no rate yet
    assert s.add("410000", Reading(100.5, {"topic:a": 12})) is None  # too close to the first
    base = s.add("410000", Reading(104.0, {"topic:a": 50, "topic:b": 7}))
    assert base is not None and base.at == 100.0
    r = rates(base, Reading(104.0, {"topic:a": 50, "topic:b": 7}))
    assert r == {"topic:a": 10.0, "topic:b": 7 / 4}
    assert rate_text(r["topic:a"]) == "10.0" and rate_text(None) == "计算中…"
    # a counter that went down (ingest restarted) gives no rate, not a negative one
    assert rates(Reading(0, {"x": 9}), Reading(2, {"x": 3})) == {"x": None}
    # readings older than the window are dropped; other scopes keep their own
    assert s.add("410000", Reading(104.0 + WINDOW_S - 1, {"topic:a": 50})).at == 104.0
    assert s.add("410324", Reading(200.0, {"topic:a": 1})) is None


def test_metric_sums_add_up_a_label_of_a_prometheus_exposition():
    text = ('# TYPE fundwatch_consumer_lag gauge\n'
            'fundwatch_consumer_lag{partition="0",service="ledger",topic="t.payment.v1"} 3.0\n'
            'fundwatch_consumer_lag{partition="1",service="ledger",topic="t.payment.v1"} 4.0\n'
            '# TYPE fundwatch_events_applied_total counter\n'
            'fundwatch_events_applied_total{service="ledger",topic="t.payment.v1"} 12.0\n')
    assert metric_sums(text, "fundwatch_consumer_lag", "service") == {"ledger": 7.0}
    assert metric_sums(text, "fundwatch_events_applied_total", "service") == {"ledger": 12.0}
    assert topic_label("fundwatch.intake.payment.v1", "intake") == "上游接入 · 支付"
    assert topic_label("fundwatch.payment.v1", "payment") == "支付"
