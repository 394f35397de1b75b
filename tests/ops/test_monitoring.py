"""deploy/monitoring: the Prometheus rules and the Grafana dashboard use metrics the services export."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import yaml
from prometheus_client import REGISTRY

import services.runtime.metrics  # noqa: F401 - registers the metrics

ROOT = Path(__file__).resolve().parents[2]
MON = ROOT / "deploy" / "monitoring"
_NAME = re.compile(r"\bfundwatch_[a-z_]+")


def _exported() -> set[str]:
    names = set()
    for family in REGISTRY.collect():
        names |= {family.name + s for s in ("", "_total", "_bucket", "_count", "_sum", "_created")}
    return names


def test_rules_parse_and_use_exported_metrics():
    rules = yaml.safe_load((MON / "fundwatch-rules.yaml").read_text(encoding="utf-8"))
    found = [r for g in rules["groups"] for r in g["rules"]]
    assert {r["alert"] for r in found} >= {"FundwatchNotReady", "FundwatchConsumerLagGrowing", "FundwatchDeadLetters",
                                           "FundwatchLogReset", "FundwatchDeliveriesFailing"}
    for r in found:
        assert r["labels"]["severity"] in {"page", "warn", "info"} and r["annotations"]["summary"]
        assert set(_NAME.findall(r["expr"])) <= _exported(), r["alert"]


def test_dashboard_is_generated_and_uses_exported_metrics():
    assert subprocess.run([sys.executable, str(MON / "dashboard.py"), "--check"], check=False).returncode == 0
    board = json.loads((MON / "fundwatch-dashboard.json").read_text(encoding="utf-8"))
    exprs = [t["expr"] for p in board["panels"] for t in p["targets"]]
    assert len(exprs) >= 10
    used = {n for e in exprs for n in _NAME.findall(e)}
    assert used <= _exported()
    assert {"fundwatch_events_in_total", "fundwatch_events_applied_total", "fundwatch_consumer_lag",
            "fundwatch_alerts_total", "fundwatch_deliveries_total"} <= used
