"""`GET /v1/streams`: what operators watching the streams read (the console's 实时监控), read-only.

- `topics`: records in each platform topic's log (the sum of its partitions' end offsets); a rate
  is the delta of two readings over the time between them (the reader keeps the readings);
- `groups`: the lag of the consumer groups that keep their offsets in the broker (the alerts
  router and agent; the projections keep theirs in their databases and show lag on `/metrics`);
- `sources`: the events ingest published since it started, per client and family (counters);
- `latest`: the newest events of the input topics, newest arrival first — type, region, time, id,
  client; no data (personal numbers never leave).

Treasury operators, auditors and system administrators; sources and latest events within the
caller's region scope."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import time
from typing import Annotated, Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel, Field

from contracts.topics import INPUT_FAMILIES, TOPICS
from contracts.types import region_within
from services.ingest import store
from services.ingest.intake import intake_topics
from services.runtime.auth import Principal, Role, require_roles
from services.runtime.settings import Settings

router = APIRouter(tags=["streams"])
Watcher = Annotated[Principal, Depends(require_roles(Role.treasury, Role.auditor, Role.sysadmin))]
TIMEOUT_S = 5.0
FRESH_S = 1.5  # one broker reading serves every watcher asking within this (each page asks every 3 s)


class TopicOut(BaseModel):
    topic: str
    family: str = Field(description="registry family, or `intake` for an upstream's intake topic")
    records: int = Field(description="records in the log: the sum of the partitions' end offsets")


class GroupOut(BaseModel):
    service: str = Field(description="alerts router or alerts agent")
    group: str
    lag: int = Field(description="records between the group's committed offsets and the log end")
    committed: bool = Field(description="false: the group has committed nothing yet (lag counts from the start)")


class SourceOut(BaseModel):
    client_id: str
    name: str | None
    scope: str | None
    family: str
    events: int = Field(description="events ingest published for this client and family since it started")


class LatestOut(BaseModel):
    id: str
    type: str
    region: str | None
    time: str | None
    client_id: str | None
    topic: str
    offset: int
    received_at: dt.datetime | None = Field(description="the record's broker timestamp (UTC)")


class Streams(BaseModel):
    at: dt.datetime
    uptime_s: float = Field(description="seconds since ingest started (its source counters count from then)")
    topics: list[TopicOut]
    groups: list[GroupOut]
    sources: list[SourceOut]
    latest: list[LatestOut]


def _topics(settings: Settings) -> dict[str, str]:
    out = {settings.topic(f): f.value for f in TOPICS}
    out.update(dict.fromkeys(intake_topics(settings), "intake"))
    return out


def _groups(settings: Settings) -> dict[str, tuple[str, list[str]]]:
    from services.alerts.worker.router import SOURCES, work_topic

    return {"alerts router": (f"{settings.topic_prefix}.alerts-router", [settings.topic(f) for f in SOURCES]),
            "alerts agent": (f"{settings.topic_prefix}-alerts", [work_topic(settings)])}


def _latest_of(record: Any) -> LatestOut | None:
    try:
        event = json.loads(record.value)
    except (ValueError, TypeError, RecursionError):
        return None
    if not isinstance(event, dict) or not isinstance(event.get("id"), str):
        return None
    region = event.get("region")
    return LatestOut(id=event["id"][:200], type=str(event.get("type"))[:100],
                     region=region if isinstance(region, str) else None,
                     time=str(event["time"]) if event.get("time") else None,
                     client_id=event.get("authid") if isinstance(event.get("authid"), str) else None,
                     topic=record.topic, offset=record.offset,
                     received_at=dt.datetime.fromtimestamp(record.timestamp / 1000, dt.UTC) if record.timestamp
                     and record.timestamp > 0 else None)


async def read_broker(settings: Settings, latest: int) -> tuple[dict[str, int], dict[str, tuple[int, bool]],
                                                                   list[LatestOut]]:
    """(records per topic, (lag, committed) per worker group, the newest `latest` input events)."""
    names = _topics(settings)
    groups = _groups(settings)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False,
                                request_timeout_ms=int(TIMEOUT_S * 1000), fetch_max_wait_ms=10)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=int(TIMEOUT_S * 1000))
    await consumer.start()
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        wanted = [t for t in names if t in existing] + [t for _, ts in groups.values() for t in ts
                                                         if t in existing and t not in names]
        tps = [TopicPartition(t, p) for t in wanted for p in sorted(consumer.partitions_for_topic(t) or ())]
        missing = [t for t in wanted if not consumer.partitions_for_topic(t)]
        if missing:  # metadata of topics not asked for yet
            await consumer._client.force_metadata_update()
            tps = [TopicPartition(t, p) for t in wanted for p in sorted(consumer.partitions_for_topic(t) or ())]
        ends = await consumer.end_offsets(tps) if tps else {}
        records: dict[str, int] = {}
        for tp, end in ends.items():
            records[tp.topic] = records.get(tp.topic, 0) + end
        lags: dict[str, tuple[int, bool]] = {}
        for service, (group, topics) in groups.items():
            mine = [tp for tp in ends if tp.topic in topics]
            # partitions named: the embedded broker cannot answer an OffsetFetch for "all of them"
            committed = await admin.list_consumer_group_offsets(group, partitions=mine) if mine else {}
            lag = 0
            for tp in mine:
                at = committed.get(tp)
                lag += max(ends[tp] - (at.offset if at is not None and at.offset >= 0 else 0), 0)
            lags[service] = (lag, any(at.offset >= 0 for at in committed.values()))
        inputs = {settings.topic(f) for f in INPUT_FAMILIES}
        newest: list[LatestOut] = []
        if latest:
            tail = [tp for tp in ends if tp.topic in inputs and ends[tp] > 0]
            consumer.assign(tail)
            for tp in tail:
                consumer.seek(tp, max(ends[tp] - latest, 0))
            want = {tp: ends[tp] for tp in tail}
            deadline = time.monotonic() + TIMEOUT_S
            while want and time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=200)
                for tp, rs in batch.items():
                    for r in rs:
                        found = _latest_of(r)
                        if found is not None:
                            newest.append(found)
                    if rs and rs[-1].offset >= want.get(tp, 0) - 1:
                        want.pop(tp, None)
        return records, lags, newest
    finally:
        with contextlib.suppress(Exception):
            await admin.close()
        await consumer.stop()


@router.get("/v1/streams", response_model=Streams, summary="topics, worker lag, sources and latest events",
            responses={503: {"description": "the broker did not answer"}})
async def streams(request: Request, principal: Watcher,
                  latest: Annotated[int, Query(ge=0, le=200, description="newest input events to show")] = 20) -> Streams:
    app = request.app
    settings: Settings = app.state.settings
    cached = getattr(app.state, "streams_read", None)
    try:
        if cached is not None and cached[1] >= latest and time.monotonic() - cached[0] < FRESH_S:
            records, lags, newest = cached[2]
        else:
            records, lags, newest = await asyncio.wait_for(read_broker(settings, latest), TIMEOUT_S * 3)
            app.state.streams_read = (time.monotonic(), latest, (records, lags, list(newest)))
    except Exception as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"event log unavailable: {exc!r}",
                            headers={"Retry-After": "5"}) from None
    async with app.state.engine.connect() as conn:
        clients, _ = await store.list_clients(conn, "", limit=10_000, offset=0)
    known = {c.client_id: c for c in clients}
    sources = []
    for (client_id, family), n in sorted(app.state.publisher.published.items()):
        c = known.get(client_id)
        scope = c.scope if c is not None else None
        if scope is not None and not region_within(scope, principal.region) and principal.region != "000000":
            continue
        if scope is None and principal.region != "000000":
            continue
        sources.append(SourceOut(client_id=client_id, name=c.name if c else None, scope=scope, family=family, events=n))
    families = _topics(settings)
    newest = [e for e in newest if e.region and principal.can_see(e.region)]
    newest.sort(key=lambda e: (e.received_at or dt.datetime.min.replace(tzinfo=dt.UTC), e.offset), reverse=True)
    return Streams(at=dt.datetime.now(dt.UTC), uptime_s=round(time.monotonic() - app.state.started, 3),
                   topics=[TopicOut(topic=t, family=families.get(t, "internal"), records=n)
                           for t, n in sorted(records.items())],
                   groups=[GroupOut(service=s, group=_groups(settings)[s][0], lag=lag, committed=c)
                           for s, (lag, c) in lags.items()],
                   sources=sources, latest=newest[:latest])
