"""What every service shows an operator: Prometheus `/metrics` (prometheus_client), `/readyz`
(broker and database answer; for ingest also the registry's topics), a JSON access log line per
request, and a request-latency histogram. One line in each service's `create_app`:
`instrument(app, settings, "ledger", engine=engine, projection=projection)`.

Counters of the event flow are fed by the shared code that moves events: the projection (read,
applied, dead-lettered per topic; log resets; alerts by rule and level from the alert topic it
applies), the outbox relay (deliveries by channel and outcome, as notify publishes them). Lag is
read from the broker when Prometheus scrapes.

`TopicGate`: ingest accepts events only once the topics exist with the registry's partitions and
cleanup policy (503 before: nothing may create them with the broker's defaults by writing to them);
it checks again whenever the broker's cluster id changes (a restarted broker)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contracts.topics import INPUT_FAMILIES, TOPICS, Family
from services.runtime.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from services.runtime.projection import Delivery, Projection

log = logging.getLogger(__name__)
access_log = logging.getLogger("fundwatch.access")

EVENTS_IN = Counter("fundwatch_events_in_total", "records read from a topic", ["service", "topic"])
EVENTS_APPLIED = Counter("fundwatch_events_applied_total", "events applied (committed with their offsets)",
                         ["service", "topic"])
DEAD_LETTERED = Counter("fundwatch_events_dead_lettered_total", "records parked on the dead-letter topic",
                        ["service", "topic"])
LOG_RESETS = Counter("fundwatch_log_resets_total", "partitions read again because the log moved under the consumer",
                     ["service", "topic"])
CONSUMER_LAG = Gauge("fundwatch_consumer_lag", "records between the stored position and the log end",
                     ["service", "topic", "partition"])
ALERTS = Counter("fundwatch_alerts_total", "alert transitions applied by the alerts read model",
                 ["rule", "level", "transition"])
DELIVERIES = Counter("fundwatch_deliveries_total", "notification outcomes published", ["channel", "outcome"])
INGESTED = Counter("fundwatch_ingest_events_total", "events ingest published (acknowledged), by upstream client "
                   "and family", ["client", "family"])
ACCEPTED = Counter("fundwatch_ingest_accepted_total", "events ingest accepted (202)", ["service"])
REQUESTS = Histogram("fundwatch_http_request_duration_seconds", "HTTP request latency",
                     ["service", "method", "route", "status"],
                     buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
READY = Gauge("fundwatch_ready", "1 when /readyz last answered ready", ["service"])


def service_of(group_id: str, prefix: str) -> str:
    """`<prefix>.ledger` → `ledger` (the projection's group names its service)."""
    return group_id[len(prefix) + 1:] if group_id.startswith(prefix + ".") else group_id


def count_read(service: str, records: Iterable[Any]) -> None:
    by_topic: dict[str, int] = {}
    for r in records:
        by_topic[r.topic] = by_topic.get(r.topic, 0) + 1
    for topic, n in by_topic.items():
        EVENTS_IN.labels(service, topic).inc(n)


def count_applied(service: str, deliveries: Sequence[Delivery]) -> None:
    by_topic: dict[str, int] = {}
    for d in deliveries:
        by_topic[d.record.topic] = by_topic.get(d.record.topic, 0) + 1
        data = d.event.data
        if d.record.topic.endswith(f".{Family.alert.value}.v1") and hasattr(data, "rule_id"):
            ALERTS.labels(data.rule_id, str(getattr(data, "level", "")), str(getattr(data, "transition", ""))).inc()
    for topic, n in by_topic.items():
        EVENTS_APPLIED.labels(service, topic).inc(n)


def count_published(rows: Iterable[Any]) -> None:
    """Outbox rows as they are published: notification outcomes by channel and status."""
    suffix = f".{Family.notification.value}.v1"
    for r in rows:
        if r.topic.endswith(suffix):
            with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError):
                data = json.loads(r.value)["data"]
                DELIVERIES.labels(data["channel"], data["status"]).inc()


