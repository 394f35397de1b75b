"""Console page times (not a test): every page fetched N times as a signed-in treasury user,
printing the median and p95 server time per page in milliseconds (localhost, so the time from
request to the last byte is the servers' time: console + the APIs it calls + the database).

On a ledger loaded by benchmarks/load_ledger.py (1M payments: about 10 min on 2 shared cores):

    .venv/bin/python benchmarks/load_ledger.py --payments 1000000 --database-url URL
    .venv/bin/python benchmarks/console_bench.py --database-url URL [--n 10]

starts an embedded broker and the ledger, alerts, access and console services on that database
(their own processes, as `make run`), signs up a treasury user of 河南省 and measures. Or against
any running console: `console_bench.py --url http://127.0.0.1:8005 --user guoku --password P`.

Exports are timed twice: to the first byte and to the last (both XLSX and CSV stream page by page,
so the first byte is what the user waits for before the download starts)."""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import quote

import httpx
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.runtime.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
USER, PASSWORD = "bench-guoku", "Bench-guoku-2026!"
GOAL_MS = 1000.0


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def samples_of(url: str) -> dict[str, str]:
    """Ids the pages need, chosen from the store: the busiest city and county, a county indicator
    with many payments, an open red alert on a payment, a company payee, a document number."""
    from services.runtime.db import is_sqlite, make_engine

    engine = make_engine(url)
    out: dict[str, str] = {}
    try:
        async with engine.connect() as conn:
            async def one(sql: str) -> str:
                return str((await conn.execute(text(sql))).scalar_one())

            out["city"] = await one("SELECT substr(region, 1, 4) || '00' FROM ledger_indicators "
                                    "GROUP BY substr(region, 1, 4) ORDER BY count(*) DESC, 1 LIMIT 1")
            out["county"] = await one(f"SELECT region FROM ledger_indicators WHERE region LIKE '{out['city'][:4]}%' "
                                      "AND region NOT LIKE '%00' GROUP BY region ORDER BY count(*) DESC, 1 LIMIT 1")
            out["indicator"] = await one(f"SELECT indicator_id FROM ledger_payments WHERE region = '{out['county']}' "
                                         "GROUP BY indicator_id ORDER BY count(*) DESC, 1 LIMIT 1")
            out["alert"] = await one("SELECT alert_id FROM alerts_alerts WHERE open AND level = 'red' "
                                     "AND subject LIKE 'payment:%' ORDER BY raised_at DESC, alert_id LIMIT 1")
            out["payment"] = out["alert"].split(":", 1)[1]
            out["payee"] = await one("SELECT payee_name FROM ledger_payments WHERE payee_kind <> 'person' "
                                     f"AND region = '{out['county']}' ORDER BY payment_id LIMIT 1")
            out["doc_no"] = await one("SELECT doc_no FROM ledger_transfers WHERE doc_no IS NOT NULL "
                                      "ORDER BY transfer_id LIMIT 1")
            out["payments"] = await one("SELECT count(*) FROM ledger_payments")
            out["alerts"] = await one("SELECT count(*) FROM alerts_alerts")
            out["backend"] = "SQLite" if is_sqlite(url) else "PostgreSQL"
    finally:
        await engine.dispose()
    return out


def pages(s: dict[str, str]) -> list[tuple[str, str]]:
    q = quote
    return [
        ("总览 (province)", "/"),
        ("总览 (city)", f"/?region={s['city']}"),
        ("总览 (county)", f"/?region={s['county']}"),
        ("地区 (province)", "/regions"),
        ("地区 (city)", f"/regions?region={s['city']}"),
        ("地区 (county)", f"/regions?region={s['county']}"),
        ("预警监控 inbox", "/alerts"),
        ("预警监控 inbox, open red", "/alerts?level=red&status=open"),
        ("预警监控 refresh fragment", "/alerts/rows"),
        ("预警监控 inbox page 50", "/alerts?offset=2450"),
        ("alert detail", f"/alerts/{q(s['alert'])}"),
        ("资金追溯 payment → up", f"/trace/payment/{q(s['payment'])}"),
        ("资金追溯 indicator → down", f"/trace/indicator/{q(s['indicator'])}"),
        ("智能搜索 公益性岗位", f"/search?q={q('公益性岗位')}"),
        ("智能搜索 payee name", f"/search?q={q(s['payee'])}"),
        ("智能搜索 文号", f"/search?q={q(s['doc_no'])}"),
        ("智能搜索 公益性岗位 page 3", f"/search?q={q('公益性岗位')}&offset=100"),
        ("按部门", "/views/departments"),
        ("按业务组", "/views/groups"),
        ("规则配置", "/rules"),
        ("规则配置 USE-04", "/rules/USE-04"),
        ("支付明细 first page", "/payments"),
        ("支付明细 page 10", "/payments?offset=450"),
        ("支付明细 page 10,000", "/payments?offset=499950"),
        ("支付明细 county", f"/payments?region={s['county']}"),
        ("支付明细 indicator", f"/payments?indicator_id={q(s['indicator'])}"),
    ]


EXPORTS = [
    ("XLSX 预警列表 (all alerts)", "/alerts?format=xlsx"),
    ("XLSX 支付明细 indicator", "/payments?indicator_id={indicator}&format=xlsx"),
    ("CSV 支付明细 province (streamed)", "/payments?format=csv"),
]


