"""`fundwatch up`: the whole platform on one machine with nothing but Python.

Starts the embedded broker, restores the archived log into it (var/archive, see
services.runtime.archive), migrates the store, creates the topics, runs the services and the
archiver as separate processes, loads the demo data through ingest once (var/demo-loaded.json),
prints where to look and a summary, and on Ctrl-C stops everything (SIGTERM, then SIGKILL after a
grace period — a faust worker stuck in a group join may ignore SIGTERM).

While up, it watches its children: one that exits is started again after a backoff (1 s, doubling
to 30 s, back to 1 s once it ran a minute), and says so on stderr; the broker likewise, with the
topics and the archive put back before the archiver resumes. `fundwatch status` lists the
children from var/status.json."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from services.runtime.broker import EmbeddedBroker, die_with_parent_term
from services.runtime.cli import CONSOLE, MIGRATED, SERVICES, WORKERS
from services.runtime.db import migrate
from services.runtime.kafka import ensure_topics
from services.runtime.settings import Settings

VAR = Path("var")
BACKOFF_MIN_S, BACKOFF_MAX_S, STABLE_S = 1.0, 30.0, 60.0


def _say(message: str) -> None:
    print(f"{dt.datetime.now():%H:%M:%S} supervisor: {message}", file=sys.stderr, flush=True)


@dataclass
class Child:
    name: str
    process: subprocess.Popen
    argv: list[str] = field(default_factory=list)
    started_at: float = field(default_factory=time.monotonic)
    restarts: int = 0
    last_exit: int | None = None
    restart_at: float | None = None  # a crashed child waits for its backoff to pass
    backoff_s: float = BACKOFF_MIN_S

    @property
    def state(self) -> str:
        if self.process.poll() is None:
            return "running"
        return "restarting" if self.restart_at is not None else "exited"


class Supervisor:
    def __init__(self, settings: Settings, log_dir: Path, broker: EmbeddedBroker | None = None,
                 on_broker_start: Callable[[], None] | None = None) -> None:
        self.settings = settings
        self.log_dir = log_dir
        self.children: list[Child] = []
        self.broker = broker
        self.on_broker_start = on_broker_start  # topics and archive back into a restarted broker
        self.broker_restarts = 0
        self.broker_restart_at: float | None = None
        self.broker_backoff_s = BACKOFF_MIN_S
        self.status_path = log_dir / "status.json"
        self.stopping = False

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        for name, value in self.settings.model_dump().items():
            if value is None:
                continue
            if hasattr(value, "get_secret_value"):
                value = value.get_secret_value()
            env[f"FUNDWATCH_{name.upper()}"] = json.dumps(value) if isinstance(value, dict) else str(value)
        return env

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
        try:
            return subprocess.Popen(argv, env=self.env(), stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True, preexec_fn=die_with_parent_term)
        finally:
            log.close()

    def start(self, name: str, argv: list[str] | None = None) -> Child:
        argv = argv or [sys.executable, "-m", "services.runtime.cli", "serve", name]
        child = Child(name, self._spawn(name, argv), argv)
        self.children.append(child)
        return child

    def child(self, name: str) -> Child:
        return next(c for c in self.children if c.name == name)

    def tick(self) -> None:
        """One look at every child: schedule a restart for the dead, start those whose backoff passed."""
        if self.stopping:
            return
        now = time.monotonic()
        if self.broker is not None:
            self._tick_broker(now)
        for c in self.children:
            rc = c.process.poll()
            if rc is None:
                continue
            if c.restart_at is None:
                ran = now - c.started_at
                # crash-looping children wait longer each time; one that ran a while starts over at 1 s
                stable = ran >= STABLE_S or not c.restarts
                c.backoff_s = BACKOFF_MIN_S if stable else min(BACKOFF_MAX_S, c.backoff_s * 2)
                c.last_exit, c.restart_at = rc, now + c.backoff_s
                _say(f"{c.name} (pid {c.process.pid}) exited with {rc} after {ran:.0f} s; "
                     f"restarting in {c.backoff_s:.0f} s (restart {c.restarts + 1}; log {self.log_dir / c.name}.log)")
            elif now >= c.restart_at:
                c.process, c.started_at, c.restart_at = self._spawn(c.name, c.argv), now, None
                c.restarts += 1
                _say(f"{c.name} restarted (pid {c.process.pid})")
        self.write_status()

    def _tick_broker(self, now: float) -> None:
        assert self.broker is not None
        if self.broker.alive():
            return
        if self.broker_restart_at is None:
            rc = self.broker.process.returncode if self.broker.process else None
            self.broker_backoff_s = min(BACKOFF_MAX_S, self.broker_backoff_s * 2) if self.broker_restarts \
                else BACKOFF_MIN_S
            self.broker_restart_at = now + self.broker_backoff_s
            _say(f"broker exited with {rc}; restarting in {self.broker_backoff_s:.0f} s "
                 f"(restart {self.broker_restarts + 1}); its log was in memory: topics and archive go back in")
            return
        if now < self.broker_restart_at:
            return
        try:
            # Nobody writes while the log is put back (a write in between would shift the restored
            # offsets and escape the archive): the children stop, and start again once it is back.
            self._stop_children()
            self.broker.start()
            if self.on_broker_start is not None:
                self.on_broker_start()
            self.broker_restarts += 1
            self.broker_restart_at = None
            _say(f"broker restarted (pid {self.broker.process.pid if self.broker.process else '?'}, "
                 f"cluster id {self.broker.cluster_id}); starting the services again")
            for c in self.children:
                c.process, c.started_at, c.restart_at = self._spawn(c.name, c.argv), time.monotonic(), None
        except Exception as exc:
            self.broker.stop()
            self.broker_restart_at = None
            _say(f"broker restart failed: {exc!r}")

    def status(self) -> dict:
        now = time.monotonic()
        rows = [{"name": c.name, "pid": c.process.pid, "state": c.state, "restarts": c.restarts,
                 "last_exit": c.last_exit, "up_s": round(now - c.started_at) if c.state == "running" else 0}
                for c in self.children]
        if self.broker is not None:
            rows.insert(0, {"name": "broker", "pid": self.broker.process.pid if self.broker.process else None,
                            "state": "running" if self.broker.alive() else "restarting",
                            "restarts": self.broker_restarts, "last_exit": None, "up_s": None,
                            "cluster_id": self.broker.cluster_id})
        return {"supervisor_pid": os.getpid(), "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "children": rows}

    def write_status(self) -> None:
        tmp = self.status_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.status(), indent=1))
        tmp.replace(self.status_path)

    def wait_healthy(self, timeout_s: float = 90.0) -> None:
        """Wait for every HTTP service's /healthz; a child that dies meanwhile is restarted (tick)."""
        deadline = time.monotonic() + timeout_s
        waiting = {c.name for c in self.children if c.name in (*SERVICES, *CONSOLE)}  # workers have no public port
        while waiting and time.monotonic() < deadline:
            self.tick()
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
        self.stopping = True
        self._stop_children(grace_s)
        self.children.clear()
        if self.status_path.exists():
            self.status_path.unlink()

    def _stop_children(self, grace_s: float = 10.0, last: tuple[str, ...] = ("archiver",)) -> None:
        """SIGTERM everyone (those in `last` after the others ended: the archiver copies what they wrote)."""
        for group in ([c for c in self.children if c.name not in last], [c for c in self.children if c.name in last]):
            for child in group:
                if child.process.poll() is None:
                    child.process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + grace_s
            for child in group:
                try:
                    child.process.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    child.process.kill()
                    child.process.wait()


