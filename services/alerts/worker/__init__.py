"""`fundwatch serve alerts-worker`: the faust worker that evaluates the rules and owns the
alert state machine (any number of them share the work by partition)."""

from __future__ import annotations

import asyncio

import faust

from services.alerts.config import AlertsSettings
from services.alerts.worker.app import build
from services.runtime.kafka import ensure_topics, wait_for_broker
from services.runtime.service import tune_gc
from services.runtime.settings import Settings


def main(settings: Settings) -> int:
    async def prepare() -> None:
        await wait_for_broker(settings.kafka_bootstrap, timeout_s=60)
        await ensure_topics(settings)

    asyncio.run(prepare())
    app, _worker = build(settings, AlertsSettings())
    tune_gc()  # the state's entity values are bytes: what the collector still walks is small
    faust.Worker(app, loglevel="WARNING", quiet=True).execute_from_commandline()
    return 0