class TopicGate:
    """Are the registry's topics of `families` there, with its partitions and cleanup policy?"""

    def __init__(self, settings: Settings, families: Iterable[Family]) -> None:
        self.settings = settings
        self.specs = {settings.topic(f): TOPICS[f] for f in families}
        self.verified: str | None = None  # cluster id the topics were found right on
        self.reason = "not checked yet"
        self._lock = asyncio.Lock()
        self._admin: Any = None

    async def ready(self) -> bool:
        from aiokafka.admin import AIOKafkaAdminClient

        from services.runtime.kafka import new_topic, topic_problems

        async with self._lock:
            try:
                if self._admin is None:  # one connection kept: a cluster id per request is cheap on it
                    admin = AIOKafkaAdminClient(bootstrap_servers=self.settings.kafka_bootstrap,
                                                request_timeout_ms=3000)
                    await asyncio.wait_for(admin.start(), 3)
                    self._admin = admin
                admin = self._admin
                cluster = (await asyncio.wait_for(admin.describe_cluster(), 3)).get("cluster_id")
                if cluster is not None and cluster == self.verified:
                    return True
                existing = set(await admin.list_topics())
                missing = sorted(set(self.specs) - existing)
                if missing:
                    self.reason = f"topics missing: {', '.join(missing)}"
                    return False
                problems = await topic_problems(admin, [new_topic(self.settings, name, spec.partitions,
                                                                  compacted=spec.compacted)
                                                        for name, spec in self.specs.items()])
                if problems:
                    self.reason = "; ".join(problems)
                    return False
                self.verified, self.reason = cluster, "ok"
                return True
            except Exception as exc:
                self.verified, self.reason = None, f"broker {self.settings.kafka_bootstrap}: {exc!r}"
                if self._admin is not None:
                    with contextlib.suppress(Exception):
                        await self._admin.close()
                    self._admin = None
                return False


async def wait_for_topics(settings: Settings, timeout_s: float) -> int:
    """`fundwatch topics --wait`: 0 once every registry topic is there as the registry says, else 1."""
    gate = TopicGate(settings, tuple(TOPICS))
    deadline = time.monotonic() + timeout_s
    while not await gate.ready():
        if time.monotonic() > deadline:
            print(f"topics not ready after {timeout_s:.0f} s: {gate.reason}", flush=True)
            return 1
        await asyncio.sleep(2)
    print("topics ready", flush=True)
    return 0


