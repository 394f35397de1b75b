"""`fundwatch up`: the whole platform on one machine with nothing but Python.

Starts the embedded broker, migrates the store, creates the topics, runs the four services
as separate processes, loads the demo data through ingest, prints where to look and a
summary, and on Ctrl-C stops everything (SIGTERM, then SIGKILL after a grace period — a
faust worker stuck in a group join may ignore SIGTERM)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from services.runtime.broker import EmbeddedBroker
from services.runtime.cli import SERVICES, WORKERS
from services.runtime.db import migrate
from services.runtime.kafka import ensure_topics
from services.runtime.settings import Settings

VAR = Path("var")


@dataclass
class Child:
    name: str
    process: subprocess.Popen


class Supervisor:
    def __init__(self, settings: Settings, log_dir: Path) -> None:
        self.settings = settings
        self.log_dir = log_dir
        self.children: list[Child] = []

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        for name, value in self.settings.model_dump().items():
            if value is None:
                continue
            if hasattr(value, "get_secret_value"):
                value = value.get_secret_value()
            env[f"FUNDWATCH_{name.upper()}"] = json.dumps(value) if isinstance(value, dict) else str(value)
        return env

    def start(self, name: str) -> Child:
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
        process = subprocess.Popen(
            [sys.executable, "-m", "services.runtime.cli", "serve", name],
            env=self.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        child = Child(name, process)
        self.children.append(child)
        return child

    def wait_healthy(self, timeout_s: float = 90.0) -> None:
        deadline = time.monotonic() + timeout_s
        waiting = {c.name for c in self.children if c.name in SERVICES}  # workers have no public HTTP port
        while waiting and time.monotonic() < deadline:
            for child in self.children:
                if child.process.poll() is not None:
                    raise RuntimeError(f"{child.name} exited with {child.process.returncode}; "
                                       f"see {self.log_dir / (child.name + '.log')}")
            for name in list(waiting):
                try:
                    if httpx.get(f"{self.settings.url(name)}/healthz", timeout=1).status_code == 200:
                        waiting.discard(name)
                except httpx.HTTPError:
                    pass
            time.sleep(0.3)
        if waiting:
            raise TimeoutError(f"not healthy after {timeout_s}s: {', '.join(sorted(waiting))}")

    def stop(self, grace_s: float = 10.0) -> None:
        for child in self.children:
            if child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for child in self.children:
            try:
                child.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()
        self.children.clear()


def ledger_idle(settings: Settings) -> bool:
    """Has the ledger's consumer joined and applied everything on its topics?"""
    try:
        lag = httpx.get(f"{settings.url('ledger')}/v1/status", headers=central_headers(settings), timeout=5).json()["lag"]
    except (httpx.HTTPError, KeyError, ValueError):
        return False
    return bool(lag) and not any(lag.values())  # {}: its consumer has not joined yet


def _wait_ledger_caught_up(settings: Settings, expected: int, timeout_s: float = 300) -> int:
    deadline = time.monotonic() + timeout_s
    applied = 0
    while time.monotonic() < deadline:
        status = httpx.get(f"{settings.url('ledger')}/v1/status", headers=central_headers(settings), timeout=5).json()
        applied = status["events_applied"]
        if applied >= expected and not any(status["lag"].values()):
            return applied
        time.sleep(0.5)
    return applied


def central_headers(settings: Settings) -> dict[str, str]:
    """Authorization of a Ministry-level (000000) principal, which sees every region."""
    from services.runtime.auth import issue_token

    return {"Authorization": f"Bearer {issue_token(settings, 'supervisor', '000000')}"}


def summary(settings: Settings) -> dict:
    headers = central_headers(settings)
    get = lambda svc, path: httpx.get(f"{settings.url(svc)}{path}", headers=headers, timeout=10).json()  # noqa: E731
    return {
        "ingest": get("ingest", "/v1/status"),
        "ledger": get("ledger", "/v1/overview"),
        "ledger_status": get("ledger", "/v1/status"),
        "notify": get("notify", "/v1/status"),
        "alerts": get("alerts", "/v1/status"),
    }


