"""The ledger in process, without a broker: one clean pass of the recorder over a list of events
into a database, and the balance checksum of a database. For the reference runs tests compare
the live ledger with, and for benchmarks that need the ledger's derived stream (the alerts read
it) without running the service."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from contracts import Envelope, parse_event
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
