"""Run one service process: its HTTP API (uvicorn) and its background loops on one event
loop, stopped together by SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import Awaitable, Callable, Iterator

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


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # request URLs may carry webhook tokens


async def serve(app: FastAPI | None, host: str, port: int, loops: list[Loop], stop: asyncio.Event | None = None) -> None:
    """Serve `app` on host:port and run every loop until a signal (or `stop`) ends them."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)

    tasks = [asyncio.create_task(fn(stop), name=getattr(fn, "__name__", "loop")) for fn in loops]
    server = None
    if app is not None:
        from services.console.docs import use_local_docs

        use_local_docs(app)  # /docs and /redoc without a CDN (offline intranets)
        server = _Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on"))
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
