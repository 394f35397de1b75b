"""`fundwatch serve notify`: the API, the projection of the reference and alert topics, and
the delivery worker (grouping, channels, retries) and the reminder worker, in one process."""

from __future__ import annotations

import asyncio
import contextlib

import httpx

from contracts.topics import Family
from services.notify import store
from services.notify.api import create_app
from services.notify.delivery import DeliveryWorker
from services.notify.handlers import make_apply
from services.notify.reminders import ReminderWorker
from services.runtime.audit import AuditSink
from services.runtime.db import make_engine, migrate_async
from services.runtime.kafka import ensure_topics, make_producer, wait_for_broker
from services.runtime.projection import Projection
from services.runtime.service import serve
from services.runtime.settings import Settings

TOPICS = (Family.reference, Family.alert, Family.notification, Family.deadletter)


async def run(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run until SIGINT/SIGTERM (or `stop`, for tests that run the service in-process)."""
    await migrate_async(settings.database_url, "notify")
    await wait_for_broker(settings.kafka_bootstrap)
    await ensure_topics(settings, TOPICS)
    async with contextlib.AsyncExitStack() as cleanup:
        engine = make_engine(settings.database_url)
        cleanup.push_async_callback(engine.dispose)
        producer = make_producer(settings)
        await producer.start()
        cleanup.push_async_callback(producer.stop)
        projection = Projection(
            settings, engine, group_id=f"{settings.topic_prefix}.notify",
            topics=[settings.topic(Family.reference), settings.topic(Family.alert)],
            tracking=store.tracking, outbox=store.outbox, apply=make_apply(settings), producer=producer,
        )
        worker = DeliveryWorker(settings, engine, on_outcome=projection.wake_relay)
        ledger = httpx.AsyncClient(base_url=settings.url("ledger"), timeout=30)
        cleanup.push_async_callback(ledger.aclose)
        alerts = httpx.AsyncClient(base_url=settings.url("alerts"), timeout=30)
        cleanup.push_async_callback(alerts.aclose)
        reminders = ReminderWorker(settings, engine, on_event=projection.wake_relay, ledger=ledger, alerts=alerts)
        app = create_app(engine, projection, settings, ledger, alerts)
        app.state.audit = AuditSink(settings, producer, "notify")
        await serve(app, settings.host, settings.notify_port, [projection.run, worker.run, reminders.run], stop)


def main(settings: Settings) -> int:
    asyncio.run(run(settings))
    return 0
