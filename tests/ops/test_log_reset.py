"""The log never silently moves under a consumer: a broker that comes back empty (another cluster
id) is noticed, the partitions are read again from the beginning, and every event acknowledged
after the restart is applied; ingest refuses (503) until the registry's topics exist."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import httpx
import pytest
from aiokafka import TopicPartition

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
        # the events may land on partitions the ledger had no position on (read from the start anyway),
        # so they can be applied before the periodic check has said that the log moved: wait for it
        wait_for(lambda: "log moved under" in (text := ledger.log.read_text()) and "cluster id" in text, 60,
                 "the ledger saying the log moved", ledger)
        for e in before:  # applied before the reset, still there once (not re-applied from nowhere)
            assert _indicator(settings, e["data"]["indicator_id"]) is not None
    finally:
        ingest.stop()
        ledger.stop()
        broker.stop()


def _alerts_on(bootstrap: str, topic: str) -> list[dict]:
    """Every alert transition on the alert topic, from its beginning."""
    import json

    from aiokafka import AIOKafkaConsumer

    async def run() -> list[dict]:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
            if not tps:
                return []
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            out: list[dict] = []
            while batch := await consumer.getmany(timeout_ms=1000):
                out += [json.loads(r.value)["data"] for rs in batch.values() for r in rs]
            return out
        finally:
            await consumer.stop()

    try:
        return asyncio.run(run())
    except Exception:
        return []


def _publish(settings, events: list[dict]) -> None:
    import json

    from contracts.envelope import parse_event
    from services.runtime.kafka import make_producer

    async def run() -> None:
        producer = make_producer(settings)
        await producer.start()
        try:
            for raw in events:
                e = parse_event(json.dumps(raw).encode(), pii_key=settings.pii_key_bytes)  # as ingest does
                await producer.send_and_wait(settings.topic(e.family), e.to_json(), key=e.key)
        finally:
            await producer.stop()

    asyncio.run(run())


def test_an_empty_broker_restart_under_a_running_alerts_worker_judges_every_later_event(make_settings, sqlite_url,
                                                                                        tmp_path, monkeypatch):
    """The alerts worker recognises repeats by offset, which a new log reuses: it notices the log moved
    (another cluster id), starts over in place from what the new log holds, and every event
    acknowledged after the restart is judged — each alert once."""
    from tests.alerts.test_rules_accounts import PAYER, account, paid

    monkeypatch.setenv("FUNDWATCH_ALERTS_IDLE_S", "3")
    monkeypatch.setenv("FUNDWATCH_ALERTS_TICK_S", "0.3")
    broker = EmbeddedBroker(free_port(), log_path=tmp_path / "tansu.log").start()
    settings = make_settings(sqlite_url, kafka_bootstrap=broker.bootstrap)
    alert_topic = settings.topic("alert")
    asyncio.run(ensure_topics(settings))
    worker = ServiceProcess("alerts-worker", settings, tmp_path).start()
    pid = worker.process.pid

    def raised(subjects: set[str]) -> list[dict] | None:
        found = [a for a in _alerts_on(broker.bootstrap, alert_topic)
                 if a.get("rule_id") == "ACC-01" and a.get("transition") == "raised"]
        return found if subjects <= {a["subject"] for a in found} else None

    try:
        _publish(settings, [account(PAYER, "栾川县扶贫办", kind="unit"), paid("ZF-BEFORE")])
        wait_for(lambda: raised({"payment/ZF-BEFORE"}), 180, "the alert before the restart", worker)

        broker.kill()
        broker.start()  # same port, empty log, new cluster id, no topics
        asyncio.run(ensure_topics(settings))
        after = [account(PAYER, "栾川县扶贫办", kind="unit"), *(paid(f"ZF-AFTER-{i}") for i in range(3))]
        _publish(settings, after)  # acknowledged by the new broker
        want = {f"payment/ZF-AFTER-{i}" for i in range(3)}
        found = wait_for(lambda: raised(want), 240, "every event after the restart judged", worker)
        time.sleep(5)  # anything doubled would come within the worker's next rounds
        found = raised(want) or found
        per_subject = Counter(a["subject"] for a in found)
        assert set(per_subject) == want and max(per_subject.values()) == 1, per_subject
        assert worker.process.poll() is None and worker.process.pid == pid  # started over in place
        text = worker.log.read_text(errors="replace")
        assert "log moved under the alerts worker" in text and "cluster id" in text
    finally:
        worker.stop()
        broker.stop()
