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
from services.runtime.cli import MIGRATED, SERVICES, WORKERS
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


def _wait_ledger_caught_up(settings: Settings, expected: dict[str, int], timeout_s: float = 300) -> int:
    """Until the ledger has applied every event and every reference record it was sent, with nothing
    parked (the lag alone is not enough: the embedded broker under-reports a partition's end)."""
    from services.ledger.batch import caught_up

    deadline = time.monotonic() + timeout_s
    status: dict = {}
    while time.monotonic() < deadline:
        status = httpx.get(f"{settings.url('ledger')}/v1/status", headers=central_headers(settings), timeout=5).json()
        if caught_up(status, expected):
            break
        time.sleep(0.5)
    return int(status.get("events_applied", 0))


def central_headers(settings: Settings) -> dict[str, str]:
    """Authorization of a Ministry-level (000000) treasury operator, who sees every region."""
    from services.runtime.auth import Role, issue_token

    return {"Authorization": f"Bearer {issue_token(settings, 'supervisor', '000000', roles=(Role.treasury,))}"}


def demo_clients(settings: Settings) -> dict[str, str]:
    """Register the demo's upstream systems — one per county, the province's, the Ministry's —
    and keep their keys in var/demo-api-keys.json (0600); returns API key by client scope."""
    from contracts.audit import ActorKind
    from services.demo import catalogue
    from services.ingest import registry

    wanted = [(f"county-{code}", f"{name}财政业务系统", code, ["reference", "indicator", "payment", "performance"])
              for code, (name, _city) in catalogue.COUNTIES.items()]
    wanted += [("province-410000", "河南省财政业务系统（全省）", catalogue.PROVINCE,
                ["reference", "indicator", "payment", "performance"]),
               ("ministry-000000", "财政部预算指标系统", catalogue.CENTRAL, ["reference", "indicator"])]

    async def create(conn) -> dict[str, dict[str, str]]:
        made = {}
        for client_id, name, scope, families in wanted:
            _client, key = await registry.create(conn, settings, client_id=client_id, name=name, scope=scope,
                                                 families=families, actor="make run", actor_kind=ActorKind.system)
            made[client_id] = {"scope": scope, "api_key": key.api_key}
        return made

    made = registry.run(settings, create)
    path = VAR / "demo-api-keys.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(made, fh, ensure_ascii=False, indent=1)
    return {v["scope"]: v["api_key"] for v in made.values()}


def demo_users(settings: Settings) -> dict[str, str]:
    """The first system administrator and treasury operator (`fundwatch user create-admin`), with
    random passwords kept in var/demo-users.json (0600); returns password by user name."""
    import secrets

    from services.access import admin
    from services.runtime.auth import Role

    made = {}
    for username, name, region, role in (("admin", "信息中心管理员", "000000", Role.sysadmin),
                                         ("guoku", "国库组操作员", "410000", Role.treasury)):
        password = secrets.token_urlsafe(12)
        admin.create_admin(settings, username, name, region, password, role=role)
        made[username] = password
    path = VAR / "demo-users.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(made, fh, indent=1)
    return made


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
    print(f"  token   (Ministry treasury operator, 12 h) {central_headers(settings)['Authorization']}")
    keys = data.get("api_keys") or {}
    if "410324" in keys:
        print("  send    upstream systems post with their client's API key (all keys: var/demo-api-keys.json):")
        print(f"          curl -X POST {settings.url('ingest')}/v1/events -H 'Authorization: Bearer {keys['410324']}' \\")
        print("               -H 'content-type: application/json' -d @event.json    # county 410324 only")
    if data.get("users"):
        print(f"  login   POST {settings.url('access')}/v1/login as admin or guoku (passwords: var/demo-users.json)")
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
            now = (httpx.get(f"{settings.url('alerts')}/v1/status", headers=headers, timeout=5).text,
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
    # The token secret is resolved once (embedded: made in var/ at first start) and handed to every child.
    settings = base.model_copy(update={"database_url": database_url or base.database_url}).with_secret()
    print(f"starting embedded broker on {broker.bootstrap} …", flush=True)
    broker.start()
    supervisor = Supervisor(settings, VAR)
    try:
        asyncio.run(ensure_topics(settings))
        for service in MIGRATED:
            migrate(settings.database_url, service)
        api_keys = demo_clients(settings) if demo else {}
        users = demo_users(settings) if demo else {}
        for service in (*SERVICES, *WORKERS):
            supervisor.start(service)
        print(f"starting {', '.join(SERVICES)} …", flush=True)
        supervisor.wait_healthy()
        if demo:
            from services import demo as demo_data

            print(f"loading demo data (size {size}) through ingest, one upstream source after another …", flush=True)
            sent = demo_data.send_by_source(demo_data.iter_events(size=size), settings.url("ingest"),
                                            api_key=api_keys)
            from services.ledger.batch import expected_counters

            ledger_events = expected_counters(e["type"] for e in demo_data.iter_events(size=size))
            print(f"sent {sent} events; waiting for the ledger and the alerts to catch up …", flush=True)
            _wait_ledger_caught_up(settings, ledger_events)
            _wait_settled(settings)
        print_summary(settings, {**summary(settings), "api_keys": api_keys, "users": users}, time.monotonic() - started)
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

