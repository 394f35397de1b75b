"""Exactly-once projection of Kafka topics into a SQL store (tracking records + outbox).

A batch of records is applied, the next offset of each partition is stored, and whatever
the projection wants to publish is written to an outbox table — all in one database
transaction. On (re)assignment the consumer seeks to the stored offsets, so a crash at any
point neither loses nor double-applies an event. The outbox relay publishes after commit
and deletes what the broker acknowledged (at-least-once downstream; consumers dedupe by id).

The log may move under a projection: a broker that lost its log (the embedded one is memory-only)
comes back empty, or restored from the archive, and the stored offsets point at other records or
beyond the end. `check_log` notices it — another cluster id than the one read before, or a stored
position beyond a partition's end — and reads those partitions again from their beginning: every
apply is idempotent by event id, so nothing acknowledged is skipped and nothing applied twice.

Each service passes its own tables (made with `tracking_table` / `outbox_table`), so every
service still owns its schema."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from pydantic import ValidationError
from sqlalchemy import BigInteger, Column, Integer, LargeBinary, MetaData, String, Table, delete, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from contracts.envelope import Envelope, parse_event
from services.runtime import metrics
from services.runtime.kafka import make_consumer, send_dead_letter
from services.runtime.logwatch import LogWatch
from services.runtime.settings import Settings
from services.runtime.sql import upsert

log = logging.getLogger(__name__)


def tracking_table(metadata: MetaData, service: str) -> Table:
    """Next offset to read per (topic, partition): the tracking record of the projection."""
    return Table(
        f"{service}_tracking",
        metadata,
        Column("topic", String(200), primary_key=True),
        Column("partition", Integer, primary_key=True),
        Column("next_offset", BigInteger, nullable=False),
    )


def outbox_table(metadata: MetaData, service: str) -> Table:
    return Table(
        f"{service}_outbox",
        metadata,
        Column("seq", Integer, primary_key=True, autoincrement=True),
        Column("topic", String(200), nullable=False),
        Column("key", LargeBinary, nullable=False),
        Column("value", LargeBinary, nullable=False),
    )


@dataclass(frozen=True)
class Outgoing:
    topic: str
    key: bytes
    value: bytes


@dataclass(frozen=True)
class Delivery:
    """One decoded record handed to a projection."""

    record: ConsumerRecord
    event: Envelope


Apply = Callable[[AsyncConnection, Sequence[Delivery]], Awaitable[list[Outgoing]]]
# What to publish after every batch, given the next offset and the newest event time per input partition.
Markers = Callable[[Mapping[tuple[str, int], int], Mapping[tuple[str, int], dt.datetime]], list[Outgoing]]


class _SeekToStored(ConsumerRebalanceListener):
    def __init__(self, projection: Projection) -> None:
        self.projection = projection

    async def on_partitions_revoked(self, revoked) -> None:
        # the batch being applied is stored first: the next assignment seeks past it, not to it again
        async with self.projection.applying:
            return None

    async def on_partitions_assigned(self, assigned) -> None:
        await self.projection.seek_to_stored(assigned)


class Projection:
    """Consume `topics` as `group_id` and apply each batch through `apply` exactly once."""

    def __init__(
        self,
        settings: Settings,
        engine: AsyncEngine,
        *,
        group_id: str,
        topics: Sequence[str],
        tracking: Table,
        outbox: Table | None,
        apply: Apply,
        producer: AIOKafkaProducer,
        markers: Markers | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.group_id = group_id
        self.topics = list(topics)
        self.tracking = tracking
        self.outbox = outbox
        self.apply = apply
        self.producer = producer
        self.applied = 0
        self.dead_lettered = 0
        self.positions: dict[tuple[str, int], int] = {}
        self.newest: dict[tuple[str, int], dt.datetime] = {}
        self.markers = markers
        self._outbox_ready = asyncio.Event()
        self.consumer = make_consumer(settings, group_id)
        self.watch = LogWatch(settings)  # has the log moved under the stored offsets?
        self.log_resets = 0
        self._reread: set[tuple[str, int]] = set()  # repositioned to the beginning, nothing stored since
        self._checked_at = 0.0
        self.applying = asyncio.Lock()  # held from a batch's fetch until its offsets are stored

    def wake_relay(self) -> None:
        """Publish outbox rows now (for writers outside `apply`, e.g. a delivery worker)."""
        self._outbox_ready.set()

    async def seek_to_stored(self, assigned) -> None:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(self.tracking))).all()
        stored = {(r.topic, r.partition): r.next_offset for r in rows}
        fresh = []
        for tp in assigned:
            offset = stored.get((tp.topic, tp.partition))
            if offset is None or (tp.topic, tp.partition) in self._reread:
                fresh.append(tp)
                self.positions.pop((tp.topic, tp.partition), None)
            else:
                self.consumer.seek(tp, offset)
                self.positions[(tp.topic, tp.partition)] = offset
        await self._seek_to_beginning(fresh)
        await self.check_log(list(assigned), stored)

    async def _seek_to_beginning(self, tps: Sequence[TopicPartition]) -> None:
        """Seek to each partition's first offset, looked up first. aiokafka's own `seek_to_beginning`
        resets the position when its lookup answers, which may be after a fetch from the position the
        assignment started at was already handed out: the same records came twice (measured: every
        first start of the ledger read its first batch twice)."""
        if not tps:
            return
        for tp, offset in (await self.consumer.beginning_offsets(list(tps))).items():
            self.consumer.seek(tp, offset)

    async def check_log(self, assigned: Sequence[TopicPartition] | None = None,
                        stored: Mapping[tuple[str, int], int] | None = None) -> list[TopicPartition]:
        """Reposition to the beginning each assigned partition whose log moved (another cluster id,
        or the position beyond the end); returns those partitions."""
        self._checked_at = asyncio.get_running_loop().time()
        tps = list(assigned if assigned is not None else self.consumer.assignment())
        positions = {(tp.topic, tp.partition): None if (tp.topic, tp.partition) in self._reread
                     else self.positions.get((tp.topic, tp.partition), (stored or {}).get((tp.topic, tp.partition)))
                     for tp in tps}
        moved = await self.watch.moved(self.consumer, tps, positions)
        for tp, why in moved:
            log.warning("log moved under %s at %s[%d] (%s): reading it again from the beginning; events "
                        "applied before are recognised by id", self.group_id, tp.topic, tp.partition, why)
            self.positions.pop((tp.topic, tp.partition), None)
            self._reread.add((tp.topic, tp.partition))
            metrics.LOG_RESETS.labels(self.service, tp.topic).inc()
        await self._seek_to_beginning([tp for tp, _ in moved])
        self.log_resets += len(moved)
        return [tp for tp, _ in moved]

    async def run(self, stop: asyncio.Event) -> None:
        self.consumer.subscribe(self.topics, listener=_SeekToStored(self))
        await self.consumer.start()
        relay = asyncio.create_task(self._relay(stop)) if self.outbox is not None else None
        try:
            while not stop.is_set():
                batches = await self.consumer.getmany(timeout_ms=500, max_records=self.settings.consumer_batch)
                records = [r for msgs in batches.values() for r in msgs]
                async with self.applying:  # taken with no await since the fetch: a rebalance waits for it
                    if asyncio.get_running_loop().time() - self._checked_at >= 2.0:
                        await self.check_log()  # a reset broker shows as no records at a stale position, or none
                    if records:
                        await self._process(records)
                if records:
                    # Offsets live in the database; the broker copy is only for lag tooling.
                    try:
                        await self.consumer.commit({tp: msgs[-1].offset + 1 for tp, msgs in batches.items()})
                    except Exception as exc:
                        log.debug("broker offset commit failed: %r", exc)
        finally:
            if relay:
                relay.cancel()
            await self.consumer.stop()
            await self.watch.close()

    @property
    def service(self) -> str:
        return metrics.service_of(self.group_id, self.settings.topic_prefix)

    async def _process(self, records: list[ConsumerRecord]) -> None:
        metrics.count_read(self.service, records)
        deliveries: list[Delivery] = []
        for record in records:
            try:
                deliveries.append(Delivery(record, parse_event(record.value)))
            except (ValidationError, ValueError) as exc:
                await self._dead_letter(record, f"invalid event: {exc}")
        try:
            await self._commit(records, deliveries)
        except Exception:
            log.exception("batch of %d failed; retrying one by one", len(records))
            for record in records:
                single = [d for d in deliveries if d.record is record]
                for attempt in range(3):
                    try:
                        await self._commit([record], single)
                        break
                    except Exception as exc:
                        if attempt == 2:
                            log.error("event could not be applied: dead-lettered", extra={
                                "event_id": single[0].event.id if single else None, "event_type":
                                single[0].event.type if single else None, "topic": record.topic,
                                "partition": record.partition, "offset": record.offset})
                            await self._dead_letter(record, f"projection failed: {exc!r}")
                            await self._commit([record], [])
                        else:
                            await asyncio.sleep(0.5 * (attempt + 1))

    async def _commit(self, records: Sequence[ConsumerRecord], deliveries: Sequence[Delivery]) -> None:
        next_offsets: dict[tuple[str, int], int] = {}
        for r in records:
            next_offsets[(r.topic, r.partition)] = max(next_offsets.get((r.topic, r.partition), 0), r.offset + 1)
        newest = dict(self.newest)
        for d in deliveries:
            tp = (d.record.topic, d.record.partition)
            if tp not in newest or d.event.time > newest[tp]:
                newest[tp] = d.event.time
        async with self.engine.begin() as conn:
            outgoing = await self.apply(conn, deliveries) if deliveries else []
            if self.markers is not None:
                outgoing = [*outgoing, *self.markers({**self.positions, **next_offsets}, newest)]
            for (topic, partition), offset in next_offsets.items():
                await conn.execute(
                    upsert(conn, self.tracking, {"topic": topic, "partition": partition, "next_offset": offset},
                           keys=("topic", "partition"), update={"next_offset": offset})
                )
            if outgoing and self.outbox is not None:
                await conn.execute(
                    self.outbox.insert(), [{"topic": o.topic, "key": o.key, "value": o.value} for o in outgoing]
                )
        self.positions.update(next_offsets)
        self._reread.difference_update(next_offsets)
        self.newest = newest
        self.applied += len(deliveries)
        metrics.count_applied(self.service, deliveries)
        if outgoing:
            self.wake_relay()

    async def _dead_letter(self, record: ConsumerRecord, reason: str) -> None:
        self.dead_lettered += 1
        metrics.DEAD_LETTERED.labels(self.service, record.topic).inc()
        await send_dead_letter(
            self.producer, self.settings, source_topic=record.topic, partition=record.partition,
            offset=record.offset, value=record.value, reason=reason, consumer=self.group_id,
        )

    async def _relay(self, stop: asyncio.Event) -> None:
        assert self.outbox is not None
        while not stop.is_set():
            try:
                moved = await relay_outbox(self.engine, self.outbox, self.producer)
            except Exception:
                log.exception("outbox relay failed")
                moved = 0
            if not moved:
                self._outbox_ready.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._outbox_ready.wait(), timeout=1.0)


_known_topics: dict[int, set[str]] = {}  # per producer: topics seen in the broker's metadata


async def relay_outbox(engine: AsyncEngine, outbox: Table, producer: AIOKafkaProducer, limit: int = 2000) -> int:
    """Publish the oldest outbox rows, then delete what the broker acknowledged."""
    async with engine.connect() as conn:
        rows = (await conn.execute(select(outbox).order_by(outbox.c.seq).limit(limit))).all()
    if not rows:
        return 0
    known = _known_topics.setdefault(id(producer), set())
    missing = {r.topic for r in rows} - known
    if missing:  # asked for by name, a topic the broker lacks would be created with its defaults
        known.update((await producer.client.fetch_all_metadata()).topics())
        if missing - known:
            log.warning("outbox: waiting for topic(s) %s to be created (never by a write)",
                        ", ".join(sorted(missing - known)))
            return 0
    try:
        futures = [await producer.send(r.topic, r.value, key=r.key) for r in rows]
        await asyncio.gather(*futures)
    except Exception:
        known.clear()  # a broker that went away may come back without them
        raise
    metrics.count_published(rows)
    async with engine.begin() as conn:
        await conn.execute(delete(outbox).where(outbox.c.seq <= rows[-1].seq))
    return len(rows)


async def lag(projection: Projection) -> dict[str, int]:
    """Records between the stored position and the end of each assigned partition."""
    assignment = list(projection.consumer.assignment())
    if not assignment:
        return {}
    ends = await projection.consumer.end_offsets(assignment)
    out: dict[str, int] = {}
    for tp in assignment:
        pos = projection.positions.get((tp.topic, tp.partition))
        if pos is None:
            pos = await projection.consumer.position(tp) if tp in ends else 0
        out[f"{tp.topic}[{tp.partition}]"] = max(0, ends[tp] - pos)
    return out


__all__ = ["Delivery", "Outgoing", "Projection", "TopicPartition", "lag", "outbox_table", "relay_outbox", "tracking_table"]
