"""Integration tier: the notify service in-process on the real broker and a real database, with a
real HTTP webhook receiver."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from contracts.envelope import Envelope, parse_event
from contracts.topics import Family
from services.notify.main import run
from services.runtime.kafka import make_consumer, make_producer
from services.runtime.settings import Settings
from tests.clients import token_header
from tests.notify.builders import alert_event, group_event

pytestmark = pytest.mark.integration


async def until(check: Callable[[], Awaitable[object]], what: str, timeout_s: float = 20.0) -> object:
    """Poll `check` until it returns something truthy; fail with `what` at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = await check()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def notify_service(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    stop = asyncio.Event()
    task = asyncio.create_task(run(settings, stop))
    async with httpx.AsyncClient(base_url=settings.url("notify"), timeout=5,
                                 headers=token_header(settings)) as client:
        async def healthy() -> bool:
            if task.done():
                task.result()  # surface a start-up failure
            with contextlib.suppress(httpx.HTTPError):
                return (await client.get("/healthz")).status_code == 200
            return False

        try:
            await until(healthy, "notify to serve")
            yield client
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)


async def publish(settings: Settings, *envelopes: Envelope) -> None:
    producer = make_producer(settings)
    await producer.start()
    try:
        for envelope in envelopes:
            await producer.send_and_wait(settings.topic(envelope.family), envelope.to_json(), key=envelope.key)
    finally:
        await producer.stop()


async def notifications(settings: Settings, alert_id: str, timeout_s: float = 20.0) -> list[Envelope]:
    """Every `notification.delivered` event about `alert_id`, once at least one is there."""
    consumer = make_consumer(settings, None, settings.topic(Family.notification))
    await consumer.start()
    found: list[Envelope] = []
    try:
        async def poll(timeout_ms: int = 200) -> list[Envelope]:
            for records in (await consumer.getmany(timeout_ms=timeout_ms)).values():
                found.extend(e for e in map(parse_event, (r.value for r in records)) if e.subject == alert_id)
            return found

        await until(poll, "a notification.delivered event", timeout_s)
        return await poll(timeout_ms=300)  # one more fetch: a duplicate would show up here
    finally:
        await consumer.stop()


async def get(client: httpx.AsyncClient, path: str, **params) -> dict:
    response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_routes_retries_delivers_once_and_ignores_redelivery(
    make_settings, database_url, receiver_factory
) -> None:
    receiver = receiver_factory(fail_first=2)
    settings = make_settings(database_url, notify_group_webhooks={"agri": receiver.url}, notify_max_attempts=4)
    alert = alert_event("410324", fund_code="F-AGRI")
    alert_id = alert.data.alert_id

    async with notify_service(settings) as client:
        await publish(settings, group_event("410000", "poverty", "扶贫组"),
                      group_event("410300", "agri", "农业组", ["F-AGRI"]))
        await until(lambda: _routes(client, 2), "both group routes")
        await publish(settings, alert)

        delivered = await until(lambda: _deliveries(client, alert_id, "delivered"), "the delivery to succeed")
        [delivery] = delivered
        assert (delivery["group_code"], delivery["attempts"], delivery["last_error"]) == ("agri", 3, None)
        inbox = await get(client, "/v1/inbox", region="410300")
        assert [(i["alert_id"], i["group_code"]) for i in inbox["items"]] == [(alert_id, "agri")]

        assert [r.status for r in receiver.requests] == [500, 500, 200]
        [accepted] = receiver.accepted
        assert accepted.headers["content-type"] == "application/json"
        assert accepted.headers["x-fundwatch-delivery"] == f"{alert_id}/{alert.data.transition_id}/webhook"
        assert parse_event(accepted.body) == alert

        [outcome] = await notifications(settings, alert_id)
        assert (outcome.type, outcome.region, outcome.data.group_code) == ("notification.delivered", "410324", "agri")
        assert (outcome.data.status, outcome.data.attempts, outcome.data.channel) == ("delivered", 3, "webhook")

        # Redelivery: the same alert event published again.
        applied = (await get(client, "/v1/status"))["events_applied"]
        await publish(settings, alert)
        await until(lambda: _applied(client, applied + 1), "the redelivered event to be applied")
        assert (await get(client, "/v1/inbox"))["total"] == 1
        assert (await get(client, "/v1/deliveries"))["total"] == 1
        assert len(receiver.requests) == 3
        status = await get(client, "/v1/status")
        assert (status["dead_lettered"], status["pending_deliveries"]) == (0, 0)
        assert status["inbox_by_level"] == {"yellow": 1}


async def test_gives_up_after_max_attempts(make_settings, database_url, receiver_factory) -> None:
    receiver = receiver_factory(fail_first=None)
    settings = make_settings(database_url, notify_webhook_url=receiver.url, notify_max_attempts=3)
    alert = alert_event("410324")
    alert_id = alert.data.alert_id

    async with notify_service(settings) as client:
        await publish(settings, alert)
        [delivery] = await until(lambda: _deliveries(client, alert_id, "failed"), "the delivery to fail")
        assert (delivery["group_code"], delivery["attempts"]) == ("treasury", 3)
        assert delivery["last_error"].startswith("HTTP 500")
        assert [r.status for r in receiver.requests] == [500, 500, 500]

        [outcome] = await notifications(settings, alert_id)
        assert (outcome.data.status, outcome.data.attempts) == ("failed", 3)
        assert outcome.data.last_error.startswith("HTTP 500")


async def test_pending_delivery_survives_a_restart(
    make_settings, sqlite_url, receiver_factory
) -> None:
    receiver = receiver_factory(fail_first=None)
    settings = make_settings(sqlite_url, notify_webhook_url=receiver.url, notify_retry_base_s=1.0)
    alert = alert_event("410324")
    alert_id = alert.data.alert_id

    async with notify_service(settings) as client:
        await publish(settings, alert)
        await until(lambda: _attempted(client, alert_id), "a first (failed) attempt")
    receiver.fail_first = 0  # the receiver recovers while notify is down

    async with notify_service(settings) as client:
        [delivery] = await until(lambda: _deliveries(client, alert_id, "delivered"), "the delivery after restart")
        assert delivery["attempts"] == len(receiver.requests)
        assert len(receiver.accepted) == 1
        assert (await get(client, "/v1/inbox"))["total"] == 1


async def _attempted(client: httpx.AsyncClient, alert_id: str) -> bool:
    items = (await get(client, "/v1/deliveries", alert_id=alert_id))["items"]
    return bool(items) and items[0]["attempts"] >= 1


async def _routes(client: httpx.AsyncClient, n: int) -> bool:
    return len(await get(client, "/v1/routes")) == n


async def _deliveries(client: httpx.AsyncClient, alert_id: str, status: str) -> list[dict]:
    return (await get(client, "/v1/deliveries", alert_id=alert_id, status=status))["items"]


async def _applied(client: httpx.AsyncClient, n: int) -> bool:
    return (await get(client, "/v1/status"))["events_applied"] >= n
