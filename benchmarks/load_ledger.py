"""Load a large ledger (and an alert inbox) for the console benchmark, without a broker.

    .venv/bin/python benchmarks/load_ledger.py --payments 1000000 \\
        [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/fw_1m] [--alerts 5000]

1. The demo data set at `--payments` (`services.demo.iter_events`, deterministic, streamed) is
   parsed as ingest parses it (`contracts.parse_event` with the PII key of the settings) and the
   events the ledger consumes are applied by the ledger's own recorder in transactions of
   `rebuild.REPLAY_BATCH` events — the replay path of `fundwatch ledger rebuild`, so the balances
   are those the live path gives (no derived stream is written: nothing reads it here).
2. `--alerts` alerts are written to the alerts read model through its projection code
   (`services.alerts.store.record_transition`): raised on deterministic sample payments of the
   ledger, spread over the rules, levels and counties, a share of them verified or rectified.
3. The access, alerts and ledger schemas are migrated (the console benchmark signs in against it).

The database is dropped and recreated (PostgreSQL), or the SQLite file replaced."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import sys
import time
from pathlib import Path

import asyncpg
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from contracts import parse_event
from contracts.alert import AlertEvidence, AlertLevel, AlertTransitioned, AlertTransitionKind
from services import demo
from services.alerts import store
from services.alerts.catalogue import CATALOGUE
from services.ledger import schema
from services.ledger.rebuild import REPLAY_BATCH
from services.ledger.recorder import Recorder, consumed
from services.runtime.db import is_sqlite, make_engine, migrate, recreate_database
from services.runtime.service import tune_gc
from services.runtime.settings import Settings

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/fw_1m"




async def project(url: str, payments: int, pii_key: bytes, batch: int) -> tuple[int, int]:
    """Generate, parse and apply; returns (log events, applied events)."""
    engine = make_engine(url)
    recorder = Recorder(None)
    total = applied = 0
    started = last = time.perf_counter()
    chunk = []

    async def flush() -> None:
        nonlocal applied, chunk
        async with engine.begin() as conn:
            await recorder.apply(conn, chunk)
        applied += len(chunk)
        chunk = []

    try:
        for raw in demo.iter_events(size=payments):
            total += 1
            if consumed(raw["type"]):
                chunk.append(parse_event(raw, pii_key=pii_key))
                if len(chunk) >= batch:
                    await flush()
                    if time.perf_counter() - last > 30:
                        last = time.perf_counter()
                        print(f"  {applied:,} events applied ({total:,} in the log) after {last - started:.0f} s",
                              flush=True)
        if chunk:
            await flush()
    finally:
        await engine.dispose()
    return total, applied


# levels of the inbox as the worker leaves them: most open yellow, some red, bells, closed greens
_OUTCOMES = (("yellow", None), ("yellow", None), ("yellow", None), ("red", None), ("bell", None),
             ("yellow", "verified_violation"), ("yellow", "verified_normal"), ("red", "rectified"))


async def alerts(url: str, n: int) -> int:
    """`n` alerts on sample payments through the alerts projection's own write code."""
    if n <= 0:
        return 0
    engine = make_engine(url)
    rules = sorted(r for r, spec in CATALOGUE.items() if spec.category in ("usage", "recipients", "progress"))
    try:
        async with engine.connect() as conn:
            p = schema.payments
            # a spread sample, the same on both backends: payment numbers end in a serial
            rows = (await conn.execute(
                select(p.c.payment_id, p.c.event_id, p.c.region, p.c.indicator_id, p.c.amount_fen, p.c.payment_date,
                       p.c.payee_name, p.c.purpose).where(p.c.payment_date.is_not(None))
                .order_by(func.substr(p.c.payment_id, func.length(p.c.payment_id) - 2), p.c.payment_id)
                .limit(n))).all()
            funds = dict((await conn.execute(text("SELECT indicator_id, fund_code FROM ledger_indicators"))).all())
        written = 0
        for start in range(0, len(rows), 500):
            async with engine.begin() as conn:
                for k, r in enumerate(rows[start:start + 500], start):
                    rule = rules[k % len(rules)]
                    spec = CATALOGUE[rule]
                    level, then = _OUTCOMES[int(hashlib.md5(r.payment_id.encode()).hexdigest()[:4], 16) % len(_OUTCOMES)]
                    at = dt.datetime.combine(r.payment_date, dt.time(10), dt.UTC) + dt.timedelta(minutes=k % 600)
                    alert_id = f"{rule}:{r.payment_id}"
                    evidence = [AlertEvidence(event_id=r.event_id, type="payment.recorded", time=at, region=r.region,
                                              facts={"payment_id": r.payment_id, "amount_fen": str(r.amount_fen),
                                                     "purpose": r.purpose[:60]})]
                    base = dict(alert_id=alert_id, rule_id=rule, category=spec.category, title_zh=spec.title_zh,
                                title_en=spec.title_en, subject=f"payment:{r.payment_id}",
                                fund_code=funds.get(r.indicator_id), budget_year=r.payment_date.year,
                                evidence_event_ids=[r.event_id], evidence=evidence)
                    await store.record_transition(conn, r.region, AlertTransitioned(
                        **base, transition_id=f"{alert_id}.1", transition=AlertTransitionKind.raised,
                        level=AlertLevel(level), at=at, findings=f"{spec.title_zh}：支付 {r.payment_id}（{r.payee_name}）"))
                    if then:
                        final = AlertLevel.green if then in ("verified_normal", "rectified") else AlertLevel.red
                        await store.record_transition(conn, r.region, AlertTransitioned(
                            **base, transition_id=f"{alert_id}.2", transition=AlertTransitionKind(then),
                            from_level=AlertLevel(level), level=final, open=final != AlertLevel.green,
                            actor="loader", at=at + dt.timedelta(days=3), method="现场核查"))
                    written += 1
    finally:
        await engine.dispose()
    return written


async def analyze(url: str) -> None:
    """Statistics and (PostgreSQL) the visibility map, as autovacuum leaves a settled store: index-only
    scans need it."""
    if is_sqlite(url):
        engine = make_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.execute(text("ANALYZE"))
        finally:
            await engine.dispose()
        return
    u = make_url(url)
    conn = await asyncpg.connect(user=u.username, password=u.password, host=u.host, port=u.port, database=u.database)
    try:
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--payments", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--alerts", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=REPLAY_BATCH)
    parser.add_argument("--alerts-only", action="store_true", help="keep the ledger, (re)write the alerts")
    args = parser.parse_args()
    settings = Settings()
    tune_gc()
    url = args.database_url
    if not args.alerts_only:
        asyncio.run(recreate_database(url))
    for service in ("ledger", "alerts", "access"):
        migrate(url, service)
    if not args.alerts_only:
        t = time.perf_counter()
        total, applied = asyncio.run(project(url, args.payments, settings.pii_key_bytes, args.batch))
        print(f"ledger: {args.payments:,} payments, {total:,} log events, {applied:,} applied in "
              f"{time.perf_counter() - t:.0f} s (generate + parse + apply)", flush=True)
    t = time.perf_counter()
    print(f"alerts: {asyncio.run(alerts(url, args.alerts)):,} written in {time.perf_counter() - t:.0f} s", flush=True)
    asyncio.run(analyze(url))
    return 0


if __name__ == "__main__":
    sys.exit(main())
