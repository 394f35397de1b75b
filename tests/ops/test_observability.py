"""/metrics, /readyz, JSON logs and the access log."""

from __future__ import annotations

import asyncio
import json
import logging

import httpx
import pytest
from fastapi import FastAPI

from services.runtime.broker import EmbeddedBroker, free_port
from services.runtime.kafka import ensure_topics
from services.runtime.metrics import instrument
from services.runtime.service import JsonFormatter
from services.runtime.settings import Settings
from tests.clients import api_key, key_header
from tests.factories import registered
from tests.platform import ServiceProcess, wait_for


def _metric(text: str, name: str, **labels: str) -> float | None:
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
        if not labels and line.startswith(f"{name} "):
            return float(line.rsplit(" ", 1)[1])
    del want
    return None


@pytest.mark.integration
def test_metrics_and_readiness_of_ingest_and_ledger(make_settings, sqlite_url, tmp_path):
    broker = EmbeddedBroker(free_port(), log_path=tmp_path / "tansu.log").start()
    settings = make_settings(sqlite_url, kafka_bootstrap=broker.bootstrap)
    asyncio.run(ensure_topics(settings))
    key = api_key(settings, scope="410324")
    ingest = ServiceProcess("ingest", settings, tmp_path).start().wait_healthy()
    ledger = ServiceProcess("ledger", settings, tmp_path).start().wait_healthy()
    try:
        events = [registered(f"M-{i}", "5.00") for i in range(3)]
        r = httpx.post(f"{settings.url('ingest')}/v1/events/batch", json=events, headers=key_header(key), timeout=20)
        assert r.status_code == 202
        topic = settings.topic("indicator")

        seen: list[str] = [""]

        def applied() -> float | None:
            seen[0] = httpx.get(f"{settings.url('ledger')}/metrics", timeout=5).text
            return _metric(seen[0], "fundwatch_events_applied_total", service="ledger", topic=topic)

        try:
            assert wait_for(lambda: applied() == 3.0 and applied(), 240, "3 applied in the ledger's metrics", ledger) == 3
        except AssertionError as exc:
            flow = [line for line in seen[0].splitlines() if line.startswith("fundwatch_")]
            raise AssertionError(f"{exc}\nlast /metrics of the ledger:\n" + "\n".join(flow)) from None
        text = httpx.get(f"{settings.url('ledger')}/metrics", timeout=5).text
        assert _metric(text, "fundwatch_events_in_total", service="ledger", topic=topic) >= 3.0  # at least once
        lag = [line for line in text.splitlines() if line.startswith("fundwatch_consumer_lag{")
               and f'topic="{topic}"' in line]
        assert lag and all(line.endswith(" 0.0") for line in lag)
        ingest_text = httpx.get(f"{settings.url('ingest')}/metrics", timeout=5).text
        assert _metric(ingest_text, "fundwatch_http_request_duration_seconds_count", service="ingest",
                       method="POST", route="/v1/events/batch", status="202") == 1.0

        for service in ("ingest", "ledger"):
            ready = httpx.get(f"{settings.url(service)}/readyz", timeout=10)
            assert ready.status_code == 200 and ready.json()["broker"] == "ok" and ready.json()["database"] == "ok"
        assert httpx.get(f"{settings.url('ingest')}/readyz", timeout=10).json()["topics"] == "ok"

        broker.kill()
        down = httpx.get(f"{settings.url('ledger')}/readyz", timeout=15)
        assert down.status_code == 503 and down.json()["broker"] != "ok" and down.json()["database"] == "ok"
        assert httpx.get(f"{settings.url('ledger')}/healthz", timeout=5).status_code == 200  # alive, not ready
    finally:
        ingest.stop()
        ledger.stop()
        broker.stop()


def test_access_log_is_one_json_line_per_request(caplog):
    app = FastAPI()

    @app.get("/v1/things/{thing_id}")
    async def thing(thing_id: str) -> dict:
        return {"id": thing_id}

    instrument(app, Settings(), "unit-test")

    async def call() -> int:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            return (await client.get("/v1/things/X-1")).status_code

    with caplog.at_level(logging.INFO, logger="fundwatch.access"):
        assert asyncio.run(call()) == 200
    record = next(r for r in caplog.records if r.name == "fundwatch.access")
    line = json.loads(JsonFormatter("unit-test").format(record))
    assert line["route"] == "/v1/things/{thing_id}" and line["path"] == "/v1/things/X-1"
    assert line["status"] == 200 and line["method"] == "GET" and line["service"] == "unit-test"
    assert line["level"] == "INFO" and isinstance(line["duration_ms"], float)


def test_json_log_lines_carry_event_ids():
    record = logging.LogRecord("fundwatch.test", logging.ERROR, __file__, 1, "event %s refused", ("E-1",), None)
    record.event_id, record.alert_id = "E-1", "A-7"
    line = json.loads(JsonFormatter("ledger").format(record))
    assert line == {"ts": line["ts"], "level": "ERROR", "logger": "fundwatch.test", "message": "event E-1 refused",
                    "service": "ledger", "event_id": "E-1", "alert_id": "A-7"}


@pytest.mark.integration
def test_the_alerts_worker_logs_json_lines_without_terminal_codes(make_settings, sqlite_url, tmp_path):
    """The faust worker's log (faust's own lines, the router's, the dead letters with their event
    ids) is JSON lines like every other process's: no ANSI colour codes."""
    from services.runtime.kafka import make_producer

    settings = make_settings(sqlite_url)
    asyncio.run(ensure_topics(settings))
    worker = ServiceProcess("alerts-worker", settings, tmp_path).start()
    try:
        async def poison() -> None:  # an envelope the router cannot parse: dead-lettered, logged with its id
            producer = make_producer(settings)
            await producer.start()
            try:
                await producer.send_and_wait(settings.topic("indicator"),
                                             b'{"id": "E-POISON-1", "type": "indicator.registered", "data": 1}',
                                             key=b"410324")
            finally:
                await producer.stop()

        asyncio.run(poison())
        wait_for(lambda: "E-POISON-1" in worker.log.read_text(errors="replace"), 120,
                 "the poison event dead-lettered", worker)
    finally:
        worker.stop()
    text = worker.log.read_text(errors="replace")
    assert "\x1b" not in text
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert lines and all({"ts", "level", "logger", "message"} <= line.keys() for line in lines)
    dead = next(line for line in lines if line.get("event_id") == "E-POISON-1")
    assert dead["service"] == "alerts-worker" and dead["topic"] == settings.topic("indicator")