def print_status(path: Path = VAR / "status.json") -> int:
    """`fundwatch status`: the children of a running `fundwatch up`."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        print(f"no running platform ({path} not found)", file=sys.stderr)
        return 1
    try:
        os.kill(data["supervisor_pid"], 0)
    except OSError:
        print(f"supervisor {data['supervisor_pid']} is gone (status of {data['at']} is stale)", file=sys.stderr)
        return 1
    print(f"supervisor pid {data['supervisor_pid']}, as of {data['at']}")
    print(f"  {'child':<14} {'pid':>7} {'state':<11} {'restarts':>8} {'last exit':>9} {'up (s)':>7}")
    for c in data["children"]:
        up_s = "" if c["up_s"] is None else c["up_s"]
        last = "" if c["last_exit"] is None else c["last_exit"]
        print(f"  {c['name']:<14} {c['pid'] or '':>7} {c['state']:<11} {c['restarts']:>8} {last:>9} {up_s:>7}")
    return 0 if all(c["state"] == "running" for c in data["children"]) else 2


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
    from services.console.demo import open_demo_users

    made.update(open_demo_users(settings))  # one login per role for the console (art. 22 procedure)
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
    print(f"  broker  {settings.kafka_bootstrap} (embedded Tansu; its log archived in var/archive)")
    print(f"  store   {settings.database_url}")
    print(f"  token   (Ministry treasury operator, 12 h) {central_headers(settings)['Authorization']}")
    keys = data.get("api_keys") or {}
    if "410324" in keys:
        print("  send    upstream systems post with their client's API key (all keys: var/demo-api-keys.json):")
        print(f"          curl -X POST {settings.url('ingest')}/v1/events -H 'Authorization: Bearer {keys['410324']}' \\")
        print("               -H 'content-type: application/json' -d @event.json    # county 410324 only")
    if data.get("users"):
        print(f"  login   POST {settings.url('access')}/v1/login as admin or guoku (passwords: var/demo-users.json)")
    print(f"  console {settings.url('console')}/   运营控制台（浏览器打开）")
    from services.console.demo import WANTED

    roles = {"guoku": "国库组（河南省）", "admin": "系统管理员", **{u: n for u, n, *_ in WANTED}}
    for username, password in (data.get("users") or {}).items():
        print(f"          {roles.get(username, username):<14} 用户名 {username:<10} 密码 {password}")
    print("-" * 72)
    print(f"  events ingested      {ingest['accepted_total']}")
    print(f"  ledger applied       {data['ledger_status']['events_applied']}")
    print(f"  scale (yuan)         {overview['scale']}")
    print(f"  allocated (yuan)     {overview['allocated']}")
    print(f"  paid (yuan)          {overview['paid']}   progress {float(overview['progress']):.1%}")
    print("  alerts by level      " + (", ".join(f"{k}: {v}" for k, v in sorted(by_level.items())) or "none yet"))
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


ARCHIVE = VAR / "archive"
DEMO_MARK = VAR / "demo-loaded.json"


def _archiver_argv() -> list[str]:
    return [sys.executable, "-m", "services.runtime.cli", "log", "backup", str(ARCHIVE), "--follow"]


def _put_back(settings: Settings) -> None:
    """Into a fresh broker: the archived log (at its offsets), then any registry topic still missing."""
    from services.runtime.archive import restore

    restored = asyncio.run(restore(settings, ARCHIVE))
    if restored:
        _say(f"restored {sum(restored.values())} records of {len(restored)} topics from {ARCHIVE}")
    asyncio.run(ensure_topics(settings))


def up(database_url: str | None = None, size: int = 2000, demo: bool = True, keep: bool = False,
       fresh: bool = False) -> int:
    """`keep` is the default now (the archive keeps the log); `fresh` starts from nothing."""
    started = time.monotonic()
    # Ctrl-C and SIGTERM both stop the platform, even when started from a shell that ignores SIGINT.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    base = Settings()
    if fresh and VAR.exists():
        shutil.rmtree(VAR)
    elif not database_url and VAR.exists() and not ARCHIVE.exists() and not keep:
        shutil.rmtree(VAR)  # a store from before the archive existed: its log is gone, so is it
    VAR.mkdir(exist_ok=True)
    broker = EmbeddedBroker(int(base.kafka_bootstrap.rsplit(":", 1)[1]), log_path=VAR / "broker.log")
    # The token secret is resolved once (embedded: made in var/ at first start) and handed to every child.
    settings = base.model_copy(update={"database_url": database_url or base.database_url}).with_secret()
    print(f"starting embedded broker on {broker.bootstrap} …", flush=True)
    broker.start()
    supervisor = Supervisor(settings, VAR, broker=broker, on_broker_start=lambda: _put_back(settings))
    try:
        _put_back(settings)
        supervisor.start("archiver", _archiver_argv())
        for service in MIGRATED:
            migrate(settings.database_url, service)
        loaded = json.loads(DEMO_MARK.read_text()) if DEMO_MARK.exists() else None
        first = demo and loaded is None
        api_keys = demo_clients(settings) if first else {}
        users = demo_users(settings) if first else {}
        if loaded:
            api_keys = {v["scope"]: v["api_key"] for v in json.loads((VAR / "demo-api-keys.json").read_text()).values()}
            if (VAR / "demo-users.json").exists():
                users = json.loads((VAR / "demo-users.json").read_text())
        for service in (*SERVICES, *WORKERS, *CONSOLE):
            supervisor.start(service)
        print(f"starting {', '.join(SERVICES)} …", flush=True)
        supervisor.wait_healthy()
        if first:
            from services import demo as demo_data

            print(f"loading demo data (size {size}) through ingest, one upstream source after another …", flush=True)
            sent = demo_data.send_by_source(demo_data.iter_events(size=size), settings.url("ingest"),
                                            api_key=api_keys)
            DEMO_MARK.write_text(json.dumps({"size": size, "sent": sent, "at": dt.datetime.now(dt.UTC).isoformat()}))
            from services.ledger.batch import expected_counters

            ledger_events = expected_counters(e["type"] for e in demo_data.iter_events(size=size))
            print(f"sent {sent} events; waiting for the ledger and the alerts to catch up …", flush=True)
            _wait_ledger_caught_up(settings, ledger_events)
        elif loaded:
            print(f"demo data loaded before ({loaded['sent']} events, {loaded['at']}); not loaded again", flush=True)
        _wait_settled(settings)
        print_summary(settings, {**summary(settings), "api_keys": api_keys, "users": users}, time.monotonic() - started)
        while True:  # one crash never stops the platform: the supervisor starts it again
            supervisor.tick()
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nstopping …", flush=True)
        return 0
    finally:
        supervisor.stop()
        broker.stop()
