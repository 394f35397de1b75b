"""Ledger service: project indicator and payment events into the ledger, serve queries."""

from __future__ import annotations

import asyncio

from contracts.topics import Family
from services.ledger import store
from services.ledger.api import create_app
from services.runtime.db import make_engine, migrate_async
from services.runtime.kafka import ensure_topics, make_producer
from services.runtime.projection import Projection
from services.runtime.service import serve
from services.runtime.settings import Settings

CONSUMED = (Family.indicator, Family.payment)


async def run(settings: Settings, stop: asyncio.Event | None = None) -> None:
    await migrate_async(settings.database_url, "ledger")
    await ensure_topics(settings)
    engine = make_engine(settings.database_url)
    producer = make_producer(settings)
    await producer.start()
    try:
        projection = Projection(
            settings, engine,
            group_id=f"{settings.topic_prefix}.ledger",
            topics=[settings.topic(f) for f in CONSUMED],
            tracking=store.tracking, outbox=store.outbox,
            apply=store.apply_batch, producer=producer,
        )
        await serve(create_app(engine, projection), settings.host, settings.ledger_port, [projection.run], stop)
    finally:
        await producer.stop()
        await engine.dispose()


def main(settings: Settings) -> int:
    asyncio.run(run(settings))
    return 0
