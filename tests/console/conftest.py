"""A real platform for the console's browser tests: broker, ledger, alerts (worker and API),
access, ingest and the console as processes, the demo loaded through ingest, a login per role;
and Debian's chromium driven by Playwright (its own browser download cannot work here)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import httpx
import pytest

from services import demo
from services.access import admin
from services.console.demo import open_demo_users
from services.runtime.auth import Role
from services.runtime.broker import free_port
from services.runtime.db import migrate
from tests.alerts.test_integration import WORKER_ENV, decided_up_to, environ, new_settings, settled, worker_events
from tests.clients import api_key
from tests.platform import ServiceProcess, wait_for

CHROMIUM = "/usr/bin/chromium"
REQUIRE_BROWSER = os.environ.get("FUNDWATCH_REQUIRE_BROWSER") == "1" or os.environ.get("CI") == "true"
SHOTS = Path(os.environ.get("FUNDWATCH_SCREENSHOTS", "var/screenshots"))
SIZE = 600


# package scope, not session: Playwright's sync API runs an event loop in this thread while it is
# open, and every later test that calls asyncio.run would fail
@pytest.fixture(scope="package")
def browser():
    if not os.access(CHROMIUM, os.X_OK) or shutil.which("chromium") is None:
        reason = f"no browser: {CHROMIUM} missing (make test installs Debian's chromium where apt works)"
        if REQUIRE_BROWSER:
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield b
        b.close()


@pytest.fixture(scope="package")
def platform(broker, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("console-platform")
    settings = new_settings(broker, tmp).model_copy(update={"console_port": free_port()})
    for service in ("ledger", "alerts", "access", "ingest"):
        migrate(settings.database_url, service)
    passwords = {"admin": "Admin-pass-2026!", "guoku": "Guoku-pass-2026!"}
    admin.create_admin(settings, "admin", "信息中心管理员", "000000", passwords["admin"], role=Role.sysadmin)
    admin.create_admin(settings, "guoku", "国库组操作员", "410000", passwords["guoku"], role=Role.treasury)
    passwords.update(open_demo_users(settings))
    worker_port = free_port()
    dataset = demo.generate(size=SIZE)
    with environ({**WORKER_ENV, "FUNDWATCH_ALERTS_WORKER_PORT": str(worker_port)}):
        procs = [ServiceProcess(n, settings, tmp).start()
                 for n in ("ledger", "alerts-worker", "alerts", "access", "ingest", "console")]
    try:
        for p in procs:
            if p.name != "alerts-worker":
                p.wait_healthy()
        wait_for(lambda: worker_events(worker_port) >= 0, 60, "worker status page", *procs)
        demo.send_by_source(dataset.events, settings.url("ingest"), api_key=api_key(settings))
        wait_for(lambda: decided_up_to(worker_port, dataset.events), 180, "the year decided", *procs)
        alerts = settled(settings, 4, 90, *procs)
        yield {"settings": settings, "passwords": passwords, "alerts": alerts, "dataset": dataset, "procs": procs,
               "url": settings.url("console")}
    finally:
        for p in procs:
            p.stop()


@pytest.fixture
def login(platform, browser):
    """A fresh browser context signed in as `username` through the console's login page."""
    contexts = []

    def sign_in(username: str):
        context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN",
                                      timezone_id="Asia/Shanghai", accept_downloads=True)
        contexts.append(context)
        page = context.new_page()
        page.goto(f"{platform['url']}/login")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", platform["passwords"][username])
        page.click("button[type=submit]")
        page.wait_for_load_state("networkidle")
        return page

    yield sign_in
    for c in contexts:
        c.close()


def shot(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def api(platform, service: str, path: str, region: str = "000000", **params):
    from tests.alerts.test_integration import headers

    r = httpx.get(f"{platform['settings'].url(service)}{path}", params=params, headers=headers(platform["settings"], region),
                  timeout=30)
    r.raise_for_status()
    return r.json()