async def broker_ok(settings: Settings) -> str | None:
    """None when the broker answers a metadata request, else why not."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=2000)
    try:
        await asyncio.wait_for(admin.start(), 3)
        await asyncio.wait_for(admin.describe_cluster(), 3)
        return None
    except Exception as exc:
        return f"{exc!r}"
    finally:
        with contextlib.suppress(Exception):
            await admin.close()


async def database_ok(engine: AsyncEngine | None) -> str | None:
    if engine is None:
        return None
    from sqlalchemy import text

    try:
        async with asyncio.timeout(3), engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return None
    except Exception as exc:
        return f"{exc!r}"


class Instrumented:
    """ASGI middleware: latency histogram, JSON access log line, ingest's topic gate and 202 counter."""

    def __init__(self, app: ASGIApp, service: str, gate: TopicGate | None = None,
                 gated: Callable[[str, str], bool] | None = None) -> None:
        self.app = app
        self.service = service
        self.gate = gate
        self.gated = gated or (lambda _method, _path: False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        method, path = scope["method"], scope["path"]
        status = {"code": 500}

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            if self.gate is not None and self.gated(method, path) and not await self.gate.ready():
                body = json.dumps({"detail": f"event log not ready, nothing accepted: {self.gate.reason}"}).encode()
                await sending({"type": "http.response.start", "status": 503, "headers": [
                    (b"content-type", b"application/json"), (b"retry-after", b"5"),
                    (b"content-length", str(len(body)).encode())]})
                await sending({"type": "http.response.body", "body": body})
                return
            await self.app(scope, receive, sending)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or ("unmatched" if status["code"] == 404 else path)
            if template != "/metrics":
                REQUESTS.labels(self.service, method, template, str(status["code"])).observe(elapsed)
            client = scope.get("client") or ("", 0)
            access_log.info("%s %s %s", method, path, status["code"], extra={
                "service": self.service, "method": method, "path": path, "route": template,
                "status": status["code"], "duration_ms": round(elapsed * 1000, 2), "client": client[0]})


def ingest_posts(method: str, path: str) -> bool:
    """The requests the topic gate holds back: events posted to ingest."""
    return method == "POST" and path.startswith("/v1/events")


GATED_TOPICS: dict[str, tuple[Family, ...]] = {"ingest": (*INPUT_FAMILIES, Family.audit)}


def instrument(app: FastAPI, settings: Settings, service: str, *, engine: AsyncEngine | None = None,
               projection: Projection | None = None, topics: Iterable[Family] = (),
               gated: Callable[[str, str], bool] | None = None) -> FastAPI:
    """Add /metrics, /readyz, the access log and latency histogram (and, with `topics`, the gate)."""
    gate = TopicGate(settings, topics) if topics else None
    app.add_middleware(Instrumented, service=service, gate=gate, gated=gated)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        if projection is not None:
            await _refresh_lag(service, projection)
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        checks = {"broker": await broker_ok(settings), "database": await database_ok(engine)}
        if gate is not None:
            checks["topics"] = None if await gate.ready() else gate.reason
        ok = all(v is None for v in checks.values())
        READY.labels(service).set(1 if ok else 0)
        return JSONResponse(status_code=200 if ok else 503, content={
            "status": "ready" if ok else "not ready", **{k: v or "ok" for k, v in checks.items()}})

    return app


async def _refresh_lag(service: str, projection: Projection) -> None:
    from services.runtime.projection import lag

    try:
        found = await asyncio.wait_for(lag(projection), 3)
    except Exception as exc:
        log.debug("lag refresh failed: %r", exc)
        return
    for name, value in found.items():
        topic, _, part = name.rstrip("]").partition("[")
        CONSUMER_LAG.labels(service, topic, part).set(value)


class StatusCollector:
    """Exports the numbers of a status dict (e.g. the alerts worker's status page) as gauges
    `fundwatch_<prefix>_<key>`; nested dicts become labels `key`."""

    def __init__(self, prefix: str, status: Callable[[], dict]) -> None:
        self.prefix = prefix
        self.status = status

    def collect(self):
        try:
            data = self.status()
        except Exception:
            return
        for key, value in data.items():
            name = f"fundwatch_{self.prefix}_{key}".replace("-", "_").replace(".", "_")
            if isinstance(value, bool):
                continue
            if isinstance(value, int | float):
                family = GaugeMetricFamily(name, f"{self.prefix} status {key}")
                family.add_metric([], float(value))
                yield family
            elif isinstance(value, dict) and value and all(isinstance(v, int | float) for v in value.values()):
                family = GaugeMetricFamily(name, f"{self.prefix} status {key}", labels=["key"])
                for k, v in value.items():
                    family.add_metric([str(k)], float(v))
                yield family


def register_status(prefix: str, status: Callable[[], dict]) -> None:
    with contextlib.suppress(ValueError):  # registered already in this process
        REGISTRY.register(StatusCollector(prefix, status))


CONTENT_TYPE = CONTENT_TYPE_LATEST.split(";")[0]  # faust's web.bytes takes the media type alone


def exposition() -> bytes:
    return generate_latest(REGISTRY)


__all__ = ["TopicGate", "count_applied", "count_published", "count_read", "exposition", "instrument",
           "register_status", "service_of"]
