"""Ingest service entry point: the API, the relay of its outbox (the audit records of client
registrations, rotations and revocations, written in their transactions), the Kafka intake
(services.ingest.intake) and the follower of the dead letters (services.ingest.deadletters)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from services.ingest import deadletters, intake, store
from services.ingest.api import create_app
from services.ingest.publisher import BrokerUnavailable, PublisherSink
from services.runtime.db import make_engine, migrate_async
from services.runtime.projection import relay_outbox
from services.runtime.service import serve
from services.runtime.settings import Settings

log = logging.getLogger(__name__)


async def run(settings: Settings, stop: asyncio.Event | None = None) -> None:
    await migrate_async(settings.database_url, "ingest")
    engine = make_engine(settings.database_url)
    app = create_app(settings, engine)
    sink: PublisherSink = app.state.audit

    async def relay(stop: asyncio.Event) -> None:
        while not stop.is_set():
            moved = 0
            try:
                if await store.outbox_pending(engine):  # no broker connection just to find nothing
                    moved = await relay_outbox(engine, store.outbox, await sink.producer_for_outbox())
            except (BrokerUnavailable, OSError) as exc:
                log.warning("outbox relay: %s", exc)
            except Exception:
                log.exception("outbox relay failed")
            if not moved:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=1.0)

    async def kafka_intake(stop: asyncio.Event) -> None:
        await intake.run_intake(settings, engine, app.state.publisher, stop)

    async def dead_letters(stop: asyncio.Event) -> None:
        await deadletters.follow(settings, engine, stop)

    try:
        await serve(app, settings.host, settings.ingest_port, [relay, kafka_intake, dead_letters], stop)
    finally:
        await engine.dispose()


def main(settings: Settings) -> int:
    asyncio.run(run(settings))
    return 0
