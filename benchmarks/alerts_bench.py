"""Alerts benchmark: throughput of one worker through all 47 rules, and event-to-alert latency
under load, on the embedded broker. Not a test; run by hand:

    .venv/bin/python benchmarks/alerts_bench.py --size 20000 --rate 3000

1. The demo data set of `--size` payments, with the ledger's derived stream (postings,
   interlocks, and its `ledger.progress` markers) computed by the real ledger recorder on SQLite,
   is published to the topics in time order. One `alerts-worker` process is started on the
   backlog: throughput is the events it routes and evaluates per second until every fact has been
   applied.
2. A second data set (another seed, same size) is published at `--rate` events/s to the running,
   caught-up worker; for every alert raised by an event of this phase, latency is the time from
   the moment the event was handed to the broker to the moment the alert transition was read
   back from the alert topic — for a rule that waits until another source is complete up to the
   event (watermarks), that includes the wait. p50/p99 are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import rawlimit  # noqa: E402
from contracts import parse_event  # noqa: E402
from contracts.envelope import Envelope  # noqa: E402
from contracts.topics import Family  # noqa: E402
from services import demo  # noqa: E402
from services.alerts.catalogue import CATALOGUE, WAITS_FOR  # noqa: E402
from services.ledger import offline  # noqa: E402
from services.runtime.broker import EmbeddedBroker, free_port  # noqa: E402
from services.runtime.kafka import ensure_topics, make_consumer, make_producer  # noqa: E402
from services.runtime.settings import Settings  # noqa: E402


def with_ledger(events: list[dict], settings: Settings, db: Path, after: list | None = None
                ) -> list[tuple[Envelope, int | None]]:
    """Input events interleaved with the ledger's derived stream and its markers (the real recorder, SQLite);
    `after`: what is on the topics already (the markers' positions count on from it)."""
    parsed = [parse_event(e, pii_key=settings.pii_key_bytes) for e in events]
    start = offline.positions_of(after, settings.topic) if after else None
    return offline.published(f"sqlite+aiosqlite:///{db}", parsed, settings.topic, batch=1000, start=start)


def status(port: int) -> dict:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/v1/status", timeout=2).json()["counters"]
    except (httpx.HTTPError, ValueError, KeyError):
        return {}


def start_worker(settings: Settings, port: int, log: Path) -> subprocess.Popen:
    env = dict(os.environ)
    for name, value in settings.model_dump().items():
        if value is not None:
            env[f"FUNDWATCH_{name.upper()}"] = str(value.get_secret_value() if hasattr(value, "get_secret_value")
                                                   else value)
    env.update(FUNDWATCH_ALERTS_WORKER_PORT=str(port), FUNDWATCH_LOG_LEVEL="WARNING")
    return subprocess.Popen([sys.executable, "-m", "services.runtime.cli", "serve", "alerts-worker"], cwd=ROOT, env=env,
                            stdout=open(log, "ab"), stderr=subprocess.STDOUT, start_new_session=True)


async def publish(settings: Settings, events: list[tuple[Envelope, int | None]], rate: float | None,
                  sent_at: dict[str, float]) -> float:
    producer = make_producer(settings, linger_ms=2)
    await producer.start()
    started = time.monotonic()
    try:
        futures = []
        for i, (e, partition) in enumerate(events):
            if rate:
                due = started + i / rate
                delay = due - time.monotonic()
                if delay > 0:
                    if futures:
                        await asyncio.gather(*futures)
                        futures = []
                    await asyncio.sleep(delay)
            futures.append(await producer.send(settings.topic(e.family), e.to_json(), key=e.key, partition=partition))
            sent_at[e.id] = time.time()
            if len(futures) >= 500:
                await asyncio.gather(*futures)
                futures = []
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return time.monotonic() - started


async def collect(settings: Settings, sent_at: dict[str, float], latencies: dict[str, list[float]],
                  stop: asyncio.Event) -> None:
    """Latency of each alert raised by this phase's events, by rule kind: `event` rules decide on
    the event itself; `deadline`/`checkpoint` rules fire when the clock passes a date — in event
    time, when later events (or the end-of-input flush) move the watermark, so their delay is
    the input's, not the worker's."""
    consumer = make_consumer(settings, f"bench-{uuid.uuid4().hex[:6]}", settings.topic(Family.alert))
    await consumer.start()
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=200)
            now = time.time()
            for records in batches.values():
                for r in records:
                    e = parse_event(r.value)
                    if e.type != "alert.transitioned" or e.data.transition.value != "raised":
                        continue
                    ids = [i for i in e.data.evidence_event_ids if i in sent_at]
                    if ids:
                        kind = CATALOGUE[e.data.rule_id].kind
                        if kind == "event":
                            waits = WAITS_FOR.get(e.data.rule_id)
                            kind = f"event, after {waits} is complete" if waits else "event, at once"
                        latencies.setdefault(kind, []).append(now - max(sent_at[i] for i in ids))
    finally:
        await consumer.stop()


