"""Generate deploy/monitoring/fundwatch-dashboard.json (Grafana) from the metric names of
services/runtime/metrics.py:  python deploy/monitoring/dashboard.py [--check]"""

from __future__ import annotations

import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent / "fundwatch-dashboard.json"

PANELS = [
    ("Events in per topic (/s)", "sum by (service, topic) (rate(fundwatch_events_in_total[5m]))", "ops"),
    ("Events applied per topic (/s)", "sum by (service, topic) (rate(fundwatch_events_applied_total[5m]))", "ops"),
    ("Dead-lettered (15 min)", "sum by (service, topic) (increase(fundwatch_events_dead_lettered_total[15m]))",
     "short"),
    ("Consumer lag (records)", "sum by (service, topic) (fundwatch_consumer_lag)", "short"),
    ("Ingest accepted (/s)", "sum(rate(fundwatch_http_request_duration_seconds_count{service=\"ingest\","
                             "route=~\"/v1/events.*\",status=\"202\"}[5m]))", "reqps"),
    ("Alert transitions by rule and level (1 h)", "sum by (rule, level) (increase(fundwatch_alerts_total[1h]))",
     "short"),
    ("Deliveries by channel and outcome (1 h)",
     "sum by (channel, outcome) (increase(fundwatch_deliveries_total[1h]))", "short"),
    ("Request latency p99 (s)",
     "histogram_quantile(0.99, sum by (service, le) (rate(fundwatch_http_request_duration_seconds_bucket[5m])))",
     "s"),
    ("Requests by status (/s)", "sum by (service, status) (rate(fundwatch_http_request_duration_seconds_count[5m]))",
     "reqps"),
    ("Ready", "min by (service) (fundwatch_ready)", "short"),
    ("Log resets (15 min)", "sum by (service, topic) (increase(fundwatch_log_resets_total[15m]))", "short"),
]


def dashboard() -> dict:
    panels = []
    for i, (title, expr, unit) in enumerate(PANELS):
        panels.append({
            "id": i + 1, "type": "timeseries", "title": title,
            "datasource": {"type": "prometheus", "uid": "${datasource}"},
            "gridPos": {"h": 8, "w": 12, "x": 12 * (i % 2), "y": 8 * (i // 2)},
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "targets": [{"refId": "A", "expr": expr, "legendFormat": "__auto"}],
        })
    return {
        "title": "fundwatch 财政扶贫资金动态监控", "uid": "fundwatch", "schemaVersion": 39, "version": 1,
        "tags": ["fundwatch"], "timezone": "browser", "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [{"name": "datasource", "type": "datasource", "query": "prometheus",
                                 "label": "Prometheus"}]},
        "panels": panels,
    }


def main(argv: list[str]) -> int:
    text = json.dumps(dashboard(), ensure_ascii=False, indent=1) + "\n"
    if "--check" in argv:
        return 0 if OUT.exists() and OUT.read_text(encoding="utf-8") == text else 1
    OUT.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