def measure(c: httpx.Client, path: str, n: int) -> tuple[list[float], int]:
    times, size = [], 0
    c.get(path).raise_for_status()  # warm-up: the console's name cache, the database's pages
    for _ in range(n):
        t = time.perf_counter()
        r = c.get(path)
        times.append((time.perf_counter() - t) * 1000)
        r.raise_for_status()
        size = len(r.content)
    return times, size


def measure_export(c: httpx.Client, path: str, n: int, *, full: bool) -> tuple[list[float], list[float], int]:
    first, last, size = [], [], 0
    for _ in range(n):
        t = time.perf_counter()
        with c.stream("GET", path) as r:
            r.raise_for_status()
            size = 0
            for chunk in r.iter_bytes():
                if not size:
                    first.append((time.perf_counter() - t) * 1000)
                size += len(chunk)
                if not full and size > (256 << 10):
                    break  # a streamed list of a million rows: its first rows are what is timed
        last.append((time.perf_counter() - t) * 1000)
    return first, last, size


def run(url: str, user: str, password: str, s: dict[str, str], n: int) -> int:
    slow = 0
    with httpx.Client(base_url=url, timeout=300) as c:
        if c.post("/login", data={"username": user, "password": password}).status_code != 303:
            print("login failed", file=sys.stderr)
            return 1
        print(f"{'page':<34} {'median':>9} {'p95':>9}   bytes   (ms, {n} requests each after one warm-up)")
        for name, path in pages(s):
            times, size = measure(c, path, n)
            med, p95 = statistics.median(times), pct(times, 0.95)
            mark = "" if p95 < GOAL_MS else "  > 1 s"
            slow += p95 >= GOAL_MS
            print(f"{name:<34} {med:9.1f} {p95:9.1f} {size:>8}{mark}", flush=True)
        for name, path in EXPORTS:
            full = "streamed" not in name
            first, last, size = measure_export(c, path.format(**{k: quote(v) for k, v in s.items()}),
                                               max(3, n // 3), full=full)
            mark = "" if pct(first, 0.95) < GOAL_MS else "  > 1 s"
            slow += pct(first, 0.95) >= GOAL_MS
            print(f"{name:<34} {statistics.median(first):9.1f} {pct(first, 0.95):9.1f} {size:>8}  first byte{mark}; "
                  f"{'last byte' if full else 'first 256 KiB'} median {statistics.median(last):.0f}", flush=True)
    print(f"{slow} page(s) over {GOAL_MS:.0f} ms at p95")
    return 0


def platform(database_url: str, stack: ExitStack) -> tuple[Settings, str]:
    """Broker and services on `database_url`, a treasury user of 河南省; returns (settings, console URL)."""
    import subprocess

    from services.access import admin
    from services.runtime.auth import Role
    from services.runtime.broker import EmbeddedBroker, free_port
    from services.runtime.db import migrate

    tmp = Path(tempfile.mkdtemp(prefix="fw-console-bench-"))
    broker = stack.enter_context(EmbeddedBroker(free_port(), log_path=tmp / "broker.log"))
    settings = Settings(kafka_bootstrap=broker.bootstrap, database_url=database_url, topic_prefix="bench",
                        ingest_port=free_port(), ledger_port=free_port(), alerts_port=free_port(),
                        notify_port=free_port(), access_port=free_port(), console_port=free_port())
    for service in ("ledger", "alerts", "access"):
        migrate(database_url, service)
    try:
        admin.create_admin(settings, USER, "基准测试国库组", "410000", PASSWORD, role=Role.treasury)
    except Exception as exc:
        print(f"user {USER}: {exc}", file=sys.stderr)
    env = dict(os.environ)
    for name, value in settings.model_dump().items():
        if value is not None:
            env[f"FUNDWATCH_{name.upper()}"] = str(value.get_secret_value() if hasattr(value, "get_secret_value")
                                                  else value)
    env["FUNDWATCH_LOG_LEVEL"] = "WARNING"
    for name in ("ledger", "alerts", "access", "console"):
        proc = subprocess.Popen([sys.executable, "-m", "services.runtime.cli", "serve", name], cwd=ROOT, env=env,
                                stdout=open(tmp / f"{name}.log", "ab"), stderr=subprocess.STDOUT,  # noqa: SIM115
                                start_new_session=True)
        stack.callback(_stop, proc)
    for name in ("ledger", "alerts", "access", "console"):
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{settings.url(name)}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} not healthy; see {tmp / (name + '.log')}")
            time.sleep(0.3)
    return settings, settings.url("console")


def _stop(proc) -> None:
    import signal
    import subprocess

    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="start the services on this store (loaded by load_ledger.py)")
    parser.add_argument("--url", help="a running console instead")
    parser.add_argument("--user", default=USER)
    parser.add_argument("--password", default=PASSWORD)
    parser.add_argument("--n", type=int, default=10)
    args = parser.parse_args()
    if not args.database_url:
        parser.error("--database-url is needed (the ids the pages use are read from the store)")
    s = asyncio.run(samples_of(args.database_url))
    print(f"{s['backend']}: {int(s['payments']):,} payments, {int(s['alerts']):,} alerts; city {s['city']}, "
          f"county {s['county']}, indicator {s['indicator']}, alert {s['alert']}", flush=True)
    with ExitStack() as stack:
        url = args.url
        if not url:
            _, url = platform(args.database_url, stack)
        return run(url, args.user, args.password, s, args.n)


if __name__ == "__main__":
    sys.exit(main())
