"""Pipeline throughput of the running platform (not a test): demo events through ingest →
broker → ledger, with alerts and notify running beside them.

    python benchmarks/pipeline_bench.py --size 20000 [--database-url URL]

Prints ingest acceptance rate (HTTP batches of 1000, broker-acknowledged) and the end-to-end
rate until the ledger has applied every indicator/payment event."""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import rawlimit
from services import demo
from services.runtime.auth import issue_token
from services.runtime.broker import EmbeddedBroker, free_port
from services.runtime.db import migrate
from services.runtime.settings import Settings
from tests.clients import api_key
from tests.platform import ServiceProcess, wait_for


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--database-url")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="fw-bench-"))
    events = list(demo.iter_events(size=args.size))
    ledger_count = sum(1 for e in events if e["type"].startswith(("indicator.", "payment.")))
    with EmbeddedBroker(free_port(), log_path=tmp / "broker.log") as broker:
        settings = Settings(kafka_bootstrap=broker.bootstrap, database_url=args.database_url or
                            f"sqlite+aiosqlite:///{tmp / 'fw.db'}", ingest_port=free_port(), ledger_port=free_port(),
                            alerts_port=free_port(), notify_port=free_port(), access_port=free_port(),
                            auth_secret=secrets.token_urlsafe(48))
        limit = rawlimit.measure(broker.bootstrap, rawlimit.payloads_of(events))  # same run, same broker
        key = api_key(settings)  # a Ministry client: every event of the demo is in its scope
        for service in ("ledger", "notify"):
            migrate(settings.database_url, service)
        procs = [ServiceProcess(n, settings, tmp).start() for n in ("ledger", "alerts", "notify", "ingest")]
        try:
            for p in procs:
                p.wait_healthy(120)
            headers = {"Authorization": f"Bearer {issue_token(settings, 'bench', '000000')}"}
            status = lambda: httpx.get(f"{settings.url('ledger')}/v1/status", headers=headers,  # noqa: E731
                                       timeout=10).json()["events_applied"]
            t0 = time.perf_counter()
            demo.send(events, settings.url("ingest"), batch=args.batch, api_key=key)
            t_ingest = time.perf_counter() - t0
            wait_for(lambda: status() >= ledger_count, 1800, "ledger caught up", *procs)
            t_all = time.perf_counter() - t0
        finally:
            for p in procs:
                p.stop()
    print(f"events: {len(events)} (ledger events {ledger_count}), store {settings.database_url.split(':')[0]}")
    print(f"ingest accepted: {len(events) / t_ingest:,.0f} events/s ({t_ingest:.1f} s, batches of {args.batch})")
    print(f"ingest → ledger applied, end to end: {len(events) / t_all:,.0f} events/s ({t_all:.1f} s)")
    print(limit)
    print(limit.of(len(events) / t_ingest, "ingest accepted"))
    print(limit.of(len(events) / t_all, "end to end"))


if __name__ == "__main__":
    main()
