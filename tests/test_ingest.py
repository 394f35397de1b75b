"""Ingest against the real embedded broker: 202 after acknowledgement, 422 naming row and field
(nothing of a bad batch published), 503 when the broker is unreachable."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from contracts import parse_event
from contracts.topics import Family
from services.runtime.broker import free_port
from services.runtime.kafka import make_consumer
from tests import factories as f
from tests.platform import ServiceProcess


async def read_all(settings, family: Family, timeout_ms: int = 3000) -> list[bytes]:
    consumer = make_consumer(settings, f"reader-{free_port()}", settings.topic(family))
    await consumer.start()
    try:
        out: list[bytes] = []
        while True:
            batch = await consumer.getmany(timeout_ms=timeout_ms)
            if not batch:
                return out
            out += [m.value for msgs in batch.values() for m in msgs]
    finally:
        await consumer.stop()


@pytest.fixture
def ingest(make_settings, sqlite_url, tmp_path):
    settings = make_settings(sqlite_url)
    proc = ServiceProcess("ingest", settings, tmp_path).start().wait_healthy()
    yield settings
    proc.stop()


def test_accepted_events_are_on_their_topics_with_personal_data_hashed(ingest):
    person = f.citizen_id(3)
    batch = [f.registered("I1", "10.00"), f.payment("P1", "I1", "10.00", person=person)]
    r = httpx.post(f"{ingest.url('ingest')}/v1/events/batch", json=batch, timeout=30)
    assert r.status_code == 202, r.text
    assert r.json()["accepted"] == 2
    payments = asyncio.run(read_all(ingest, Family.payment))
    assert len(payments) == 1 and person.encode() not in payments[0]
    assert parse_event(payments[0]).data.payment_id == "P1"
    assert [parse_event(v).id for v in asyncio.run(read_all(ingest, Family.indicator))] == [batch[0]["id"]]
    single = httpx.post(f"{ingest.url('ingest')}/v1/events", json=f.registered("I2", "1.00"), timeout=30)
    assert single.status_code == 202


def test_bad_batch_names_row_and_field_and_publishes_nothing(ingest):
    good = f.registered("I1", "10.00")
    bad = f.payment("P1", "I1", 10.5)
    worse = f.registered("I2", "1.00", region="999999")
    r = httpx.post(f"{ingest.url('ingest')}/v1/events/batch", json=[good, bad, worse], timeout=30)
    assert r.status_code == 422
    errors = {(e["row"], e["field"]) for e in r.json()["errors"]}
    assert errors == {(1, "data.amount"), (2, "region")}
    assert asyncio.run(read_all(ingest, Family.indicator, timeout_ms=1500)) == []
    r = httpx.post(f"{ingest.url('ingest')}/v1/events/batch", content=b"{not json", timeout=30)
    assert r.status_code == 422
    alert = f.event("alert.transitioned", {})
    r = httpx.post(f"{ingest.url('ingest')}/v1/events", json=alert, timeout=30)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "type"


def test_same_id_with_different_content_is_refused(ingest):
    a = f.registered("I1", "10.00", id="same")
    b = f.registered("I1", "11.00", id="same")
    r = httpx.post(f"{ingest.url('ingest')}/v1/events/batch", json=[a, b], timeout=30)
    assert r.status_code == 422 and r.json()["errors"][0] == {
        "row": 1, "field": "id", "type": "value_error", "message": "event id same repeats with different content"}
    r = httpx.post(f"{ingest.url('ingest')}/v1/events/batch", json=[a, a], timeout=30)
    assert r.status_code == 202 and r.json()["accepted"] == 1


def test_unreachable_broker_gives_503_not_202(make_settings, sqlite_url, tmp_path):
    settings = make_settings(sqlite_url, kafka_bootstrap=f"127.0.0.1:{free_port()}")
    proc = ServiceProcess("ingest", settings, tmp_path).start().wait_healthy()
    try:
        r = httpx.post(f"{settings.url('ingest')}/v1/events", json=f.registered("I1", "1.00"), timeout=60)
        assert r.status_code == 503, r.text
        assert r.headers["retry-after"] == "5"
    finally:
        proc.stop()
