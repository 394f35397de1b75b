"""The log never silently moves under a consumer: a broker that comes back empty (another cluster
id) is noticed, the partitions are read again from the beginning, and every event acknowledged
after the restart is applied; ingest refuses (503) until the registry's topics exist."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from services.runtime.broker import EmbeddedBroker, free_port
from services.runtime.kafka import ensure_topics
from tests.clients import api_key, key_header, token_header
from tests.factories import registered
from tests.platform import ServiceProcess, wait_for

pytestmark = pytest.mark.integration


def _post(settings, key: str, events: list[dict]) -> httpx.Response | None:
    try:
        return httpx.post(f"{settings.url('ingest')}/v1/events/batch", json=events, headers=key_header(key), timeout=20)
    except httpx.HTTPError:
        return None


def _indicator(settings, indicator_id: str) -> dict | None:
    try:
        r = httpx.get(f"{settings.url('ledger')}/v1/indicators/{indicator_id}", headers=token_header(settings),
                      timeout=5)
    except httpx.HTTPError:
        return None
    return r.json() if r.status_code == 200 else None


def test_events_after_an_empty_broker_restart_are_all_applied(make_settings, sqlite_url, tmp_path):
    broker = EmbeddedBroker(free_port(), log_path=tmp_path / "tansu.log").start()
    settings = make_settings(sqlite_url, kafka_bootstrap=broker.bootstrap)
    asyncio.run(ensure_topics(settings))
    key = api_key(settings, scope="410324")
    ingest = ServiceProcess("ingest", settings, tmp_path).start().wait_healthy()
    ledger = ServiceProcess("ledger", settings, tmp_path).start().wait_healthy()
    try:
        before = [registered(f"R-BEFORE-{i}", "100.00") for i in range(2)]
        assert _post(settings, key, before).status_code == 202
        wait_for(lambda: all(_indicator(settings, e["data"]["indicator_id"]) for e in before), 90,
                 "the first events applied", ledger, ingest)

        broker.kill()
        broker.start()  # same port, empty log, new cluster id, no topics
        refused = wait_for(lambda: (r := _post(settings, key, [registered("R-REFUSED", "1.00")])) is not None
                           and r.status_code == 503 and "topics missing" in r.text and r, 60,
                           "ingest refusing until the topics exist", ingest)
        assert "nothing accepted" in refused.json()["detail"]

        asyncio.run(ensure_topics(settings))
        after = [registered(f"R-AFTER-{i}", f"{10 + i}.00") for i in range(4)]
        accepted = wait_for(lambda: (r := _post(settings, key, after)) is not None and r.status_code == 202 and r,
                            60, "ingest accepting on the new broker", ingest)
        assert accepted.json()["ids"] == [e["id"] for e in after]
        found = wait_for(lambda: all(_indicator(settings, e["data"]["indicator_id"]) for e in after)
                         and [_indicator(settings, e["data"]["indicator_id"]) for e in after], 120,
                         "every event acknowledged after the restart applied", ledger, ingest)
        assert [d["indicator"]["amount"] if "indicator" in d else d["amount"] for d in found] == \
            ["10.00", "11.00", "12.00", "13.00"]
        assert _indicator(settings, "R-REFUSED") is None  # refused means not published
        assert "log moved under" in ledger.log.read_text() and "cluster id" in ledger.log.read_text()
        for e in before:  # applied before the reset, still there once (not re-applied from nowhere)
            assert _indicator(settings, e["data"]["indicator_id"]) is not None
    finally:
        ingest.stop()
        ledger.stop()
        broker.stop()
