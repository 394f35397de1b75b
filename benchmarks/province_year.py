"""Province-year benchmark (not a test): N events (default 10M, a province's year at the demo's mix)
replayed through the ledger and the alerts worker on one machine; the time, events/s, CPU per event
and the rate as a fraction of the raw broker limit measured in the same run.

    .venv/bin/python benchmarks/province_year.py --events 10000000
    .venv/bin/python benchmarks/province_year.py --events 50000                     # a quick check
        [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/fw_province_year]  # else SQLite
        [--work-dir DIR --reuse]   # keep the generated log and the ledger's output, replay the alerts again
        [--profile alerts|ledger]  # cProfile of that phase, top entries printed (and DIR/<phase>.prof)

0. The log: the demo generator (`services.demo.iter_events`) scaled to about N events (~2.1 per
   payment), streamed, each event parsed as ingest publishes it (personal data hashed) and
   written to DIR/log.bin in batches, with the input partition the producer would pick (by key).
   Not timed: it is the upstream systems' year, not the platform's work.
1. The raw broker limit on an embedded broker (Tansu), for messages of this log's sizes
   (`benchmarks/rawlimit.py`): produce, and consume + JSON decode.
2. Ledger: the real recorder, one transaction per `--batch` events it consumes (reference,
   indicator, payment), the derived stream into the outbox as the service writes it; what the broker
   would then hold (input, derived stream, a `ledger.progress` marker per ledger partition per batch,
   as `services.ledger.offline.published`) goes to DIR/alerts-input.bin.
3. Alerts: the worker's two stages in process, without the broker hops, over that stream — the
   router's code (`parse_fast`, `Rounds`, rounds of `router_batch` records, each work message
   msgpack-encoded) and the agent's (`f.decode`, `Engine.process`, `Worker.output_records` — the
   alert events as JSON —, `Worker.with_outbox` encoding the state, `Worker.remember` keeping it as
   bytes), forwards between work partitions as the work topic carries them. The worker's wall clock
   is simulated (each round takes `router_batch` / 16.7k s, the target rate) so the watermarks and
   so the alerts are the same on every run; an alert digest is printed to compare runs.

The broker's own share (every record in and out, the work and state topics) is what the raw limit
bounds; the fraction printed says how much of it the platform's rate would use."""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime as dt
import hashlib
import os
import pickle
import pstats
import resource
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict, deque
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiokafka.partitioner import murmur2  # noqa: E402

from benchmarks import rawlimit  # noqa: E402
from contracts import make_event, parse_event  # noqa: E402
from contracts.ledger import LedgerProgress  # noqa: E402
from contracts.topics import TOPICS, Family  # noqa: E402
from services import demo  # noqa: E402
from services.alerts import facts as f  # noqa: E402
from services.alerts.config import AlertsSettings  # noqa: E402
from services.alerts.worker.app import Worker  # noqa: E402
from services.alerts.worker.router import parse_fast  # noqa: E402
from services.ledger import schema  # noqa: E402
from services.ledger.recorder import Recorder, consumed  # noqa: E402
from services.runtime.db import make_engine, migrate, recreate_database  # noqa: E402
from services.runtime.service import tune_gc  # noqa: E402
from services.runtime.settings import Settings  # noqa: E402

EVENTS_PER_PAYMENT = 2.1  # the demo's mix at scale (42,110 events for 20,000 payments)
TARGET_EVENTS_PER_S = 10_000_000 / 600  # issue 13: a province-year in at most 10 minutes
CHUNK = 5000  # events per pickled chunk of the files


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def chunks(path: Path) -> Iterator[list]:
    with path.open("rb") as fh:
        while True:
            try:
                yield pickle.load(fh)
            except EOFError:
                return


class Writer:
    def __init__(self, path: Path) -> None:
        self.fh, self.pending = path.open("wb"), []

    def add(self, item) -> None:
        self.pending.append(item)
        if len(self.pending) >= CHUNK:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            pickle.dump(self.pending, self.fh, protocol=pickle.HIGHEST_PROTOCOL)
            self.pending = []

    def close(self) -> None:
        self.flush()
        self.fh.close()


