"""Alerts service entry point: a faust worker."""

from __future__ import annotations

import faust

from services.alerts.app import build
from services.runtime.kafka import ensure_topics
from services.runtime.settings import Settings


def main(settings: Settings) -> int:
    import asyncio

    asyncio.run(ensure_topics(settings))
    app = build(settings)
    worker = faust.Worker(app, loglevel="INFO", quiet=True)
    worker.execute_from_commandline()
    return 0
