"""Embedded durability: `fundwatch up` stopped and started shows the same balances, alerts,
dispositions and users, with the demo loaded once (the broker's log comes back from var/archive)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from services.runtime.auth import Role, issue_token
from services.runtime.broker import free_port
from services.runtime.settings import Settings
from tests.platform import ROOT, wait_for

pytestmark = pytest.mark.integration


class Up:
    """`fundwatch up` in a directory of its own, on free ports."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.cwd, self.env = cwd, env
        self.out: list[str] = []
        self.process: subprocess.Popen | None = None

    def start(self, *args: str) -> Up:
        self.out = []
        self.process = subprocess.Popen([sys.executable, "-m", "services.runtime.cli", "up", "--size", "150", *args],
                                        cwd=self.cwd, env=self.env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, start_new_session=True)
        threading.Thread(target=lambda: [self.out.append(line) for line in self.process.stdout], daemon=True).start()
        wait_for(lambda: self._check() and any("fundwatch is up" in line for line in self.out), 420, "fundwatch up")
        return self

    def _check(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"fundwatch up exited {self.process.returncode}:\n{''.join(self.out[-60:])}")
        return True

    def stop(self) -> int:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                return self.process.wait(90)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                return self.process.wait()
        return self.process.returncode if self.process else 0


def _get(settings: Settings, service: str, path: str, headers: dict[str, str]):
    r = httpx.get(f"{settings.url(service)}{path}", headers=headers, timeout=20)
    assert r.status_code == 200, (path, r.status_code, r.text[:300])
    return r.json()


def _alerts(settings: Settings, headers: dict[str, str]) -> list[dict]:
    items: list[dict] = []
    while True:
        page = _get(settings, "alerts", f"/v1/alerts?limit=500&offset={len(items)}&shadow=true", headers)
        items += page["items"]
        if len(items) >= page["total"] or not page["items"]:
            return sorted(items, key=lambda a: a["alert_id"])


def _snapshot(settings: Settings, headers: dict[str, str]) -> dict:
    return {
        "overview": _get(settings, "ledger", "/v1/overview", headers),
        "alerts": _alerts(settings, headers),
        "inbox": _get(settings, "notify", "/v1/status", headers).get("inbox_by_level"),
        "users": sorted(u["username"] for u in _get(settings, "access", "/v1/users?limit=200", {
            "Authorization": f"Bearer {issue_token(settings, 'auditor', '000000', roles=(Role.auditor,))}"})["items"]),
    }


def test_up_stopped_and_started_shows_the_same_platform(tmp_path):
    ports = {name: free_port() for name in ("ingest", "ledger", "alerts", "notify", "access")}
    env = dict(os.environ, FUNDWATCH_KAFKA_BOOTSTRAP=f"127.0.0.1:{free_port()}", FUNDWATCH_LOG_LEVEL="WARNING",
               FUNDWATCH_ALERTS_WORKER_PORT=str(free_port()), PYTHONPATH=str(ROOT),
               **{f"FUNDWATCH_{n.upper()}_PORT": str(p) for n, p in ports.items()})
    env.pop("FUNDWATCH_AUTH_SECRET", None)
    settings = Settings(**{f"{n}_port": p for n, p in ports.items()}, secret_file=tmp_path / "var" / "auth-secret")
    up = Up(tmp_path, env)
    try:
        up.start("--fresh")
        central = {"Authorization": f"Bearer {issue_token(settings, 'tester', '000000', roles=(Role.treasury,))}"}
        before = _snapshot(settings, central)
        assert before["alerts"], "the demo raises alerts"
        assert {"admin", "guoku"} <= set(before["users"])

        # a disposition (处理单) on an open yellow alert, by its responsible group
        alert = next(a for a in before["alerts"] if a["open"] and a["level"] == "yellow" and a.get("group_code"))
        member = {"Authorization": "Bearer " + issue_token(settings, "checker", alert["region"],
                                                           (alert["group_code"],), roles=(Role.member,))}
        filed = httpx.post(f"{settings.url('alerts')}/v1/alerts/{alert['alert_id']}/dispositions", headers=member,
                           json={"action": "verify_normal", "method": "phone", "findings": "电话核实，情况正常"},
                           timeout=20)
        assert filed.status_code == 202, filed.text
        disposition_id = filed.json()["disposition_id"]
        decided = wait_for(lambda: (d := _get(settings, "alerts", f"/v1/dispositions/{disposition_id}", central))
                           ["status"] == "applied" and d, 120, "the disposition applied")
        time.sleep(2)  # the archiver copies what was written; stop() lets it drain to the end anyway
        before = _snapshot(settings, central)
        assert up.stop() == 0

        up.start()
        assert any("not loaded again" in line for line in up.out), "".join(up.out[-40:])
        assert any("restored" in line for line in up.out) or (tmp_path / "var" / "archive").exists()
        after = _snapshot(settings, central)
        assert after["overview"] == before["overview"]
        assert after["users"] == before["users"]
        assert after["inbox"] == before["inbox"]
        assert [(a["alert_id"], a["level"], a["open"]) for a in after["alerts"]] == \
            [(a["alert_id"], a["level"], a["open"]) for a in before["alerts"]]
        assert _get(settings, "alerts", f"/v1/dispositions/{disposition_id}", central) == decided
        green = next(a for a in after["alerts"] if a["alert_id"] == alert["alert_id"])
        assert green["level"] == "green"
    finally:
        up.stop()
