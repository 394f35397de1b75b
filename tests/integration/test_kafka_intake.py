"""Kafka-native intake with a stock Kafka producer (aiokafka, nothing of fundwatch's): a good
structured and a good binary record are forwarded to the internal topic stamped with their client;
a bad record and one without credentials are dead-lettered once each, by `ingest intake`, with
the time and the reason; the API and the CLI list them, the bad one is applied once a fixed copy
is replayed, and never twice."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import subprocess
import sys

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from cloudevents.core.bindings import kafka as ce_kafka

from contracts import parse_event
from contracts.topics import Family, intake_topic
from services.ingest.intake import ensure_intake_topics
from services.runtime.auth import Role
from tests import factories as f
from tests.clients import api_key, token_header
from tests.conftest import settings_env
from tests.integration.sdk import TRACEPARENT, cloudevent
from tests.platform import ROOT, wait_for
from tests.test_ingest import read_all

pytestmark = pytest.mark.integration


def produce(settings, records: list[tuple[bytes, list[tuple[str, bytes]]]]) -> None:
    async def go() -> None:
        await ensure_intake_topics(settings)
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
        await producer.start()
        try:
            for value, headers in records:
                await producer.send_and_wait(intake_topic(Family.indicator, settings.topic_prefix), value,
                                             key=b"410324", headers=headers)
        finally:
            await producer.stop()

    asyncio.run(go())


def indicators(settings) -> dict[str, tuple[str | None, str | None]]:
    events = map(parse_event, asyncio.run(read_all(settings, Family.indicator, timeout_ms=1000)))
    return {e.data.indicator_id: (e.authid, e.traceparent) for e in events}


def indicators_with(settings, *wanted: str) -> dict | None:
    got = indicators(settings)
    return got if set(wanted) <= set(got) else None


def test_a_stock_producer_is_forwarded_dead_lettered_once_and_replayed_after_a_fix(ingest):
    key = api_key(ingest, "410324", client_id="treasury-410324")
    auth = [("authorization", f"Bearer {key}".encode())]
    good, bad = f.registered("K1", "10.00"), f.registered("K3", "abc")
    binary = ce_kafka.to_binary_event(cloudevent(f.registered("K2", "20.00"), traceparent=TRACEPARENT))
    produce(ingest, [
        (json.dumps(good).encode(), [("content-type", b"application/cloudevents+json"), *auth]),
        (binary.value, [*binary.headers.items(), *auth]),
        (json.dumps(bad).encode(), auth),
        (json.dumps(f.registered("K4", "1.00")).encode(), []),  # no credentials
    ])
    landed = wait_for(lambda: indicators_with(ingest, "K1", "K2"), 60, "forwarded")
    assert landed == {"K1": ("treasury-410324", None), "K2": ("treasury-410324", TRACEPARENT)}

    admin = token_header(ingest, "000000", roles=(Role.sysadmin,))
    url = f"{ingest.url('ingest')}/v1/deadletters"
    page = wait_for(lambda: (p := httpx.get(url, headers=admin, timeout=10).json())["total"] >= 2 and p, 60,
                    "dead letters listed")
    letters = {json.loads(x["value"])["data"]["indicator_id"]: x for x in page["items"]}
    assert page["total"] == 2 and set(letters) == {"K3", "K4"}
    k3, k4 = letters["K3"], letters["K4"]
    assert (k3["consumer"], k3["client_id"], k3["region"], k3["source_topic"]) == (
        "ingest intake", "treasury-410324", "410324", intake_topic(Family.indicator, ingest.topic_prefix))
    assert k3["reason"].startswith("data.amount:") and "authorization" not in json.dumps(k3["headers"])
    assert (k4["consumer"], k4["client_id"]) == ("ingest intake", None) and "credentials" in k4["reason"]
    assert abs(dt.datetime.fromisoformat(k3["at"]) - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)
    on_topic = [json.loads(v) for v in asyncio.run(read_all(ingest, Family.deadletter, timeout_ms=1000))]
    assert sorted(json.loads(r["value"])["data"]["indicator_id"] for r in on_topic) == ["K3", "K4"]  # once each

    replay = f"{url}/{k3['letter_id']}/replay"
    still_bad = httpx.post(replay, headers=admin, timeout=30)
    assert still_bad.status_code == 422 and "amount" in still_bad.json()["detail"]
    fixed = {**bad, "data": {**bad["data"], "amount": "30.00"}}
    done = httpx.post(replay, json={"event": fixed}, headers=admin, timeout=30)
    assert done.status_code == 200 and done.json()["replayed_ids"] == [bad["id"]]
    assert httpx.post(replay, json={"event": fixed}, headers=admin, timeout=30).status_code == 409  # never twice
    no_key = httpx.post(f"{url}/{k4['letter_id']}/replay", headers=admin, timeout=30)
    assert no_key.status_code == 409 and "API key" in no_key.json()["detail"]
    assert wait_for(lambda: indicators_with(ingest, "K3"), 30, "replayed")["K3"] == (
        "treasury-410324", None)
    county = token_header(ingest, "410325", roles=(Role.sysadmin,))
    assert httpx.get(url, headers=county, timeout=10).json()["total"] == 0  # another county's administrator

    cli = subprocess.run([sys.executable, "-m", "services.runtime.cli", "deadletters", "list", "--state", "all"],
                         cwd=ROOT, env=settings_env(ingest), capture_output=True, text=True, timeout=60)
    assert cli.returncode == 0, cli.stderr
    assert "2 dead letter(s)" in cli.stdout and "ingest intake" in cli.stdout and "replayed" in cli.stdout
