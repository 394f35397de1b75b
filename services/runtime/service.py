"""Run one service process: its HTTP API (uvicorn) and its background loops on one event
loop, stopped together by SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import json
import logging
import os
import re
import signal
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import uvicorn
from fastapi import FastAPI

log = logging.getLogger(__name__)

Loop = Callable[[asyncio.Event], Awaitable[None]]


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # signals are ours, see `serve`
        yield


def tune_gc() -> None:
    """For a service that allocates many short-lived objects per event (the ledger's recorder,
    the alerts agent): with CPython's default gen-0 threshold (700) the collector runs every few
    events and cost ~20% of the ledger's replay throughput (measured). Long-lived startup objects
    (modules, catalogues, framework state) are frozen out of the collector's scans."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")  # terminal colour/cursor codes some libraries put in messages
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and whatever the call passed in
    `extra` (event_id, alert_id, status, duration_ms, …), so logs can be searched by id."""

    def __init__(self, service: str = "") -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if "\x1b" in message:
            message = _ANSI.sub("", message).replace("\x1b", "")
        out: dict[str, object] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "message": message}
        if self.service:
            out.setdefault("service", self.service)
        out.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")})
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def log_handler(service: str = "") -> logging.Handler:
    """The handler every process logs through: JSON lines on stderr (FUNDWATCH_LOG_FORMAT=text for
    the old human format). Frameworks with a logging setup of their own (faust) are given it too."""
    handler = logging.StreamHandler()
    if os.environ.get("FUNDWATCH_LOG_FORMAT", "json") == "text":
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    else:
        handler.setFormatter(JsonFormatter(service))
    return handler


def configure_logging(level: str = "INFO", service: str = "") -> None:
    """JSON lines on stderr (FUNDWATCH_LOG_FORMAT=text for the old human format)."""
    logging.basicConfig(level=level, handlers=[log_handler(service)], force=True)
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)  # fundwatch.access logs each request instead
    logging.getLogger("httpx").setLevel(logging.WARNING)  # request URLs may carry webhook tokens


def observe(app: FastAPI, port: int, loops: list[Loop]) -> None:
    """/metrics, /readyz and the access log on a service's app (services.runtime.metrics): its
    name from its port, its database and consumer from its projection loop or the app's state."""
    from services.runtime.metrics import GATED_TOPICS, ingest_posts, instrument
    from services.runtime.projection import Projection

    projection = next((getattr(fn, "__self__") for fn in loops  # noqa: B009 - a bound method's owner
                       if isinstance(getattr(fn, "__self__", None), Projection)), None)
    settings = projection.settings if projection is not None else getattr(app.state, "settings", None)
    if settings is None or any(getattr(r, "path", None) == "/metrics" for r in app.routes):
        return
    engine = projection.engine if projection is not None else getattr(app.state, "engine", None)
    names = {settings.ingest_port: "ingest", settings.ledger_port: "ledger", settings.alerts_port: "alerts",
             settings.notify_port: "notify", settings.access_port: "access"}
    service = names.get(port, f"port-{port}")
    instrument(app, settings, service, engine=engine, projection=projection, topics=GATED_TOPICS.get(service, ()),
               gated=ingest_posts)


async def serve(app: FastAPI | None, host: str, port: int, loops: list[Loop], stop: asyncio.Event | None = None) -> None:
    """Serve `app` on host:port and run every loop until a signal (or `stop`) ends them."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)

    tasks: list[asyncio.Task[Any]] = [asyncio.create_task(fn(stop), name=getattr(fn, "__name__", "loop"))  # type: ignore[arg-type]
                                      for fn in loops]
    server = None
    if app is not None:
        from services.console.docs import use_local_docs

        use_local_docs(app)  # /docs and /redoc without a CDN (offline intranets)
        observe(app, port, loops)
        server = _Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on",
                                        log_config=None))  # its errors through our JSON handler
        tasks.append(asyncio.create_task(server.serve(), name="http"))

    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
    failed = [t for t in done if t is not stopper and t.exception()]
    for t in failed:
        log.error("task %s failed", t.get_name(), exc_info=t.exception())
    stop.set()
    if server is not None:
        server.should_exit = True
    await asyncio.wait(tasks, timeout=15)
    for t in tasks:
        t.cancel()
    if failed:
        raise SystemExit(1)
