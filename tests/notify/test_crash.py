"""Exactly once per (alert, transition, target) across kill -9 of a real notify process: a
flood is projected, notify is killed mid-delivery and started again, and every alert reaches
each receiver; what a receiver sees twice is only the same message again (same webhook-id,
same Alertmanager payload), which receivers de-duplicate."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import httpx
import pytest

from tests.clients import token_header
from tests.notify.builders import alert_event
from tests.notify.receivers import HttpReceiver
from tests.notify.test_service import publish
from tests.platform import ServiceProcess, wait_for

pytestmark = pytest.mark.integration
WHSEC = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
N = 300


def test_exactly_once_across_kill_9(make_settings, sqlite_url, tmp_path) -> None:
    hook, am = HttpReceiver("webhook", secret=WHSEC), HttpReceiver("alertmanager")
    settings = make_settings(sqlite_url, notify_group_wait_s=0.3, notify_group_interval_s=0.3)
    headers = token_header(settings)
    notify = ServiceProcess("notify", settings, tmp_path).start().wait_healthy()
    try:
        for channel, url, secret in (("webhook", hook.url, WHSEC), ("alertmanager", am.url, None)):
            r = httpx.post(f"{settings.url('notify')}/v1/targets", headers=headers,
                           json={"group_code": "*", "channel": channel, "target": url, "secret": secret})
            assert r.status_code == 201, r.text
        events = [alert_event(f"4103{21 + i % 5:02d}", rule_id=("USE-05", "BEN-01")[i % 2], alert_id=f"K{i:04d}")
                  for i in range(N)]
        asyncio.run(publish(settings, *events))
        wait_for(lambda: len(hook.accepted) >= 20, 60, "the first deliveries", notify)
        notify.kill()
        seen_before_restart = len(hook.accepted)
        notify.start().wait_healthy()

        expected = {e.data.alert_id for e in events}

        def webhook_ids() -> set[str]:
            return {r.headers["webhook-id"].split("/")[0] for r in hook.accepted}

        def am_ids() -> set[str]:
            return {a["labels"]["alert_id"] for b in am.bodies() for a in b["alerts"]}

        wait_for(lambda: webhook_ids() == expected and am_ids() == expected, 120, "every alert on both", notify)
        assert seen_before_restart < N  # the kill came mid-flood
        # Webhook: one id per transition; a repeat is the same id (the receiver's de-duplication key).
        per_id = Counter(r.headers["webhook-id"] for r in hook.accepted)
        assert len(per_id) == N
        bodies_per_id: dict[str, set[bytes]] = {}
        for r in hook.accepted:
            bodies_per_id.setdefault(r.headers["webhook-id"], set()).add(r.body)
        assert all(len(b) == 1 for b in bodies_per_id.values())
        # Alertmanager: each alert in exactly one distinct message.
        distinct = {json.dumps(b, sort_keys=True) for b in am.bodies()}
        listed = Counter(a["labels"]["alert_id"] for b in map(json.loads, distinct) for a in b["alerts"])
        assert set(listed) == expected and set(listed.values()) == {1}
        def status() -> dict:
            return httpx.get(f"{settings.url('notify')}/v1/status", headers=headers).json()

        # what was sent but not yet recorded at the kill is sent again when its lease runs out
        wait_for(lambda: status()["channels"]["webhook"]["delivered"] == N, 120, "every webhook recorded", notify)
        final = status()
        assert final["channels"]["webhook"]["delivered"] == N
        assert final["channels"]["alertmanager"]["delivered_alerts"] == N
        assert final["waiting_items"] == 0
    finally:
        notify.stop()
        hook.close()
        am.close()
