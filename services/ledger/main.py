"""Ledger service: project reference, indicator and payment events into the ledger, publish
what it applied on the ledger topic (through the outbox), serve the query API."""

from __future__ import annotations

import asyncio

from contracts.topics import TOPICS, Family
from services.ledger import schema
from services.ledger.api import create_app
from services.ledger.derived import ProgressMarkers
from services.ledger.recorder import Recorder
from services.runtime.audit import AuditSink
from services.runtime.db import make_engine, migrate_async
from services.runtime.kafka import ensure_topics, make_producer
from services.runtime.projection import Projection
from services.runtime.service import serve, tune_gc
from services.runtime.settings import Settings

CONSUMED = (Family.reference, Family.indicator, Family.payment)


def make_projection(settings: Settings, engine, producer, *, group_id: str | None = None) -> Projection:
    return Projection(
        settings, engine,
        group_id=group_id or f"{settings.topic_prefix}.ledger",
        topics=[settings.topic(f) for f in CONSUMED],
        tracking=schema.tracking, outbox=schema.outbox,
        apply=Recorder.for_settings(settings), producer=producer,
        markers=ProgressMarkers(settings.topic(Family.ledger), TOPICS[Family.ledger].partitions),
    )


async def run(settings: Settings, stop: asyncio.Event | None = None) -> None:
    tune_gc()
    await migrate_async(settings.database_url, "ledger")
    await ensure_topics(settings)
    engine = make_engine(settings.database_url)
    producer = make_producer(settings)
    await producer.start()
    try:
        projection = make_projection(settings, engine, producer)
        app = create_app(engine, projection, settings)
        app.state.audit = AuditSink(settings, producer, "ledger")
        await serve(app, settings.host, settings.ledger_port, [projection.run], stop)
    finally:
        await producer.stop()
        await engine.dispose()


def main(settings: Settings) -> int:
    asyncio.run(run(settings))
    return 0