def partition_of(family: Family, key: bytes) -> int:
    return (murmur2(key) & 0x7FFFFFFF) % TOPICS[family].partitions


class Progress:
    """A line per million records, so that a long run says how far it is."""

    def __init__(self, phase: str, every: int = 1_000_000) -> None:
        self.phase, self.every, self.done, self.next = phase, every, 0, every

    def step(self, records: int, seconds: float) -> None:
        self.done += records
        if self.done >= self.next:
            self.next += self.every
            print(f"  {self.phase}: {self.done:,} records in {seconds:.0f} s ({self.done / seconds:,.0f}/s)", flush=True)


# ------------------------------------------------------------------ 0. the log


def make_log(events: int, path: Path, pii_key: bytes, seed: int) -> tuple[int, float]:
    """About `events` demo events, parsed as ingest publishes them: (family, partition, wire bytes)."""
    t0 = time.perf_counter()
    out, n = Writer(path), 0
    for raw in demo.iter_events(size=max(200, round(events / EVENTS_PER_PAYMENT)), seed=seed):
        e = parse_event(raw, pii_key=pii_key)
        out.add((e.family.value, partition_of(e.family, e.key), e.to_json()))
        n += 1
    out.close()
    return n, time.perf_counter() - t0


# ------------------------------------------------------------------ 2. the ledger




async def run_ledger(url: str, log: Path, out_path: Path, batch: int, topic_of) -> dict:
    """The recorder over the log; writes what the broker holds afterwards for the alerts:
    (topic, partition or None: by key, wire bytes) in publishing order."""
    engine = make_engine(url)
    recorder = Recorder(topic_of(Family.ledger), write_outbox=False)
    out = Writer(out_path)
    ledger_parts = TOPICS[Family.ledger].partitions
    positions: dict[str, int] = defaultdict(int)
    newest: dict[str, dt.datetime] = {}
    stats = Counter()
    wall = cpu = 0.0
    pending: list = []
    n_batch = 0

    async def apply(items: list) -> None:
        nonlocal wall, cpu, n_batch
        t, c = time.perf_counter(), cpu_s()
        parsed = [parse_event(value) for _, _, value in items]  # the ledger's consumer parses every record
        mine = [e for e in parsed if consumed(e.type)]
        async with engine.begin() as conn:
            derived = await recorder.apply(conn, mine)
            if derived:  # the service's derived stream goes out through its outbox
                await conn.execute(schema.outbox.insert(),
                                   [{"topic": o.topic, "key": o.key, "value": o.value} for o in derived])
        wall += time.perf_counter() - t
        cpu += cpu_s() - c
        stats["applied"] += len(mine)
        stats["derived"] += len(derived)
        for (family, q, value), e in zip(items, parsed, strict=True):
            tp = f"{topic_of(Family(family))}:{q}"
            positions[tp] += 1
            newest[tp] = max(newest.get(tp, e.time), e.time)
            out.add((topic_of(Family(family)), q, value))
        for o in derived:
            out.add((o.topic, None, o.value))
        for q in range(ledger_parts):
            marker = LedgerProgress(positions=dict(positions), newest=dict(newest), partition=q)
            out.add((topic_of(Family.ledger), q, make_event(
                "ledger.progress", marker, id=f"ledger:progress:{n_batch}:{q}", region="000000",
                time=dt.datetime.now(dt.UTC), source="fundwatch/ledger").to_json()))
        n_batch += 1

    progress = Progress("ledger")
    try:
        for chunk in chunks(log):
            for item in chunk:
                pending.append(item)
                if len(pending) >= batch:
                    await apply(pending)
                    progress.step(len(pending), wall)
                    pending = []
        if pending:
            await apply(pending)
    finally:
        await engine.dispose()
        out.close()
    stats["events"] = sum(positions.values())
    return {"wall": wall, "cpu": cpu, **stats}


# ------------------------------------------------------------------ 3. the alerts


