"""A bad record written straight to an internal topic (not through the intake topics) reaches every
consumer of that topic — the ledger and notify (or alerts) each refuse it — and is still one dead letter: the
first refusal is listed, the other consumer is noted on it. (The test uses the reference topic,
which the ledger and notify both project.)"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from contracts.topics import Family
from services.runtime.auth import Role
from services.runtime.kafka import ensure_topics, make_producer
from tests.clients import token_header
from tests.platform import ServiceProcess, wait_for
from tests.test_ingest import read_all

pytestmark = pytest.mark.integration


async def _write(settings, topic: str, value: bytes) -> None:
    producer = make_producer(settings)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=b"410324")
    finally:
        await producer.stop()


def test_a_bad_record_on_an_internal_topic_is_one_dead_letter_however_many_consumers_refuse_it(
        make_settings, sqlite_url, tmp_path):
    settings = make_settings(sqlite_url)
    asyncio.run(ensure_topics(settings))
    procs = [ServiceProcess(name, settings, tmp_path).start() for name in ("ingest", "ledger", "notify")]
    try:
        for p in procs:
            p.wait_healthy(120)
        # not an event at all: every consumer of the reference topic refuses it (the ledger's, notify's)
        asyncio.run(_write(settings, settings.topic(Family.reference), b'{"specversion": "1.0", "type": "region.'))
        admin = token_header(settings, "000000", roles=(Role.sysadmin,))
        url = f"{settings.url('ingest')}/v1/deadletters"

        def both_refused() -> list | None:  # the ledger's and notify's refusals both on the dead-letter topic
            on_topic = [json.loads(v) for v in asyncio.run(read_all(settings, Family.deadletter, timeout_ms=1000))]
            return on_topic if len({r["consumer"] for r in on_topic}) >= 2 else None

        on_topic = wait_for(both_refused, 180, "the ledger and notify both refusing the record", *procs)
        assert {r["source_topic"] for r in on_topic} == {settings.topic(Family.reference)}

        def listed() -> dict | None:
            page = httpx.get(url, headers=admin, timeout=10).json()
            return page if page["items"] and page["items"][0]["also_refused_by"] else None

        page = wait_for(listed, 60, "the dead letter noting both consumers", *procs)
        assert page["total"] == 1
        letter = page["items"][0]
        consumers = {letter["consumer"], *letter["also_refused_by"]}
        assert len(consumers) == 2 and any("notify" in c for c in consumers), consumers
        by_other = httpx.get(url, params={"consumer": letter["also_refused_by"][0]}, headers=admin, timeout=10)
        assert by_other.json()["total"] == 1  # found under either consumer
    finally:
        for p in procs:
            p.stop()


def test_the_table_keeps_one_dead_letter_per_record_and_notes_the_other_consumers(database_url):
    from services.ingest import deadletters, store
    from services.runtime.db import make_engine, migrate_async
    from services.runtime.kafka import dead_letter_record

    def letter(offset: int, consumer: str, source_offset: int = 7) -> dict:
        record = dead_letter_record(consumer=consumer, source_topic="fundwatch.payment.v1", partition=2,
                                    offset=source_offset, value=b"{", reason=f"{consumer}: invalid event")
        return deadletters.row_of(0, offset, json.dumps(record).encode())

    async def go() -> None:
        await migrate_async(database_url, "ingest")
        engine = make_engine(database_url)
        try:
            async with engine.begin() as conn:
                added = await store.add_deadletters(conn, [
                    letter(0, "fundwatch-ledger"), letter(1, "alerts router"), letter(2, "fundwatch-ledger"),
                    letter(3, "alerts router", source_offset=8)])
            assert added == 2  # offsets 7 and 8 of the payment topic
            async with engine.connect() as conn:
                rows, total = await store.list_deadletters(conn, "", replayed=None, consumer=None, limit=10, offset=0)
                assert total == 2
                assert [(r.offset, r.consumer, r.also_refused_by) for r in rows] == [
                    (0, "fundwatch-ledger", "alerts router"), (3, "alerts router", None)]
                _rows, by_alerts = await store.list_deadletters(conn, "", replayed=None, consumer="alerts router",
                                                                limit=10, offset=0)
                assert by_alerts == 2
        finally:
            await engine.dispose()

    asyncio.run(go())
