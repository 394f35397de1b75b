"""Shared fixtures: the embedded broker, SQLite and PostgreSQL stores, per-test settings.

PostgreSQL comes from FUNDWATCH_TEST_PG_URL (an admin URL such as
postgresql://postgres@127.0.0.1:5432/postgres), else a throwaway `initdb` cluster, else the
PostgreSQL tests are skipped with the reason — unless FUNDWATCH_REQUIRE_PG=1 (CI), which
turns the skip into a failure."""

from __future__ import annotations

import asyncio
import glob
import os
import secrets
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from services.runtime.broker import EmbeddedBroker, free_port
from services.runtime.settings import Settings

REQUIRE_PG = os.environ.get("FUNDWATCH_REQUIRE_PG") == "1"
TEST_SECRET = secrets.token_urlsafe(48)
"""The token secret of this test session (never the repository's var/auth-secret)."""


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


class _ThrowawayCluster:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="fw-pg-"))
        self.port = free_port()

    def start(self) -> str:
        initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
        if not initdb or not pg_ctl:
            raise RuntimeError("initdb/pg_ctl not found")
        user = "postgres"
        env = dict(os.environ)
        run_as: list[str] = []
        if os.geteuid() == 0:  # postgres refuses to run as root
            shutil.chown(self.dir, "postgres")
            run_as = ["runuser", "-u", "postgres", "--"]
        subprocess.run([*run_as, initdb, "-D", str(self.dir / "data"), "-U", user, "-A", "trust"],
                       check=True, capture_output=True, env=env)
        subprocess.run([*run_as, pg_ctl, "-D", str(self.dir / "data"), "-l", str(self.dir / "log"), "-w", "-o",
                        f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
                       check=True, capture_output=True, env=env)
        self._run_as = run_as
        return f"postgresql://{user}@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        pg_ctl = _pg_bin("pg_ctl")
        subprocess.run([*self._run_as, pg_ctl, "-D", str(self.dir / "data"), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


async def _admin(url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_admin_url():
    """libpq-style admin URL of a PostgreSQL server, or a skip with the reason."""
    url = os.environ.get("FUNDWATCH_TEST_PG_URL")
    cluster = None
    reason = ""
    if url:
        try:
            asyncio.run(_admin(url, "SELECT 1"))
        except Exception as exc:  # noqa: BLE001
            reason = f"FUNDWATCH_TEST_PG_URL={url} unreachable: {exc!r}"
            url = None
    if not url and not reason:
        try:
            cluster = _ThrowawayCluster()
            url = cluster.start()
        except Exception as exc:  # noqa: BLE001
            reason = f"no PostgreSQL: FUNDWATCH_TEST_PG_URL unset and initdb failed ({exc!r})"
            cluster = None
    if not url:
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL required (FUNDWATCH_REQUIRE_PG=1): {reason}")
        pytest.skip(reason)
    yield url
    if cluster:
        cluster.stop()


@pytest.fixture
def pg_url(pg_admin_url):
    """A fresh, empty PostgreSQL database (SQLAlchemy asyncpg URL), dropped afterwards."""
    name = f"fw_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(pg_admin_url, f'CREATE DATABASE "{name}"'))
    base = pg_admin_url.rsplit("/", 1)[0]
    yield f"{base.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{name}"
    asyncio.run(_admin(pg_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite+aiosqlite:///{tmp_path / 'fundwatch.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request):
    """Run the test once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("pg_url")


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    """One embedded Tansu broker for the session; tests isolate themselves by topic prefix."""
    log = tmp_path_factory.mktemp("broker") / "tansu.log"
    b = EmbeddedBroker(free_port(), log_path=log).start()
    time.sleep(0.2)
    yield b
    b.stop()


@pytest.fixture
def make_settings(broker):
    """Settings for one test: its own topic prefix and free ports on the session broker."""

    def factory(database_url: str, **overrides) -> Settings:
        values = dict(
            kafka_bootstrap=broker.bootstrap,
            topic_prefix=f"t{uuid.uuid4().hex[:10]}",
            database_url=database_url,
            ingest_port=free_port(),
            ledger_port=free_port(),
            alerts_port=free_port(),
            notify_port=free_port(),
            access_port=free_port(),
            notify_retry_base_s=0.05,
            auth_secret=TEST_SECRET,
        )
        values.update(overrides)
        return Settings(**values)

    return factory


def settings_env(settings: Settings) -> dict[str, str]:
    """Environment that makes a child process (`fundwatch serve …`) use `settings`."""
    import json

    env = dict(os.environ)
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        if isinstance(value, dict):
            value = json.dumps(value)
        env[f"FUNDWATCH_{name.upper()}"] = str(value)
    return env


_BROKER_FIXTURES = {"broker", "make_settings"}
_STORE_FIXTURES = {"pg_admin_url", "pg_url", "sqlite_url", "database_url", "demo_ledger"}


def pytest_collection_modifyitems(items):
    """Tiers by what a test uses (its whole fixture closure): the broker → `integration`, a database →
    `store`, neither → `unit`, the pure tier that `make test-fast` runs."""
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if used & _BROKER_FIXTURES and not item.get_closest_marker("integration"):
            item.add_marker(pytest.mark.integration)
        if used & _STORE_FIXTURES and not item.get_closest_marker("store"):
            item.add_marker(pytest.mark.store)
        if not any(item.get_closest_marker(m) for m in ("integration", "store", "postgres")):
            item.add_marker(pytest.mark.unit)
