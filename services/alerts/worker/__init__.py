"""`fundwatch serve alerts-worker`: the faust worker that evaluates the rules and owns the
alert state machine (any number of them share the work by partition)."""

from __future__ import annotations

import asyncio
import logging
import os

import faust

from services.alerts.config import AlertsSettings
from services.alerts.worker.app import build
from services.runtime.kafka import ensure_topics, wait_for_broker
from services.runtime.service import log_handler, tune_gc
from services.runtime.settings import Settings


def faust_logging(level: str) -> dict:
    """faust's own logging setup (mode's) with the platform's JSON handler instead of its coloured
    terminal one: the worker's log is JSON lines like every other process's. faust and mode speak
    at WARNING and above unless asked for DEBUG (their INFO is a start-up banner per component)."""
    quiet = level if logging.getLevelName(level) == logging.DEBUG else "WARNING"
    return {"version": 1, "disable_existing_loggers": False, "root": {"level": level, "handlers": []},
            "loggers": {name: {"level": quiet} for name in ("faust", "mode", "aiokafka")}}


def main(settings: Settings) -> int:
    async def prepare() -> None:
        await wait_for_broker(settings.kafka_bootstrap, timeout_s=60)
        await ensure_topics(settings)

    asyncio.run(prepare())
    app, _worker = build(settings, AlertsSettings())
    tune_gc()  # the state's entity values are bytes: what the collector still walks is small
    level = os.environ.get("FUNDWATCH_LOG_LEVEL", "INFO").upper()
    app.conf.loghandlers = [log_handler("alerts-worker")]
    worker = faust.Worker(app, loglevel=level, quiet=True, logging_config=faust_logging(level))
    worker.spinner = None  # a terminal spinner: cursor codes in a log file
    worker.execute_from_commandline()
    return 0
