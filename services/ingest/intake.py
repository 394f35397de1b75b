"""Kafka-native intake: upstream systems that publish straight to Kafka write to the intake topics
(`contracts.topics.intake_topic`: fundwatch.intake.<family>.v1), one record per event, structured
or binary CloudEvents (services.ingest.bindings), with their API key in the record header
`authorization: Bearer fwk_…`. Each record is checked by the contract code of HTTP (the same
`validate_rows`, scope, families and time horizon), stamped with its client and forwarded to the
family's internal topic; a record that fails is dead-lettered once, by this consumer, with the
reason. Offsets are committed after the forward is acknowledged (at-least-once; consumers of the
internal topics are idempotent by event id)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.audit import ActorKind
from contracts.envelope import Envelope
from contracts.topics import INPUT_FAMILIES, INTAKE_PARTITIONS, Family, intake_topic
from services.ingest import bindings, store
from services.ingest.clients import Client, check_key, key_id_of, refusals
from services.ingest.publisher import Publisher
from services.ingest.validation import Horizon, validate_rows
from services.runtime.audit import audit_event
from services.runtime.kafka import create_missing_topics, make_consumer, new_topic, send_dead_letter
from services.runtime.settings import Settings

log = logging.getLogger(__name__)
CONSUMER = "ingest intake"
GROUP = "fundwatch-ingest-intake"
CREDENTIAL_HEADER = "authorization"


def intake_topics(settings: Settings) -> dict[str, Family]:
    return {intake_topic(f, settings.topic_prefix): f for f in INPUT_FAMILIES}


async def ensure_intake_topics(settings: Settings) -> list[str]:
    return await create_missing_topics(settings, [new_topic(settings, name, INTAKE_PARTITIONS)
                                                  for name in intake_topics(settings)])


@dataclass
class Refused:
    """A record the intake will not forward, and why (`client`, `region`: what is known of it)."""

    record: Any
    reason: str
    client: str | None = None
    region: str | None = None


@dataclass
class Judged:
    forward: list[Envelope] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)
    clients: dict[str, tuple[Client, int]] = field(default_factory=dict)  # events forwarded per client


def presented_key(headers: Sequence[tuple[str, bytes]]) -> str | None:
    for name, value in headers:
        if name.lower() == CREDENTIAL_HEADER:
            scheme, _, credential = (value or b"").decode("utf-8", "replace").partition(" ")
            return credential.strip() if scheme.lower() == "bearer" and credential.strip() else None
    return None


def check_record(record: Any, family: Family, client: Client, settings: Settings,
                 horizon: Horizon) -> tuple[list[Envelope], str | None, str | None]:
    """(stamped events, refusal reason, the record's region if it named one) of one intake record
    whose credentials are valid: the binding, then the contract, scope and horizon checks of HTTP."""
    try:
        raw = bindings.from_kafka(record.headers or (), record.value)
    except (bindings.Unsupported, bindings.Malformed) as exc:
        return [], str(exc), None
    region = raw.get("region") if isinstance(raw, dict) and isinstance(raw.get("region"), str) else None
    events, errors = validate_rows([raw], settings.pii_key_bytes, authorize=lambda found: refusals(client, found),
                                   horizon=horizon)
    if errors:
        return [], "; ".join(f"{e['field'] or 'event'}: {e['message']}" for e in errors), region
    wrong = [e for e in events if e.family != family]
    if wrong:
        return [], (f"{wrong[0].type} is a {wrong[0].family.value} event: write it to "
                    f"{intake_topic(wrong[0].family, settings.topic_prefix)}"), region
    return [stamp(e, client) for e in events], None, region


def stamp(event: Envelope, client: Client) -> Envelope:
    """The event with the source the platform authenticated (CloudEvents Auth Context)."""
    return event.model_copy(update={"authtype": client.authtype, "authid": client.client_id})


async def judge(records: Sequence[Any], settings: Settings, engine: AsyncEngine,
                now: dt.datetime | None = None) -> Judged:
    """What to forward and what to refuse of one batch of intake records."""
    topics = intake_topics(settings)
    horizon = Horizon.of(settings)
    now = now or dt.datetime.now(dt.UTC)
    keys: dict[str, tuple[Client | None, str | None]] = {}  # one lookup per key and batch
    out = Judged()
    for record in records:
        presented = presented_key(record.headers or ())
        if presented is None:
            out.refused.append(Refused(record, "credentials: no 'authorization: Bearer fwk_…' record header "
                                               "(the API key of your registered client)"))
            continue
        if presented not in keys:
            keys[presented] = await _client_of(engine, presented, now)
        client, why = keys[presented]
        if client is None:
            out.refused.append(Refused(record, f"credentials: {why}"))
            continue
        events, reason, region = check_record(record, topics[record.topic], client, settings, horizon)
        if reason is not None:
            out.refused.append(Refused(record, reason, client.client_id, region))
            continue
        out.forward += events
        out.clients[client.client_id] = (client, out.clients.get(client.client_id, (client, 0))[1] + len(events))
    return out


async def _client_of(engine: AsyncEngine, presented: str, now: dt.datetime) -> tuple[Client | None, str | None]:
    key_id = key_id_of(presented)
    if key_id is None:
        return None, "malformed API key (expected fwk_<12 hex>_<43 characters>)"
    async with engine.connect() as conn:
        found = await store.lookup(conn, key_id)
    key, client = found if found else (None, None)
    reason = check_key(presented, key, client, now)
    return (None, reason) if reason else (client, None)


async def run_intake(settings: Settings, engine: AsyncEngine, publisher: Publisher, stop: asyncio.Event) -> None:
    """Consume the intake topics until `stop`; after a broker or database failure start again
    from the last committed offsets."""
    while not stop.is_set():
        try:
            await _consume(settings, engine, publisher, stop)
        except Exception:
            log.exception("intake: restarting after a failure")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=2.0)


async def _consume(settings: Settings, engine: AsyncEngine, publisher: Publisher, stop: asyncio.Event) -> None:
    await ensure_intake_topics(settings)
    consumer = make_consumer(settings, GROUP, *intake_topics(settings))
    await consumer.start()
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=500)
            records = [r for tp in sorted(batch, key=lambda t: (t.topic, t.partition)) for r in batch[tp]]
            if not records:
                continue
            judged = await judge(records, settings, engine)
            used = [audit_event("ingest", "client.used", actor=client.client_id, actor_kind=ActorKind.client,
                                region=client.scope, target="kafka intake", details={"events": str(n), "via": "kafka"})
                    for client, n in judged.clients.values()]
            if judged.forward or used:
                await publisher.publish([*judged.forward, *used])
            if judged.refused:
                producer = await publisher.producer()
                for refused in judged.refused:
                    r = refused.record
                    context = {k: v for k, v in (("client", refused.client), ("region", refused.region)) if v}
                    await send_dead_letter(producer, settings, source_topic=r.topic, partition=r.partition,
                                           offset=r.offset, value=r.value, reason=refused.reason, consumer=CONSUMER,
                                           headers=r.headers or (), **context)
            await consumer.commit()
    finally:
        await consumer.stop()
