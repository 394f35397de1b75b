"""Run fundwatch service processes for integration tests (the same command `make run` uses)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from services.runtime.settings import Settings
from tests.conftest import settings_env

ROOT = Path(__file__).resolve().parent.parent


class ServiceProcess:
    def __init__(self, name: str, settings: Settings, log_dir: Path) -> None:
        self.name = name
        self.settings = settings
        self.log = log_dir / f"{name}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> ServiceProcess:
        env = settings_env(self.settings)
        env["FUNDWATCH_LOG_LEVEL"] = os.environ.get("FUNDWATCH_TEST_LOG_LEVEL", "WARNING")  # INFO to debug a test
        self.process = subprocess.Popen(
            [sys.executable, "-m", "services.runtime.cli", "serve", self.name], cwd=ROOT, env=env,
            stdout=open(self.log, "ab"), stderr=subprocess.STDOUT, start_new_session=True,  # noqa: SIM115
        )
        return self

    def wait_healthy(self, timeout_s: float = 60) -> ServiceProcess:
        url = f"{self.settings.url(self.name)}/healthz"
        wait_for(lambda: _ok(url), timeout_s, f"{self.name} healthy", self)
        return self

    def kill(self) -> None:
        """SIGKILL: a crash, no shutdown code runs."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self, grace_s: float = 10) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(grace_s)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except FileNotFoundError:
            return ""


def _ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def wait_for(predicate: Callable[[], Any], timeout_s: float, what: str, *procs: ServiceProcess) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for p in procs:
            if p.process and p.process.poll() is not None:
                raise AssertionError(f"{p.name} exited ({p.process.returncode}) while waiting for {what}:\n{p.tail()}")
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    logs = "\n".join(f"--- {p.name}\n{p.tail()}" for p in procs)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}\n{logs}")