def wait_drained(port: int, events: int, worker: subprocess.Popen, timeout_s: float = 900) -> float:
    """Seconds until the worker has routed `events` and applied every fact it routed."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise RuntimeError(f"the worker exited with {worker.returncode} (see its log)")
        c = status(port)
        if c.get("events", 0) >= events and c.get("facts_applied", 0) >= c.get("facts", 1):
            return time.monotonic()
        time.sleep(0.05)
    raise TimeoutError(f"worker did not drain: {status(port)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=20_000, help="demo payments per data set")
    parser.add_argument("--rate", type=float, default=3000, help="events/s offered in the latency phase")
    parser.add_argument("--rate-fraction", type=float, help="offer this fraction of the raw broker limit "
                                                              "instead of --rate (e.g. 0.2)")
    parser.add_argument("--verbose", action="store_true", help="print the worker's progress every 2 s")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="alerts-bench-"))
    broker = EmbeddedBroker(free_port(), log_path=tmp / "broker.log").start()
    settings = Settings(kafka_bootstrap=broker.bootstrap, topic_prefix=f"b{uuid.uuid4().hex[:8]}",
                        database_url=f"sqlite+aiosqlite:///{tmp / 'unused.db'}")
    port = free_port()
    worker = None
    try:
        print(f"preparing two data sets of {args.size} payments with the ledger's derived stream …", flush=True)
        backlog = with_ledger(demo.generate(size=args.size).events, settings, tmp / "l1.db")
        live_raw = demo.generate(size=args.size, seed=7).events
        for e in live_raw:  # demo ids restart at demo-00000001 for every seed: keep the two sets apart
            e["id"] = f"live-{e['id']}"
            # and the live set happens after the backlog: the watermarks move with it, as in a live run (an
            # event older than the platform's time would be taken as beyond its lateness, in arrival order)
            e["time"] = (dt.datetime.fromisoformat(e["time"]) + dt.timedelta(days=366)).isoformat()
        live_raw = [e for e in live_raw if e["type"] not in ("region.registered", "fund.registered", "group.assigned")]
        live = with_ledger(live_raw, settings, tmp / "l2.db", after=backlog)
        asyncio.run(ensure_topics(settings))
        limit = rawlimit.measure(broker.bootstrap, rawlimit.payloads_of(e.to_json() for e, _ in backlog))
        print(limit, flush=True)
        if args.rate_fraction:  # the latency phase's offered rate as a fraction of the raw limit
            args.rate = args.rate_fraction * min(limit.produce_per_s, limit.consume_decode_per_s)
        sent_at: dict[str, float] = {}
        asyncio.run(publish(settings, backlog, None, sent_at))
        print(f"backlog: {len(backlog)} events on the broker; starting one worker", flush=True)

        worker = start_worker(settings, port, tmp / "worker.log")
        while not status(port).get("events"):
            if worker.poll() is not None:
                raise RuntimeError(f"the worker exited with {worker.returncode} (see {tmp / 'worker.log'})")
            time.sleep(0.01)
        routed = sum(1 for e, _ in backlog if e.type != "ledger.progress")  # markers are read, not routed
        t0 = time.monotonic()
        t1 = wait_drained(port, routed, worker)
        c = status(port)
        print(f"throughput: {len(backlog)} events in {t1 - t0:.1f} s = {len(backlog) / (t1 - t0):,.0f} events/s "
              f"({c.get('facts', 0):,} facts, {c.get('state_writes', 0):,} state writes, "
              f"{c.get('messages', 0):,} faust messages, {sum(v for k, v in c.items() if k.startswith('rule:')):,} alerts)",
              flush=True)
        print(f"  {limit.of(len(backlog) / (t1 - t0), 'throughput')}", flush=True)

        async def latency_phase() -> tuple[float, list[float]]:
            latencies: dict[str, list[float]] = {}
            stop = asyncio.Event()
            sent: dict[str, float] = {}
            reader = asyncio.create_task(collect(settings, sent, latencies, stop))
            await asyncio.sleep(5)  # the reader joins its group
            async def watch() -> None:  # how far the worker's router trails the offered input
                base = routed
                while not stop.is_set():
                    await asyncio.sleep(2)
                    c = await asyncio.to_thread(status, port)
                    print(f"  offered {len(sent):>7,}  routed {c.get('events', 0) - base:>7,}  "
                          f"facts applied {c.get('facts_applied', 0):>8,} of {c.get('facts', 0):,}", flush=True)

            watcher = asyncio.create_task(watch()) if args.verbose else None
            took = await publish(settings, live, args.rate, sent)
            await asyncio.to_thread(wait_drained, port, routed + sum(1 for e, _ in live if e.type != "ledger.progress"),
                                    worker)
            await asyncio.sleep(1)
            stop.set()
            await reader
            if watcher:
                await watcher
            return took, latencies

        before = httpx.get(f"http://127.0.0.1:{port}/v1/status", timeout=2).json()
        live_started = time.monotonic()
        took, latencies = asyncio.run(latency_phase())
        live_took = time.monotonic() - live_started
        print(f"latency: {len(live)} events offered at {len(live) / took:,.0f}/s "
              f"({limit.of(len(live) / took, 'offered')})")
        for kind, values in sorted(latencies.items()):
            values.sort()
            p50 = statistics.median(values)
            p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
            print(f"  {kind:34} rules: {len(values)} alerts raised; event-to-alert p50 {p50 * 1000:.0f} ms, "
                  f"p99 {p99 * 1000:.0f} ms, max {values[-1] * 1000:.0f} ms")
        print(f"worker counters: {status(port)}")
        after = httpx.get(f"http://127.0.0.1:{port}/v1/status", timeout=2).json()
        print(f"agent seconds, whole run: {after.get('agent_seconds')}")
        spent = {k: round(v - before["agent_seconds"].get(k, 0), 2) for k, v in after["agent_seconds"].items()
                 if not k.endswith("_max")}
        print(f"agent seconds in the {live_took:.0f} s of the latency phase: {spent}; "
              f"messages {after['counters'].get('messages', 0) - before['counters'].get('messages', 0):,}")
        return 0
    finally:
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(15)
            except subprocess.TimeoutExpired:
                worker.kill()
        broker.stop()


if __name__ == "__main__":
    sys.exit(main())
