"""Event builders for the notify tests."""

from __future__ import annotations

import datetime as dt
import uuid

from contracts.alert import AlertLevel, AlertTransitioned, AlertTransitionKind
from contracts.envelope import Envelope, make_event
from contracts.reference import GroupAssigned

NOW = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)


def alert_event(region: str = "410324", *, fund_code: str | None = "F-AGRI", group_code: str | None = None,
                level: AlertLevel = AlertLevel.yellow, rule_id: str = "USE-05", alert_id: str | None = None,
                shadow: bool = False) -> Envelope:
    alert_id = alert_id or f"alert-{uuid.uuid4().hex[:12]}"
    data = AlertTransitioned(
        alert_id=alert_id, transition_id=f"{alert_id}-1", transition=AlertTransitionKind.raised,
        rule_id=rule_id, category="fund usage", title_zh="重复支付", title_en="Duplicate payment",
        subject="payment:P-0001", level=level, fund_code=fund_code, group_code=group_code, at=NOW, shadow=shadow,
    )
    return make_event("alert.transitioned", data, id=f"evt-{uuid.uuid4().hex}", region=region, time=NOW,
                      source="/fundwatch/alerts", subject=alert_id)


def group_event(scope_region: str, group_code: str, group_name: str, fund_codes: list[str] | None = None) -> Envelope:
    data = GroupAssigned(group_code=group_code, group_name=group_name, fund_codes=fund_codes or [])
    return make_event("group.assigned", data, id=f"evt-{uuid.uuid4().hex}", region=scope_region, time=NOW,
                      source="/registry/groups")