def print_summary(settings: Settings, data: dict, elapsed: float) -> None:
    ingest, overview, notify = data["ingest"], data["ledger"]["totals"], data["notify"]
    by_level = notify.get("inbox_by_level", {})
    print("\n" + "=" * 72)
    print(f" fundwatch is up ({elapsed:.1f} s)   财政扶贫资金动态监控平台")
    print("=" * 72)
    for name in SERVICES:
        docs = "/docs"
        print(f"  {name:<7} {settings.url(name)}{docs}")
    print(f"  broker  {settings.kafka_bootstrap} (embedded Tansu, memory only)")
    print(f"  store   {settings.database_url}")
    print(f"  token   (Ministry scope, 12 h) {central_headers(settings)['Authorization']}")
    print("-" * 72)
    print(f"  events ingested      {ingest['accepted_total']}")
    print(f"  ledger applied       {data['ledger_status']['events_applied']}")
    print(f"  scale (yuan)         {overview['scale']}")
    print(f"  allocated (yuan)     {overview['allocated']}")
    print(f"  paid (yuan)          {overview['paid']}   progress {float(overview['progress']):.1%}")
    print(f"  alerts by level      " + (", ".join(f"{k}: {v}" for k, v in sorted(by_level.items())) or "none yet"))
    alerts = data.get("alerts", {}).get("alerts", {})
    print("  alerts (read model)  " + (", ".join(f"{k}: {v}" for k, v in sorted(alerts.get("by_level", {}).items()))
                                       or "none yet") + f"; open {alerts.get('open', {}).get('open', 0)}")
    print("  alerts by category   " + ", ".join(f"{k}: {v}" for k, v in sorted(alerts.get("by_category", {}).items())))
    print("-" * 72)
    print("  Ctrl-C stops everything.")
    sys.stdout.flush()


def _interrupt(_signum, _frame) -> None:
    raise KeyboardInterrupt


def _wait_settled(settings: Settings, quiet_s: float = 7.0, timeout_s: float = 90.0) -> None:
    """Wait until the alert and notify counters stop moving for `quiet_s` (alerts holds
    beneficiary checks for a short grace period before deciding)."""
    headers = central_headers(settings)
    deadline = time.monotonic() + timeout_s
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        try:
            now = (httpx.get(f"{settings.url('alerts')}/v1/status", timeout=5).text,
                   httpx.get(f"{settings.url('notify')}/v1/status", headers=headers, timeout=5).json().get("inbox_by_level"))
        except httpx.HTTPError:
            now = None
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return
        time.sleep(1)


def up(database_url: str | None = None, size: int = 2000, demo: bool = True, keep: bool = False) -> int:
    started = time.monotonic()
    # Ctrl-C and SIGTERM both stop the platform, even when started from a shell that ignores SIGINT.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    base = Settings()
    if not database_url and not keep and VAR.exists():
        shutil.rmtree(VAR)  # the broker keeps nothing across runs, so neither does the embedded store
    VAR.mkdir(exist_ok=True)
    broker = EmbeddedBroker(int(base.kafka_bootstrap.rsplit(":", 1)[1]), log_path=VAR / "broker.log")
    settings = base.model_copy(update={"database_url": database_url or base.database_url})
    print(f"starting embedded broker on {broker.bootstrap} …", flush=True)
    broker.start()
    supervisor = Supervisor(settings, VAR)
    try:
        asyncio.run(ensure_topics(settings))
        for service in ("ledger", "notify", "alerts"):
            migrate(settings.database_url, service)
        for service in (*SERVICES, *WORKERS):
            supervisor.start(service)
        print("starting ingest, ledger, alerts, notify …", flush=True)
        supervisor.wait_healthy()
        if demo:
            from services import demo as demo_data

            print(f"loading demo data (size {size}) through ingest …", flush=True)
            sent = demo_data.send_daily(demo_data.iter_events(size=size), settings.url("ingest"),
                                        lambda: ledger_idle(settings))
            ledger_events = sum(1 for e in demo_data.iter_events(size=size)
                                if e["type"].split(".")[0] in ("indicator", "payment"))
            print(f"sent {sent} events; waiting for the ledger and the alerts to catch up …", flush=True)
            _wait_ledger_caught_up(settings, ledger_events)
            _wait_settled(settings)
        print_summary(settings, summary(settings), time.monotonic() - started)
        while all(c.process.poll() is None for c in supervisor.children):
            time.sleep(1)
        dead = [c.name for c in supervisor.children if c.process.poll() is not None]
        print(f"service(s) exited: {', '.join(dead)}; stopping", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nstopping …", flush=True)
        return 0
    finally:
        supervisor.stop()
        broker.stop()

