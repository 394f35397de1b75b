"""Ledger benchmark (not a test): projection throughput and query latency on the demo province.

    python benchmarks/ledger_bench.py --payments 1000000 \\
        [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/fw_ledger_bench] \\
        [--batch 2000] [--replay-batch 10000] [--queries 200] [--broker-payments 100000] [--skip-replay]

1. Generates the demo data set (`services.demo.iter_events`, streamed) and parses each event as
   ingest does (`contracts.parse_event` with the PII key) — not timed.
2. Projection throughput, driving the recorder directly with parsed events, one transaction per
   batch (minus Kafka):
   - live: derived stream written to the outbox (the service's path), batches of `--batch`
     (what the Projection does per poll);
   - replay: no derived stream, batches of `--replay-batch` (what `fundwatch ledger rebuild`
     does, `rebuild.REPLAY_BATCH`), into a second database.
   Both report events/s over the events the ledger applies (indicator, payment and the reference
   events it keeps) and over the whole log.
3. Query latency (p50/p95/max) of overview, trace and search (plus tree and indicator detail)
   through the HTTP API (FastAPI app in process, httpx ASGI transport, Ministry-scope token) on
   the live database.
4. With `--broker-payments N > 0`: the ledger projection through the embedded broker (Tansu) for
   a demo of N payments: publish, then time the Projection (parse + apply) until caught up.

The database named by --database-url is dropped and recreated (and `<name>_replay` beside it)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import pickle
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy import text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiokafka import TopicPartition

from contracts import TOPICS, Family, parse_event
from services import demo
from services.ledger import schema
from services.ledger.api import create_app
from services.ledger.main import make_projection
from services.ledger.rebuild import REPLAY_BATCH
from services.ledger.recorder import Recorder, consumed
from services.runtime.auth import issue_token
from services.runtime.broker import EmbeddedBroker, free_port
from services.runtime.db import make_engine, migrate, recreate_database
from services.runtime.kafka import ensure_topics, make_consumer, make_producer
from services.runtime.service import tune_gc
from services.runtime.settings import Settings

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/fw_ledger_bench"




def parse_to_cache(payments: int, batch: int, pii_key: bytes, cache: Path) -> tuple[int, int, float]:
    """Generate the demo once and keep the events the ledger applies as ingest publishes them
    (personal data hashed), in batches. Returns (log events, applied events, seconds)."""
    started, total, kept = time.perf_counter(), 0, 0
    with cache.open("wb") as fh:
        chunk = []
        for raw in demo.iter_events(size=payments):
            total += 1
            if consumed(raw["type"]):
                chunk.append(parse_event(raw, pii_key=pii_key).to_json())
                if len(chunk) >= batch:
                    pickle.dump(chunk, fh, protocol=pickle.HIGHEST_PROTOCOL)
                    kept += len(chunk)
                    chunk = []
        if chunk:
            pickle.dump(chunk, fh, protocol=pickle.HIGHEST_PROTOCOL)
            kept += len(chunk)
    return total, kept, time.perf_counter() - started


def batches(cache: Path, size: int):
    """Parsed batches of `size` events (the parse is not part of the timed projection)."""
    pending: list[bytes] = []
    with cache.open("rb") as fh:
        while True:
            try:
                pending += pickle.load(fh)
            except EOFError:
                break
            while len(pending) >= size:
                yield [parse_event(value) for value in pending[:size]]
                del pending[:size]
    if pending:
        yield [parse_event(value) for value in pending]


async def project(url: str, cache: Path, *, publish: bool, batch: int) -> tuple[int, float, float]:
    """Apply every cached batch in its own transaction; returns (events, wall s in apply+commit, CPU s)."""
    await asyncio.to_thread(migrate, url, "ledger")
    engine = make_engine(url)
    recorder = Recorder("fundwatch.ledger.v1" if publish else None)
    n, wall, cpu = 0, 0.0, 0.0
    try:
        for chunk in batches(cache, batch):
            t, c = time.perf_counter(), time.process_time()
            async with engine.begin() as conn:
                out = await recorder.apply(conn, chunk)
                if out:  # what the Projection does with the returned tail of the derived stream
                    await conn.execute(schema.outbox.insert(),
                                       [{"topic": o.topic, "key": o.key, "value": o.value} for o in out])
            wall += time.perf_counter() - t
            cpu += time.process_time() - c
            n += len(chunk)
        async with engine.begin() as conn:
            await conn.execute(text("ANALYZE"))
    finally:
        await engine.dispose()
    return n, wall, cpu


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def latencies(url: str, settings: Settings, queries: int) -> dict[str, list[float]]:
    engine = make_engine(url)
    app = create_app(engine, None, settings)
    rng = random.Random(7)
    token = {"Authorization": f"Bearer {issue_token(settings, 'bench', '000000')}"}
    async with engine.connect() as conn:
        payment_ids = [r[0] for r in (await conn.execute(text(
            "SELECT payment_id FROM ledger_payments ORDER BY md5(payment_id) LIMIT 2000"))).all()]
        regions = [r[0] for r in (await conn.execute(text("SELECT code FROM ledger_regions WHERE length(code) = 6")))]
        names = [r[0] for r in (await conn.execute(text("SELECT name FROM ledger_projects ORDER BY md5(project_code) "
                                                        "LIMIT 500"))).all()]
        docs = [r[0] for r in (await conn.execute(text("SELECT doc_no FROM ledger_transfers ORDER BY md5(transfer_id) "
                                                       "LIMIT 200"))).all()]
        indicators = [r[0] for r in (await conn.execute(text(
            "SELECT indicator_id FROM ledger_indicators WHERE length(region) = 6 AND region NOT LIKE '%00' "
            "ORDER BY md5(indicator_id) LIMIT 200"))).all()]
    keywords = []
    for name in names:  # the part after the township: village + item, e.g. 槐树村道路硬化项目
        tail = name[name.find("镇") + 1:] if "镇" in name else name
        keywords += [tail[:6], tail[-6:-2], f"{name[5:8]} {tail[-6:-2]}"]
    keywords += docs + ["豫财农", "财预〔2026〕", "道路硬化", "香菇种植", "饮水管网"]
    plans = {
        "overview": lambda: ("/v1/overview", {"region": rng.choice(regions), "budget_year": 2026}),
        "trace": lambda: (f"/v1/payments/{rng.choice(payment_ids)}/trace", {}),
        "search": lambda: ("/v1/search", {"q": rng.choice(keywords)}),
        "tree": lambda: ("/v1/regions/tree", {"region": rng.choice(regions)}),
        "indicator": lambda: (f"/v1/indicators/{rng.choice(indicators)}", {}),
    }
    out: dict[str, list[float]] = {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ledger",
                                 headers=token, timeout=60) as client:
        for name, plan in plans.items():
            for _ in range(5):  # warm-up
                path, params = plan()
                await client.get(path, params=params)
            samples = []
            for _ in range(queries):
                path, params = plan()
                t = time.perf_counter()
                r = await client.get(path, params=params)
                samples.append((time.perf_counter() - t) * 1000)
                assert r.status_code == 200, (path, params, r.status_code, r.text[:300])
            out[name] = samples
    await engine.dispose()
    return out


async def through_broker(payments: int, url: str) -> tuple[int, int, float]:
    """Publish a demo log on the embedded broker, then time the ledger projection until caught up."""
    raw = list(demo.iter_events(size=payments))
    tmp = Path(tempfile.mkdtemp(prefix="fw-ledger-bench-"))
    with EmbeddedBroker(free_port(), log_path=tmp / "broker.log") as broker:
        settings = Settings(kafka_bootstrap=broker.bootstrap, database_url=url, topic_prefix="bench")
        events = [parse_event(e, pii_key=settings.pii_key_bytes) for e in raw]
        await ensure_topics(settings)
        producer = make_producer(settings)
        await producer.start()
        try:
            for i in range(0, len(events), 5000):
                futures = [await producer.send(settings.topic(e.family), e.to_json(), key=e.key)
                           for e in events[i:i + 5000]]
                await asyncio.gather(*futures)
            await asyncio.to_thread(migrate, url, "ledger")
            engine = make_engine(url)
            projection = make_projection(settings, engine, producer)
            topics = [settings.topic(f) for f in (Family.reference, Family.indicator, Family.payment)]
            probe = make_consumer(settings, "bench-probe")
            await probe.start()
            parts = [TopicPartition(t, p) for t in topics for p in range(TOPICS[Family(t.split(".")[1])].partitions)]
            wanted = sum((await probe.end_offsets(parts)).values())
            await probe.stop()
            stop = asyncio.Event()
            task = asyncio.create_task(projection.run(stop))
            while not projection.positions:  # the group join (seconds on Tansu) is not projection time
                await asyncio.sleep(0.01)
            started, first = time.perf_counter(), sum(projection.positions.values())
            while sum(projection.positions.values()) < wanted:
                await asyncio.sleep(0.1)
                if task.done():
                    task.result()
            elapsed = time.perf_counter() - started
            stop.set()
            await task
            await engine.dispose()
        finally:
            await producer.stop()
    shutil.rmtree(tmp, ignore_errors=True)
    return wanted - first, projection.applied, elapsed


def report_latencies(url: str, settings: Settings, queries: int) -> None:
    lat = asyncio.run(latencies(url, settings, queries))
    print(f"query latency over HTTP (in-process ASGI), {queries} requests each, ms:")
    for name, samples in lat.items():
        print(f"  {name:<10} p50 {statistics.median(samples):7.1f}   p95 {pct(samples, 0.95):7.1f}   "
              f"max {max(samples):7.1f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--payments", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--batch", type=int, default=2000, help="events per transaction, live")
    parser.add_argument("--replay-batch", type=int, default=REPLAY_BATCH,
                        help="events per transaction, replay (default: what `fundwatch ledger rebuild` uses)")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--broker-payments", type=int, default=0)
    parser.add_argument("--skip-replay", action="store_true", help="measure only the live path")
    parser.add_argument("--queries-only", action="store_true",
                        help="only the query latencies, on the database an earlier run left behind")
    args = parser.parse_args()
    settings = Settings()
    tune_gc()
    if args.queries_only:
        report_latencies(args.database_url, settings, args.queries)
        return
    live_url = args.database_url
    replay_url = make_url(live_url).set(database=make_url(live_url).database + "_replay").render_as_string(False)

    cache = Path(tempfile.mkdtemp(prefix="fw-ledger-bench-")) / "events.pickle"
    print(f"generating and parsing the demo at {args.payments:,} payments …", flush=True)
    log_events, applied_events, parse_s = parse_to_cache(args.payments, args.batch, settings.pii_key_bytes, cache)
    print(f"  {log_events:,} events in the log, {applied_events:,} applied by the ledger "
          f"(generated + parsed in {parse_s:.0f} s, not timed below)", flush=True)
    gc.collect()

    from benchmarks import rawlimit

    limit = rawlimit.measure_fresh(rawlimit.payloads_of(demo.iter_events(size=2000)))  # same run, same machine
    print(limit, flush=True)
    results = {}
    modes = [("live (derived stream → outbox)", live_url, True, args.batch)]
    if not args.skip_replay:
        modes.append(("replay (no derived stream, as rebuild)", replay_url, False, args.replay_batch))
    for label, url, publish, size in modes:
        asyncio.run(recreate_database(url))
        n, wall, cpu = asyncio.run(project(url, cache, publish=publish, batch=size))
        results[label] = (n, wall, cpu)
        print(f"projection {label}: {n:,} events in {wall:.1f} s = {n / wall:,.0f} applied events/s "
              f"({log_events / wall:,.0f} log events/s); Python CPU {cpu / n * 1e6:.0f} µs/event, "
              f"batches of {size}", flush=True)
        print(f"  {limit.of(n / wall, 'applied events')}", flush=True)
    shutil.rmtree(cache.parent, ignore_errors=True)

    async def sizes() -> dict[str, int]:
        engine = make_engine(live_url)
        async with engine.connect() as conn:
            out = {t: (await conn.execute(text(f"SELECT count(*) FROM {t}"))).scalar_one()
                   for t in ("ledger_payments", "ledger_journal", "ledger_indicators", "ledger_projects",
                             "ledger_outbox")}
        await engine.dispose()
        return out

    print("data set:", ", ".join(f"{k} {v:,}" for k, v in asyncio.run(sizes()).items()), flush=True)
    report_latencies(live_url, settings, args.queries)

    if args.broker_payments:
        url = make_url(live_url).set(database=make_url(live_url).database + "_broker").render_as_string(False)
        asyncio.run(recreate_database(url))
        wanted, applied, elapsed = asyncio.run(through_broker(args.broker_payments, url))
        if wanted <= 0 or elapsed < 1:
            print(f"through the embedded broker: {args.broker_payments:,} payments fit in the first batches; "
                  "use more to measure")
        else:
            print(f"through the embedded broker ({args.broker_payments:,} payments): {wanted:,} records of the "
                  f"consumed topics after the first batch in {elapsed:.1f} s = {wanted / elapsed:,.0f} records/s (consume + "
                  f"parse every record + apply + outbox; {applied:,} deliveries, records re-fetched after the "
                  f"group's rebalances included; batches of {settings.consumer_batch})")
        asyncio.run(_drop(url))
    if os.environ.get("LEDGER_BENCH_KEEP") != "1" and not args.skip_replay:
        asyncio.run(_drop(replay_url))


async def _drop(url: str) -> None:
    u = make_url(url)
    admin = await asyncpg.connect(user=u.username, host=u.host, port=u.port, database="postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{u.database}" WITH (FORCE)')
    finally:
        await admin.close()


if __name__ == "__main__":
    main()
