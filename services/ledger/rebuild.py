"""Replay and audit: `fundwatch ledger rebuild` and `fundwatch ledger verify`.

rebuild: in one snapshot of the live tables, note where the live projection stands (its stored
offsets), its row counts and its balance checksum; then reproject the log from the beginning up
to exactly those offsets into fresh tables (a temporary PostgreSQL database on the same server,
or a new SQLite file — or `--target-url`), with a consumer of a fresh group id that stores no
offsets on the broker, and the same recorder (minus the derived stream). The verdict compares
row counts and checksums; exit status 1 on a mismatch."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import TopicPartition
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from contracts import parse_event
from services.ledger import audit, schema
from services.ledger.main import CONSUMED
from services.ledger.recorder import Recorder
from services.runtime.db import is_sqlite, make_engine, migrate_async
from services.runtime.kafka import make_consumer
from services.runtime.service import tune_gc
from services.runtime.settings import Settings
from services.runtime.sql import upsert

# A rebuild reprojects every fact; the rows derived from which topic happened to be read first
# (the journal's reclassification entries, see recorder) may differ, the facts and balances not.
COMPARED = tuple(t.name for t in audit.COUNTED_TABLES if t is not schema.journal)

# Events per replay transaction. Larger than a live poll (`consumer_batch`): fewer statements and
# commits per event, each indicator / project balance row written once per transaction instead of
# once per poll. Measured (benchmarks/ledger_bench.py, whose replay phase uses this size; 1M
# payments on PostgreSQL): ~25 % more events/s than at 2,000, the tables identical.
REPLAY_BATCH = 10_000


@dataclass
class Snapshot:
    offsets: dict[tuple[str, int], int]
    counts: dict[str, int]
    checksum: audit.Checksum


async def snapshot(conn: AsyncConnection) -> Snapshot:
    """Offsets, counts and checksum read in one transaction (one consistent state)."""
    offsets = {(r.topic, r.partition): r.next_offset for r in (await conn.execute(select(schema.tracking))).all()}
    return Snapshot(offsets, await audit.row_counts(conn), await audit.balance_checksum(conn))


@dataclass
class Report:
    target_url: str
    events: int
    skipped: int
    seconds: float
    live: Snapshot
    rebuilt: Snapshot
    differences: list[str] = field(default_factory=list)

    @property
    def matches(self) -> bool:
        return not self.differences

    def lines(self) -> list[str]:
        rate = self.events / self.seconds if self.seconds else 0.0
        out = [f"replayed {self.events} records ({self.skipped} not applicable) in {self.seconds:.1f} s "
               f"({rate:,.0f}/s) into {self.target_url}",
               f"live     {self.live.checksum}", f"rebuilt  {self.rebuilt.checksum}"]
        for name in audit.COUNTED_TABLES:
            live, new = self.live.counts.get(name.name), self.rebuilt.counts.get(name.name)
            out.append(f"  {name.name:<26} live {live:>10}  rebuilt {new:>10}{'' if live == new else '  ≠'}")
        out.append("MATCH: the log reprojects to the live balances" if self.matches
                   else "MISMATCH: " + "; ".join(self.differences))
        return out


def _differences(live: Snapshot, rebuilt: Snapshot) -> list[str]:
    out = [f"{t}: live {live.counts[t]} rows, rebuilt {rebuilt.counts[t]}" for t in COMPARED
           if live.counts[t] != rebuilt.counts[t]]
    if live.checksum != rebuilt.checksum:
        out.append(f"balances: live {live.checksum}, rebuilt {rebuilt.checksum}")
    return out


async def _create_target(live_url: str, target_url: str | None) -> tuple[str, str | None]:
    """(target url, temporary database/file to drop afterwards)."""
    if target_url:
        return target_url, None
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S") + uuid.uuid4().hex[:6]
    url = make_url(live_url)
    if is_sqlite(live_url):
        live = Path(url.database or "fundwatch.db")
        path = live.with_name(f"{live.stem}.rebuild-{stamp}.db")
        return str(url.set(database=str(path))), str(path)
    import asyncpg

    name = f"{url.database}_rebuild_{stamp}"[:63]
    admin = await asyncpg.connect(user=url.username, password=url.password, host=url.host, port=url.port,
                                  database=url.database)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return url.set(database=name).render_as_string(hide_password=False), name


async def _drop_target(live_url: str, target: str) -> None:
    if is_sqlite(live_url):
        for suffix in ("", "-wal", "-shm"):
            Path(target + suffix).unlink(missing_ok=True)  # noqa: ASYNC240 - three small files, before the rebuild starts
        return
    import asyncpg

    url = make_url(live_url)
    admin = await asyncpg.connect(user=url.username, password=url.password, host=url.host, port=url.port,
                                  database=url.database)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')
    finally:
        await admin.close()


async def replay(settings: Settings, target_url: str, stop_at: dict[tuple[str, int], int], *,
                 idle_timeout_s: float = 60.0) -> tuple[int, int]:
    """Reproject every consumed topic from the beginning up to `stop_at` into `target_url`.
    Returns (records applied, records not applicable)."""
    engine = make_engine(target_url)
    recorder = Recorder(None)
    consumer = make_consumer(settings, f"{settings.topic_prefix}.ledger-rebuild-{uuid.uuid4().hex[:8]}")
    await consumer.start()
    applied = skipped = 0
    try:
        topics = [settings.topic(f) for f in CONSUMED]
        await consumer.topics()
        parts = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = {tp: stop_at.get((tp.topic, tp.partition), 0) for tp in parts}
        active = {tp for tp in parts if await consumer.position(tp) < ends[tp]}
        last_progress = time.monotonic()
        while active:
            records: list[Any] = []
            while active and len(records) < REPLAY_BATCH:  # a few polls' worth per transaction
                batches = await consumer.getmany(*active, timeout_ms=500 if not records else 0,
                                                 max_records=REPLAY_BATCH - len(records))
                if not batches:
                    break
                for tp, msgs in batches.items():
                    records += [m for m in msgs if m.offset < ends[tp]]
                    if msgs and msgs[-1].offset + 1 >= ends[tp]:
                        active.discard(tp)
            if not records:
                if time.monotonic() - last_progress > idle_timeout_s:
                    raise TimeoutError(f"no records for {idle_timeout_s:.0f} s; still expecting {sorted(map(str, active))}")
                continue
            last_progress = time.monotonic()
            events = []
            for r in records:
                try:
                    events.append(parse_event(r.value))
                except (ValidationError, ValueError):
                    skipped += 1  # the live projection dead-lettered it
            offsets: dict[tuple[str, int], int] = {}
            for r in records:
                offsets[(r.topic, r.partition)] = max(offsets.get((r.topic, r.partition), 0), r.offset + 1)
            async with engine.begin() as conn:
                await recorder.apply(conn, events)
                for (topic, partition), offset in offsets.items():
                    await conn.execute(upsert(conn, schema.tracking, {"topic": topic, "partition": partition,
                                                                      "next_offset": offset},
                                              keys=("topic", "partition"), update={"next_offset": offset}))
            applied += len(events)
    finally:
        await consumer.stop()
        await engine.dispose()
    return applied, skipped


async def rebuild(settings: Settings, *, target_url: str | None = None, keep: bool = False,
                  idle_timeout_s: float = 60.0) -> Report:
    live_engine = make_engine(settings.database_url)
    try:
        async with live_engine.connect() as conn:
            if is_sqlite(settings.database_url):
                await conn.exec_driver_sql("BEGIN")  # one read transaction: a WAL snapshot
            else:
                await conn.execution_options(isolation_level="REPEATABLE READ")
            live = await snapshot(conn)
    finally:
        await live_engine.dispose()
    target, temporary = await _create_target(settings.database_url, target_url)
    try:
        await migrate_async(target, "ledger")
        started = time.monotonic()
        events, skipped = await replay(settings, target, live.offsets, idle_timeout_s=idle_timeout_s)
        seconds = time.monotonic() - started
        engine = make_engine(target)
        try:
            async with engine.connect() as conn:
                rebuilt = await snapshot(conn)
        finally:
            await engine.dispose()
    finally:
        if temporary and not keep:
            await _drop_target(settings.database_url, temporary)
    shown = make_url(target).render_as_string(hide_password=True)
    return Report(shown + ("" if keep or not temporary else " (dropped)"), events, skipped, seconds, live, rebuilt,
                  _differences(live, rebuilt))


async def verify(settings: Settings) -> audit.Verification:
    engine = make_engine(settings.database_url)
    try:
        async with engine.connect() as conn:
            return await audit.verify(conn)
    finally:
        await engine.dispose()


def run_rebuild(settings: Settings, *, target_url: str | None, keep: bool, idle_timeout_s: float) -> int:
    tune_gc()  # as the service: the recorder's batch-long objects make CPython's default collector costly
    report = asyncio.run(rebuild(settings, target_url=target_url, keep=keep, idle_timeout_s=idle_timeout_s))
    print("\n".join(report.lines()))
    return 0 if report.matches else 1


def run_verify(settings: Settings) -> int:
    result = asyncio.run(verify(settings))
    if result.ok:
        print(f"journal intact: {result.rows} rows, every hash link checks")
        return 0
    print(f"journal BROKEN at row {result.first_broken_seq}: {result.reason} ({result.rows} rows verified before it)")
    return 1
