"""Database engine (PostgreSQL via asyncpg in production, SQLite via aiosqlite embedded) and
per-service Alembic migrations."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

SERVICES_DIR = Path(__file__).resolve().parent.parent


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def make_engine(url: str, **kwargs) -> AsyncEngine:
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # pragma: no cover - driver hook
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


def alembic_config(url: str, service: str):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(SERVICES_DIR / service / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.set_main_option("version_table", f"alembic_version_{service}")
    return cfg


def migrate(url: str, service: str) -> None:
    """Upgrade `service`'s schema to head (each service owns its tables and version table)."""
    from alembic import command

    command.upgrade(alembic_config(url, service), "head")


async def migrate_async(url: str, service: str) -> None:
    await asyncio.to_thread(migrate, url, service)


async def recreate_database(url: str) -> None:
    """An empty database at `url`: the SQLite file (and its WAL) removed, or the PostgreSQL database
    dropped (its sessions ended) and created again. For benchmarks and loaders, never a service."""
    u = make_url(url)
    if is_sqlite(url):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{u.database or ''}{suffix}").unlink(missing_ok=True)  # noqa: ASYNC240 - before anything runs
        return
    import asyncpg

    admin = await asyncpg.connect(user=u.username, password=u.password, host=u.host, port=u.port, database="postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{u.database}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{u.database}"')
    finally:
        await admin.close()
