"""End to end on the embedded broker: demo events through ingest → ledger balances, the BEN-01
alert from the faust worker, the notify inbox and the webhook delivery; and a ledger killed
mid-stream that ends with the balances of a clean run."""

from __future__ import annotations

import threading
from collections import Counter
from decimal import Decimal

import httpx
import pytest

from contracts import parse_event
from services import demo
from services.ledger import audit, offline
from services.ledger.batch import caught_up, expected_counters
from services.ledger.recorder import consumed
from services.runtime.auth import issue_token
from tests.clients import api_key, token_header
from tests.platform import ServiceProcess, wait_for
from tests.receivers import Receiver

pytestmark = pytest.mark.integration
LEDGER_TYPES = ("indicator.", "payment.")


def reference_checksum(events: list[dict], url: str, pii_key: bytes) -> audit.Checksum:
    """Balances of one clean in-process pass over `events` (the recorder, no broker)."""
    offline.project(url, [parse_event(e, pii_key=pii_key) for e in events if consumed(e["type"])], topic=None)
    return offline.checksum(url)


def ledger_status(settings) -> dict:
    try:
        return httpx.get(f"{settings.url('ledger')}/v1/status", headers=token_header(settings), timeout=5).json()
    except httpx.HTTPError:
        return {}


def ledger_applied(settings) -> int:
    return ledger_status(settings).get("events_applied", -1)


def ledger_caught_up(settings, raw_events: list[dict]) -> bool:
    """Every input event and reference record applied, nothing parked: a count of indicator and payment
    events alone is reached before the reference data that still moves balances (a special account)."""
    return caught_up(ledger_status(settings), expected_counters(e["type"] for e in raw_events))


def test_demo_end_to_end(make_settings, database_url, tmp_path):
    dataset = demo.generate(size=300)
    with Receiver(fail_first=1) as hook:
        settings = make_settings(database_url, notify_webhook_url=hook.url)
        procs = [ServiceProcess(name, settings, tmp_path).start()
                 for name in ("ledger", "alerts-worker", "alerts", "notify", "ingest")]
        try:
            for p in procs:
                if p.name != "alerts-worker":  # no public port: its alerts show up in notify below
                    p.wait_healthy()
            key = api_key(settings)
            assert demo.send(dataset.events, settings.url("ingest"), api_key=key) == len(dataset.events)
            wait_for(lambda: ledger_caught_up(settings, dataset.events), 120, "ledger caught up", *procs)

            # Balances: paid per county equals the demo's own statistics (seed 002 rule).
            headers = {"Authorization": f"Bearer {issue_token(settings, 't', '000000')}"}
            for county, totals in dataset.summary["counties"].items():
                overview = httpx.get(f"{settings.url('ledger')}/v1/overview", params={"region": county},
                                     headers=headers).json()
                assert Decimal(overview["totals"]["paid"]) == Decimal(totals["paid"]), county
            # …and every balance equals one clean pass of the pure projection.
            assert offline.checksum(database_url) == reference_checksum(
                dataset.events, f"sqlite+aiosqlite:///{tmp_path / 'reference.db'}", settings.pii_key_bytes)

            # BEN-01: exactly the injected beneficiaries reach the inbox and the webhook.
            truth = {g["refs"]["payment_id"] for g in dataset.ground_truth if g["rule_id"] == "BEN-01"}
            assert truth

            def ben01_in_inbox() -> set[str] | None:
                items = httpx.get(f"{settings.url('notify')}/v1/inbox", params={"rule_id": "BEN-01", "limit": 500},
                                  headers=headers, timeout=5).json()["items"]
                found = {i["subject"].split("/")[1] for i in items}
                return found if found >= truth else None

            found = wait_for(ben01_in_inbox, 60, "BEN-01 alerts in the notify inbox", *procs)
            assert found == truth
            wait_for(lambda: {b["data"]["subject"].split("/")[1] for b in hook.payloads()
                              if b["data"]["rule_id"] == "BEN-01"} >= truth, 60, "webhook deliveries", *procs)
            assert hook.requests[0].status == 500  # the first POST failed and was retried
            assert all(b["data"]["level"] == "yellow" for b in hook.payloads() if b["data"]["rule_id"] == "BEN-01")
            per_transition = Counter((b["data"]["alert_id"], b["data"]["transition_id"]) for b in hook.payloads())
            assert max(per_transition.values()) == 1  # one delivery per alert transition, retries included
        finally:
            for p in procs:
                p.stop()


def test_killing_the_ledger_mid_stream_leaves_clean_run_balances(make_settings, sqlite_url, tmp_path):
    dataset = demo.generate(size=3000)
    ledger_count = sum(1 for e in dataset.events if e["type"].startswith(LEDGER_TYPES))
    settings = make_settings(sqlite_url, consumer_batch=200)
    ingest = ServiceProcess("ingest", settings, tmp_path).start().wait_healthy()
    ledger = ServiceProcess("ledger", settings, tmp_path).start().wait_healthy()
    try:
        sender = threading.Thread(target=demo.send, args=(dataset.events, settings.url("ingest")),
                                  kwargs={"batch": 200, "api_key": api_key(settings)})
        sender.start()
        wait_for(lambda: ledger_applied(settings) > ledger_count // 4, 120, "ledger mid-stream", ledger)
        ledger.kill()
        killed_at = ledger_applied(settings)
        assert killed_at == -1
        sender.join(120)
        ledger.start().wait_healthy()
        wait_for(lambda: ledger_caught_up(settings, dataset.events), 120, "ledger caught up after restart", ledger)
        assert ledger_applied(settings) == ledger_count
        assert offline.checksum(sqlite_url) == reference_checksum(
            dataset.events, f"sqlite+aiosqlite:///{tmp_path / 'reference.db'}", settings.pii_key_bytes)
    finally:
        ingest.stop()
        ledger.stop()
