"""`fundwatch serve alerts`: the alerts API and the projection of the alert, alert-command and
rule-config topics into its read model, in one process. The rules run in `alerts-worker`."""

from __future__ import annotations

import asyncio
import contextlib

from contracts.topics import Family
from services.alerts import handlers, store
from services.alerts.api import create_app
from services.runtime.audit import AuditSink
from services.runtime.db import make_engine, migrate_async
from services.runtime.kafka import ensure_topics, make_producer, wait_for_broker
from services.runtime.projection import Projection
from services.runtime.service import serve
from services.runtime.settings import Settings

TOPICS = (Family.alert, Family.alert_command, Family.rule_config)


async def run(settings: Settings, stop: asyncio.Event | None = None) -> None:
    await migrate_async(settings.database_url, "alerts")
    await wait_for_broker(settings.kafka_bootstrap)
    await ensure_topics(settings)
    async with contextlib.AsyncExitStack() as cleanup:
        engine = make_engine(settings.database_url)
        cleanup.push_async_callback(engine.dispose)
        producer = make_producer(settings)
        await producer.start()
        cleanup.push_async_callback(producer.stop)
        projection = Projection(
            settings, engine, group_id=f"{settings.topic_prefix}.alerts-api",
            topics=[settings.topic(f) for f in TOPICS], tracking=store.tracking, outbox=store.outbox,
            apply=handlers.apply, producer=producer,
        )
        app = create_app(engine, settings, projection)
        app.state.audit = AuditSink(settings, producer, "alerts")
        await serve(app, settings.host, settings.alerts_port, [projection.run], stop)


def main(settings: Settings) -> int:
    asyncio.run(run(settings))
    return 0
