"""Dead letters of every consumer (ingest's intake, the ledger, alerts), followed off the
dead-letter topic into ingest's table, listed and replayed once the cause is fixed.

A replay sends the record again through the checks of its way in: an intake record through the
contract, scope and horizon checks of the client that sent it (services.ingest.intake), an event
of an input topic through the contract; then to its internal topic. Either the stored copy (when
masking personal numbers did not change it) or a fixed copy. Each dead letter is replayed at
most once, in the transaction that marks it, with an audit record."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts import parse_event
from contracts.topics import INPUT_FAMILIES, Family
from contracts.types import CENTRAL
from services.ingest import store
from services.ingest.intake import check_record, intake_topics
from services.ingest.publisher import Publisher
from services.ingest.validation import Horizon
from services.runtime.audit import audit_event
from services.runtime.kafka import ensure_topics, make_consumer
from services.runtime.settings import Settings

log = logging.getLogger(__name__)
GROUP = "fundwatch-ingest-deadletters"


class NotFound(LookupError):
    pass


class NotReplayable(ValueError):
    """Replayed already, or nothing that could be replayed as it is (HTTP 409)."""


class Invalid(ValueError):
    """The copy to replay is still refused (HTTP 422)."""


def _region_of(record: dict) -> str | None:
    region = record.get("region")
    if not isinstance(region, str):
        try:
            value = json.loads(record.get("value") or "")
        except (ValueError, TypeError, RecursionError):
            value = None
        region = value.get("region") if isinstance(value, dict) else None
    return region[:12] if isinstance(region, str) and region.isdigit() else None


def row_of(partition: int, offset: int, value: bytes | None, now: dt.datetime | None = None) -> dict[str, Any]:
    """The table row of one dead letter as it is on the topic (also an unreadable one)."""
    text = (value or b"").decode("utf-8", "replace")
    try:
        record = json.loads(text)
    except (ValueError, RecursionError):
        record = None
    if not isinstance(record, dict):
        record = {"reason": "unreadable dead letter", "value": text[:100_000]}
    try:
        at = dt.datetime.fromisoformat(record["at"])
    except (KeyError, TypeError, ValueError):
        at = now or dt.datetime.now(dt.UTC)

    def number(name: str) -> int:
        return record[name] if isinstance(record.get(name), int) else -1

    return {"partition": partition, "offset": offset, "consumer": str(record.get("consumer") or "unknown")[:100],
            "at": store.naive(at if at.tzinfo else at.replace(tzinfo=dt.UTC)),
            "source_topic": str(record.get("source_topic") or "unknown")[:200],
            "source_partition": number("partition"), "source_offset": number("offset"),
            "reason": str(record.get("reason") or ""), "region": _region_of(record),
            "client_id": str(record["client"])[:64] if record.get("client") else None,
            "record": json.dumps(record, ensure_ascii=False), "redacted": bool(record.get("redacted", True))}


async def follow(settings: Settings, engine: AsyncEngine, stop: asyncio.Event) -> None:
    """Keep the table up with the dead-letter topic until `stop` (restarting after failures)."""
    while not stop.is_set():
        try:
            await ensure_topics(settings, (Family.deadletter,))
            consumer = make_consumer(settings, GROUP, settings.topic(Family.deadletter))
            await consumer.start()
            try:
                while not stop.is_set():
                    batch = await consumer.getmany(timeout_ms=500)
                    rows = [row_of(r.partition, r.offset, r.value) for records in batch.values() for r in records]
                    if rows:
                        async with engine.begin() as conn:
                            await store.add_deadletters(conn, rows)
                        await consumer.commit()
            finally:
                await consumer.stop()
        except Exception:
            log.exception("dead letters: restarting after a failure")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=2.0)


@dataclass(frozen=True)
class _Record:
    """A record to check again, shaped as the intake consumer sees one."""

    topic: str
    headers: list[tuple[str, bytes]]
    value: bytes


def visible(row: Any, region_prefix: str) -> bool:
    return not region_prefix or (row.region or "").startswith(region_prefix)


async def replay(settings: Settings, engine: AsyncEngine, publisher: Publisher, letter_id: int, *, actor: str,
                 region_prefix: str = "", fixed: dict[str, Any] | None = None) -> list[str]:
    """Replay one dead letter (its stored copy, or `fixed`); the ids of the events it published."""
    async with engine.connect() as conn:
        row = await store.get_deadletter(conn, letter_id)
        client = await store.get_client(conn, row.client_id) if row is not None and row.client_id else None
    if row is None or not visible(row, region_prefix):
        raise NotFound(f"dead letter {letter_id} not found")
    if row.replayed_at is not None:
        raise NotReplayable(f"dead letter {letter_id} was replayed at {row.replayed_at:%Y-%m-%d %H:%M:%S} UTC "
                            f"by {row.replayed_by}")
    record = json.loads(row.record)
    if fixed is None and row.redacted:
        raise NotReplayable(f"dead letter {letter_id}: the stored copy has personal numbers masked; "
                            "replay a fixed copy of the event")
    intake = intake_topics(settings)
    if row.source_topic in intake:
        if client is None or not client.active:
            raise NotReplayable(f"dead letter {letter_id}: it carried no valid API key of an active client; "
                                "the upstream system sends it again with its key")
        again = _Record(row.source_topic, [], json.dumps(fixed).encode()) if fixed is not None else _Record(
            row.source_topic, [(n, v.encode()) for n, v in record.get("headers", [])], record["value"].encode())
        events, reason, _region = check_record(again, intake[row.source_topic], client, settings,
                                               Horizon.of(settings))
        if reason is not None:
            raise Invalid(reason)
    elif row.source_topic in {settings.topic(f) for f in INPUT_FAMILIES}:
        try:
            event = parse_event(json.dumps(fixed).encode() if fixed is not None else record["value"])
        except (ValidationError, ValueError) as exc:
            raise Invalid(str(exc)) from None
        beyond = Horizon.of(settings).refusal(event.time)
        if beyond is not None:
            raise Invalid(f"time: {beyond}")
        if settings.topic(event.family) != row.source_topic:
            raise Invalid(f"{event.type} does not belong on {row.source_topic}")
        events = [event]
    else:
        raise NotReplayable(f"dead letter {letter_id}: only records of the intake and input topics are replayed "
                            f"({row.source_topic} is the platform's own)")
    ids = [e.id for e in events]
    now = dt.datetime.now(dt.UTC)
    done = audit_event("ingest", "deadletter.replayed", actor=actor, region=client.scope if client else CENTRAL,
                       target=f"deadletter {letter_id}", details={"events": ",".join(ids)[:200],
                                                                  "copy": "fixed" if fixed is not None else "stored"})
    async with engine.begin() as conn:
        if not await store.mark_replayed(conn, letter_id, now, actor, ids):
            raise NotReplayable(f"dead letter {letter_id} was replayed already")
        await publisher.publish([*events, done])  # a broker failure rolls the mark back
    return ids


def command(settings: Settings, action: str, *, letter_id: int | None = None, fixed_path: str | None = None,
            replayed: bool | None = None, consumer: str | None = None, limit: int = 100) -> int:
    """`fundwatch deadletters list|replay`: on the platform database and broker, as the operator."""
    import os
    import sys

    from services.runtime.db import make_engine, migrate

    migrate(settings.database_url, "ingest")
    fixed = None
    if fixed_path is not None:
        with open(fixed_path, encoding="utf-8") as fh:
            fixed = json.load(fh)

    async def go() -> int:
        engine = make_engine(settings.database_url)
        publisher = Publisher(settings)
        try:
            if action == "list":
                async with engine.connect() as conn:
                    rows, total = await store.list_deadletters(conn, "", replayed=replayed, consumer=consumer,
                                                               limit=limit, offset=0)
                for r in rows:
                    state = f"replayed {r.replayed_at:%Y-%m-%d %H:%M} by {r.replayed_by}" if r.replayed_at else "open"
                    also = f" (also refused by {r.also_refused_by.replace(',', ', ')})" if r.also_refused_by else ""
                    print(f"{r.offset:>6}  {r.at:%Y-%m-%d %H:%M:%S}  {r.consumer:<18} {r.source_topic}"
                          f"[{r.source_partition}]@{r.source_offset}  {state}{also}\n        {r.reason[:300]}")
                print(f"{total} dead letter(s)")
                return 0
            assert letter_id is not None
            try:
                ids = await replay(settings, engine, publisher, letter_id,
                                   actor=f"cli:{os.environ.get('USER', 'unknown')}", fixed=fixed)
            except (NotFound, NotReplayable, Invalid) as exc:
                print(f"refused: {exc}", file=sys.stderr)
                return 1
            print(f"dead letter {letter_id} replayed: {', '.join(ids)}")
            return 0
        finally:
            await publisher.close()
            await engine.dispose()

    return asyncio.run(go())
