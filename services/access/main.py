"""`fundwatch serve access`: the access API, and the projection of the audit topic into the
append-only audit table (its own audit records reach the topic through its outbox)."""

from __future__ import annotations

import asyncio
import contextlib

from contracts.topics import Family
from services.access import handlers, store
from services.access.api import create_app
from services.runtime.audit import AuditSink
from services.runtime.db import make_engine, migrate_async
from services.runtime.kafka import ensure_topics, make_producer, wait_for_broker
from services.runtime.projection import Projection
from services.runtime.service import serve
from services.runtime.settings import Settings


async def run(settings: Settings, stop: asyncio.Event | None = None) -> None:
    await migrate_async(settings.database_url, "access")
    await wait_for_broker(settings.kafka_bootstrap)
    await ensure_topics(settings, (Family.audit, Family.deadletter))
    async with contextlib.AsyncExitStack() as cleanup:
        engine = make_engine(settings.database_url)
        cleanup.push_async_callback(engine.dispose)
        producer = make_producer(settings)
        await producer.start()
        cleanup.push_async_callback(producer.stop)
        projection = Projection(
            settings, engine, group_id=f"{settings.topic_prefix}.access", topics=[settings.topic(Family.audit)],
            tracking=store.tracking, outbox=store.outbox, apply=handlers.apply, producer=producer,
        )
        app = create_app(engine, settings, projection)
        app.state.audit = AuditSink(settings, producer, "access")
        await serve(app, settings.host, settings.access_port, [projection.run], stop)


def main(settings: Settings) -> int:
    asyncio.run(run(settings))
    return 0