class Replay:
    """The worker's router and agent in one process, over the records the broker would hold."""

    def __init__(self, settings: Settings, alerts: AlertsSettings) -> None:
        self.worker = Worker(settings, alerts)
        from services.alerts.rounds import Rounds, input_families
        from services.alerts.rules.registry import Rules
        from services.alerts.worker.router import INPUT

        self.family_of = input_families({settings.topic(fam): fam.value for fam in Family})
        self.rounds = Rounds(Rules(self.worker.configs), alerts.partitions, self.family_of)
        for fam in INPUT:
            for q in range(TOPICS[fam].partitions):
                self.rounds.know(settings.topic(fam), q)
        self.ledger_topic = settings.topic(Family.ledger)
        self.work_offsets: dict[int, int] = defaultdict(int)
        self.offsets: dict[tuple[str, int], int] = defaultdict(int)
        self.digest = hashlib.sha256()
        self.raised: Counter[str] = Counter()
        self.transitions = 0
        self.messages = 0
        self.work_bytes = 0
        self.state_bytes = 0
        self.alert_bytes = 0
        self.agent_cpu = 0.0  # of the CPU: the agent's share (the rest is the router's: parse, facts, rounds)

    def route(self, records: list, wall: float, remaining: dict[str, int]) -> None:
        """One router round: parse, facts, progress; one encoded work message per partition."""
        for topic, q, value in records:
            if q is None:  # the ledger's derived stream goes by key
                e = parse_fast(value)
                q = partition_of(Family.ledger, e.key)
            else:
                e = parse_fast(value)
            offset = self.offsets[(topic, q)]
            self.offsets[(topic, q)] += 1
            self.rounds.add(topic, q, offset, e, wall)
            family = self.family_of.get(topic)
            if family is not None:
                remaining[f"{family}:{q}"] -= 1
        for tp in self.rounds.progress:
            self.rounds.caught_up(tp, remaining.get(tp, 0) == 0)
        self.deliver(self.rounds.messages(wall, None), wall)

    def tick(self, wall: float) -> None:
        for tp in self.rounds.progress:
            self.rounds.caught_up(tp, True)
        self.deliver(self.rounds.messages(wall, None, tick=True), wall)

    def deliver(self, messages: dict[int, f.Work], wall: float) -> None:
        """The agent: each message at the next offset of its work partition, forwards behind it."""
        encoded = [(p, f.encode(work)) for p, work in messages.items()]  # by the router
        c = cpu_s()
        self._deliver(deque(encoded), self.worker)
        self.agent_cpu += cpu_s() - c

    def _deliver(self, pending: deque, w: Worker) -> None:
        while pending:
            p, raw = pending.popleft()
            self.work_bytes += len(raw)
            offset = self.work_offsets[p]
            self.work_offsets[p] += 1
            message = f.decode(raw)
            out = w.engine.process(p, w.store, message, offset)
            if out.dead:
                raise RuntimeError(f"engine dead letters: {[d.reason for d in out.dead]}")
            output = w.output_records(out)
            dirty = w.with_outbox(p, out.dirty, output)
            w.remember(p, dirty, out.dirty)
            self.messages += 1
            self.state_bytes += sum(len(v) for v in dirty.values() if v is not None)
            for r in output:
                if r.topic == w.work_topic_name:
                    pending.append((r.partition, r.value))
                else:
                    self.alert_bytes += len(r.value)
            for t in out.transitions:
                self.transitions += 1
                self.raised[t.rule_id] += t.kind.value == "raised"
                self.digest.update(f"{t.alert_id}|{t.kind.value}|{t.level}\n".encode())


