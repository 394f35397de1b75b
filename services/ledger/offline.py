"""The ledger in process, without a broker: one clean pass of the recorder over a list of events
into a database, and the balance checksum of a database. For the reference runs tests compare
the live ledger with, and for benchmarks that need the ledger's derived stream (the alerts read
it) without running the service."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Sequence

from contracts import Envelope, make_event, parse_event
from contracts.ledger import LedgerProgress
from contracts.topics import TOPICS, Family
from services.ledger import audit
from services.ledger.recorder import Recorder
from services.runtime.db import make_engine, migrate

Batches = list[tuple[list[Envelope], list[Envelope]]]


def project(url: str, events: Sequence[Envelope], *, batch: int = 500, topic: str | None = "ledger",
            reorder: Callable[[list[Envelope]], list[Envelope]] | None = None) -> Batches:
    """Apply `events` in batches of `batch` (one transaction each, as the service per poll) to the
    ledger at `url` (migrated first). Returns, per batch, the events and the derived stream the
    ledger would publish for them (none with `topic=None`). `reorder` changes the order the
    ledger reads a batch in (two topics have no order between them)."""
    migrate(url, "ledger")

    async def run() -> Batches:
        engine = make_engine(url)
        recorder = Recorder(topic, write_outbox=False)
        out: Batches = []
        try:
            for i in range(0, len(events), batch):
                chunk = list(events[i:i + batch])
                async with engine.begin() as conn:
                    outgoing = await recorder.apply(conn, reorder(chunk) if reorder else chunk)
                out.append((chunk, [parse_event(o.value) for o in outgoing]))
        finally:
            await engine.dispose()
        return out

    return asyncio.run(run())


def interleaved(batches: Batches) -> list[Envelope]:
    """The events followed, batch by batch, by what the ledger derived from them."""
    return [e for chunk, derived in batches for e in (*chunk, *derived)]


def checksum(url: str) -> audit.Checksum:
    """Row counts and a checksum of every balance of the ledger at `url`."""

    async def run() -> audit.Checksum:
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                return await audit.balance_checksum(conn)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def published(url: str, events: Sequence[Envelope], topic_of: Callable[[Family], str], *, batch: int = 500,
              ledger_partitions: int | None = None, start: dict[str, int] | None = None
              ) -> list[tuple[Envelope, int | None]]:
    """What the broker holds after a live run of the ledger over `events`, to publish in this order to
    fresh topics (`topic_of(family)` names them): each batch's input events, the derived stream the
    ledger published for them, then its `ledger.progress` marker on every ledger partition (with the
    next offset and the newest event time it applied per input partition). Pairs of (event, explicit
    partition or None: by key). `start`: the offsets the input partitions already hold (topics not fresh)."""
    from aiokafka.partitioner import murmur2

    count = ledger_partitions or TOPICS[Family.ledger].partitions
    positions: dict[str, int] = defaultdict(int, start or {})
    newest: dict[str, dt.datetime] = {}
    out: list[tuple[Envelope, int | None]] = []
    for n, (chunk, derived) in enumerate(project(url, events, batch=batch, topic="ledger")):
        for e in chunk:
            partitions = TOPICS[e.family].partitions
            tp = f"{topic_of(e.family)}:{(murmur2(e.key) & 0x7FFFFFFF) % partitions}"
            positions[tp] += 1
            newest[tp] = max(newest.get(tp, e.time), e.time)
            out.append((e, None))
        out += [(d, None) for d in derived]
        for q in range(count):
            marker = LedgerProgress(positions=dict(positions), newest=dict(newest), partition=q)
            out.append((make_event("ledger.progress", marker, id=f"ledger:progress:{n}:{q}", region="000000",
                                   time=dt.datetime.now(dt.UTC), source="fundwatch/ledger"), q))
    return out


def positions_of(items: Sequence[tuple[Envelope, int | None]], topic_of: Callable[[Family], str]) -> dict[str, int]:
    """The input offsets `published` left (to publish more after it)."""
    from aiokafka.partitioner import murmur2

    out: dict[str, int] = defaultdict(int)
    for e, _ in items:
        if e.family.value in ("reference", "indicator", "payment", "performance"):
            out[f"{topic_of(e.family)}:{(murmur2(e.key) & 0x7FFFFFFF) % TOPICS[e.family].partitions}"] += 1
    return dict(out)

