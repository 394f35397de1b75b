"""Flood benchmark of notify's delivery: N alert transitions (R regions × K rules) projected at
once, delivered to a generic webhook (one POST per transition, Standard Webhooks verified by the
receiver), an Alertmanager receiver and a 企业微信 robot (grouped; the robot takes at most
20 messages a minute and refuses more, so nothing must exceed it). Prints messages per channel,
whether every alert arrived exactly once, and latency from the transition's commit in notify's
database to its receiver, p50/p99 (the broker hop before it is not included).

    .venv/bin/python benchmarks/notify_bench.py [N] [regions] [rules]
    FUNDWATCH_BENCH_DB=postgresql+asyncpg://postgres@127.0.0.1:5432/<empty db> … (PostgreSQL instead of SQLite)
"""

from __future__ import annotations

import asyncio
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.notify import store
from services.notify.delivery import DeliveryWorker
from services.notify.handlers import make_apply
from services.runtime.db import make_engine, migrate_async
from services.runtime.projection import Delivery
from services.runtime.settings import Settings
from tests.notify.builders import alert_event
from tests.notify.receivers import HttpReceiver

WHSEC = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def main(n: int, regions: int, rules: int) -> None:
    url = os.environ.get("FUNDWATCH_BENCH_DB") or f"sqlite+aiosqlite:///{tempfile.mkdtemp()}/bench.db"
    await migrate_async(url, "notify")
    engine = make_engine(url)
    settings = Settings(notify_group_wait_s=1.0, notify_group_interval_s=5.0, notify_retry_base_s=0.2,
                        notify_console_url="https://fundwatch.example")
    hook, am, wecom = HttpReceiver("webhook", secret=WHSEC), HttpReceiver("alertmanager"), HttpReceiver("wecom")
    arrivals: dict[str, dict[str, float]] = {"webhook": {}, "alertmanager": {}, "wecom": {}}
    for r, name in ((hook, "webhook"), (am, "alertmanager"), (wecom, "wecom")):
        original = r.receive

        def receive(request, original=original, name=name):
            status, answer = original(request)
            if status == 200 and answer.get("errcode", 0) == 0:
                now = time.monotonic()
                body = request.json()
                if name == "webhook":
                    ids = [body["data"]["alert_id"]]
                elif name == "alertmanager":
                    ids = [a["labels"]["alert_id"] for a in body["alerts"]]
                else:
                    ids = re.findall(r"/alerts/([^)]+)\)", body["markdown"]["content"])
                for i in ids:
                    arrivals[name].setdefault(i, now) if i not in arrivals[name] else arrivals[name].__setitem__(
                        f"dup:{i}:{now}", now)
            return status, answer
        r.receive = receive  # type: ignore[method-assign]
    for channel, target, secret in (("webhook", hook.url, WHSEC), ("alertmanager", am.url, None),
                                    ("wecom", wecom.url, None)):
        await store.create_target(engine, {"group_code": "*", "channel": channel, "target": target, "secret": secret,
                                           "levels": [], "categories": [], "rule_ids": [], "recipients": [],
                                           "enabled": True}, "bench")
    rule_ids = [f"USE-{i + 1:02d}" for i in range(rules)]
    events = [alert_event(f"4103{21 + i % regions:02d}", rule_id=rule_ids[(i // regions) % rules],
                          alert_id=f"A{i:05d}") for i in range(n)]
    stop = asyncio.Event()
    worker = DeliveryWorker(settings, engine)
    task = asyncio.create_task(worker.run(stop))
    committed: dict[str, float] = {}
    started = time.monotonic()
    apply = make_apply(settings)
    for i in range(0, n, 200):  # the projection's batches
        batch = events[i:i + 200]
        async with engine.begin() as conn:
            await apply(conn, [Delivery(None, e) for e in batch])  # type: ignore[arg-type]
        now = time.monotonic()
        committed.update({e.data.alert_id: now for e in batch})
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and any(len(a) < n for a in arrivals.values()):
        await asyncio.sleep(0.2)
    stop.set()
    await task
    total = time.monotonic() - started
    print(f"notify flood: {n} alerts, {regions} regions × {rules} rules = {regions * rules} groups; "
          f"group_wait {settings.notify_group_wait_s} s; all done in {total:.1f} s")
    for name, receiver in (("webhook", hook), ("alertmanager", am), ("wecom", wecom)):
        got = arrivals[name]
        dups = [k for k in got if k.startswith("dup:")]
        lat = [got[a] - committed[a] for a in committed if a in got]
        print(f"  {name:12s} messages {len(receiver.accepted):5d}  refused {len(receiver.refused)}  "
              f"alerts {len(lat)}/{n}  duplicates {len(dups)}  "
              f"latency p50 {statistics.median(lat):.3f} s  p99 {pct(lat, 99):.3f} s  max {max(lat):.3f} s")
    for r in (hook, am, wecom):
        r.close()
    await engine.dispose()


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    asyncio.run(main(*(args + [1000, 5, 2][len(args):])))