def run_alerts(settings: Settings, alerts: AlertsSettings, path: Path) -> tuple[Replay, dict]:
    replay = Replay(settings, alerts)
    remaining: dict[str, int] = defaultdict(int)
    for chunk in chunks(path):  # the broker's end offsets: a partition read to its end is caught up
        for topic, q, _ in chunk:
            family = replay.family_of.get(topic)
            if family is not None:
                remaining[f"{family}:{q}"] += 1
    round_s = alerts.router_batch / TARGET_EVENTS_PER_S  # the simulated wall clock (see the docstring)
    wall = 1_800_000_000.0
    t, c = time.perf_counter(), cpu_s()
    records, n = [], 0
    progress = Progress("alerts")
    for chunk in chunks(path):
        for item in chunk:
            records.append(item)
            if len(records) >= alerts.router_batch:
                wall += round_s
                replay.route(records, wall, remaining)
                n += len(records)
                progress.step(len(records), time.perf_counter() - t)
                records = []
    if records:
        wall += round_s
        replay.route(records, wall, remaining)
        n += len(records)
    marks = {p: dict(clock.marks) for p in range(alerts.partitions)
             if (clock := replay.worker.store.get(f"G{p}:clock")) is not None}
    t_end, c_end = time.perf_counter(), cpu_s()
    wall += alerts.idle_s + 1  # the end of the input: every partition read and quiet for the idle time
    replay.tick(wall)
    return replay, {"wall": time.perf_counter() - t, "cpu": cpu_s() - c, "records": n, "marks": marks,
                    "end_wall": time.perf_counter() - t_end, "end_cpu": cpu_s() - c_end}


# ------------------------------------------------------------------ main


def profiled(enabled: bool, path: Path, fn, *args):
    if not enabled:
        return fn(*args)
    prof = cProfile.Profile()
    try:
        return prof.runcall(fn, *args)
    finally:
        prof.dump_stats(path)
        stats = pstats.Stats(prof)
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(40)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000_000, help="about this many events (default 10M)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--database-url", help="the ledger's database, dropped and recreated if PostgreSQL "
                                               "(default: SQLite in the work directory)")
    parser.add_argument("--batch", type=int, default=2000, help="events per ledger transaction (consumer_batch)")
    parser.add_argument("--work-dir", help="keep the log and the ledger's output here (default: a temporary one)")
    parser.add_argument("--reuse", action="store_true", help="take the log and the ledger's output from --work-dir")
    parser.add_argument("--skip-raw", action="store_true", help="do not measure the raw broker limit")
    parser.add_argument("--profile", choices=("alerts", "ledger"), help="cProfile this phase")
    args = parser.parse_args()
    tune_gc()

    work = Path(args.work_dir) if args.work_dir else Path(tempfile.mkdtemp(prefix="province-year-"))
    work.mkdir(parents=True, exist_ok=True)
    log_path, alerts_in = work / "log.bin", work / "alerts-input.bin"
    settings = Settings(topic_prefix="fw", database_url=f"sqlite+aiosqlite:///{work / 'unused.db'}")
    alerts_settings = AlertsSettings()

    if args.reuse and log_path.exists():
        n_log = sum(len(c) for c in chunks(log_path))
        print(f"log: {n_log:,} events, from {log_path}", flush=True)
    else:
        print(f"generating the log: about {args.events:,} events …", flush=True)
        n_log, gen_s = make_log(args.events, log_path, settings.pii_key_bytes, args.seed)
        print(f"log: {n_log:,} events (generated and parsed in {gen_s:.0f} s, not timed: upstream's year), "
              f"{log_path.stat().st_size / n_log:.0f} B/event on file", flush=True)

    limit = None
    if not args.skip_raw:
        payloads = [value for _, _, value in next(chunks(log_path))]
        limit = rawlimit.measure_fresh(payloads)
        print(limit, flush=True)

    if args.reuse and alerts_in.exists():
        ledger = None
        print(f"ledger: its output from {alerts_in}", flush=True)
    else:
        if args.database_url:
            url = args.database_url
            if url.startswith("postgresql"):
                asyncio.run(recreate_database(url))
        else:
            db = work / "ledger.db"
            db.unlink(missing_ok=True)
            url = f"sqlite+aiosqlite:///{db}"
        migrate(url, "ledger")
        print(f"ledger: {url.split('://')[0]}, batches of {args.batch} …", flush=True)
        ledger = profiled(args.profile == "ledger", work / "ledger.prof",
                          lambda: asyncio.run(run_ledger(url, log_path, alerts_in, args.batch, settings.topic)))
        print(f"ledger: {ledger['events']:,} events ({ledger['applied']:,} applied, {ledger['derived']:,} derived) "
              f"in {ledger['wall']:.1f} s = {ledger['events'] / ledger['wall']:,.0f} events/s; "
              f"CPU {ledger['cpu'] / ledger['events'] * 1e6:.0f} µs/event (this process; the database's "
              f"own CPU not counted for PostgreSQL)", flush=True)
        if limit:
            print(f"  {limit.of(ledger['events'] / ledger['wall'], 'ledger')}", flush=True)

    print(f"alerts: {alerts_settings.partitions} work partitions, rounds of {alerts_settings.router_batch} …",
          flush=True)
    replay, a = profiled(args.profile == "alerts", work / "alerts.prof",
                         lambda: run_alerts(settings, alerts_settings, alerts_in))
    print(f"alerts: {a['records']:,} records ({n_log:,} input events + the ledger's stream) in {a['wall']:.1f} s = "
          f"{n_log / a['wall']:,.0f} input events/s; CPU {a['cpu'] / n_log * 1e6:.0f} µs/input event "
          f"({a['cpu'] / a['records'] * 1e6:.0f} µs/record); {replay.messages:,} work messages "
          f"({replay.work_bytes / n_log:,.0f} B/event), state written {replay.state_bytes / n_log:,.0f} B/event, "
          f"{len(replay.worker.store):,} state keys", flush=True)
    print(f"  of which the end of the input (everything the watermarks had not decided yet): {a['end_wall']:.1f} s, "
          f"CPU {a['end_cpu']:.1f} s; watermarks before it: {a['marks']}", flush=True)
    agent, router = replay.agent_cpu, a["cpu"] - replay.agent_cpu
    pace = n_log / max(agent, router)
    print(f"  CPU: router {router / n_log * 1e6:.0f} µs/input event (parse, facts, rounds, work messages "
          f"encoded), agent {agent / n_log * 1e6:.0f} µs (work decoded, engine, state and output encoded); "
          f"one worker deployed (router and agent each on a core) at these costs: {pace:,.0f} events/s", flush=True)
    print(f"  {replay.transitions:,} transitions, {sum(replay.raised.values()):,} alerts raised "
          f"({len(replay.raised)} rules); digest {replay.digest.hexdigest()[:16]}", flush=True)
    if limit:
        print(f"  {limit.of(n_log / a['wall'], 'alerts')}", flush=True)

    if ledger:
        total = ledger["wall"] + a["wall"]
        cpu = ledger["cpu"] + a["cpu"]
        both = max(ledger["wall"], a["wall"])
        print(f"end to end, one after the other: {n_log:,} events in {total:.1f} s = {n_log / total:,.0f} events/s; "
              f"CPU {cpu / n_log * 1e6:.0f} µs/event", flush=True)
        print(f"  as services (ledger and alerts each on a core, the slower one sets the pace): {both:.1f} s = "
              f"{n_log / both:,.0f} events/s", flush=True)
        scale = 10_000_000 / n_log
        print(f"  10M events at these costs: {total * scale / 60:.1f} min one after the other, "
              f"{both * scale / 60:.1f} min as services (target 10 min = {TARGET_EVENTS_PER_S:,.0f} events/s; "
              f"CPU alone: ledger {ledger['cpu'] * scale / 60:.1f} min, alerts {a['cpu'] * scale / 60:.1f} min)",
              flush=True)
        if limit:
            print(f"  {limit.of(n_log / both, 'end to end as services')}", flush=True)
        cores = os.cpu_count() or 1
        print(f"  on this machine's {cores} cores, the CPU of every stage shared perfectly: at best "
              f"{n_log / cpu * cores:,.0f} events/s, 10M in {cpu * scale / cores / 60:.1f} min", flush=True)
    print(f"peak memory of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB",
          flush=True)
    if not args.work_dir:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("FUNDWATCH_LOG_LEVEL", "WARNING")
    sys.exit(main())
