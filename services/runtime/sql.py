"""Portable SQL helpers (the same statement on PostgreSQL and SQLite)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


def naive(moment: dt.datetime | None) -> dt.datetime | None:
    """A moment as the stores keep it: naive UTC (DateTime columns carry no zone on either backend)."""
    return moment.astimezone(dt.UTC).replace(tzinfo=None) if moment is not None and moment.tzinfo else moment


def aware(moment: dt.datetime | None) -> dt.datetime | None:
    """A stored (naive UTC) moment read back as UTC-aware."""
    return moment.replace(tzinfo=dt.UTC) if moment is not None and moment.tzinfo is None else moment


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def stored_now() -> dt.datetime:
    """Now, as the stores keep it (naive UTC)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _insert_for(conn: AsyncConnection, table: Table):
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


def upsert(
    conn: AsyncConnection,
    table: Table,
    values: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    *,
    keys: Sequence[str],
    update: Mapping[str, Any] | None = None,
):
    """INSERT … ON CONFLICT (keys) DO UPDATE SET update (or DO NOTHING when update is None)."""
    stmt = _insert_for(conn, table).values(values)
    if update is None:
        return stmt.on_conflict_do_nothing(index_elements=list(keys))
    return stmt.on_conflict_do_update(index_elements=list(keys), set_=dict(update))


def insert_ignore(conn: AsyncConnection, table: Table, *, keys: Sequence[str]):
    """INSERT … ON CONFLICT DO NOTHING, for executemany with a list of rows."""
    return _insert_for(conn, table).on_conflict_do_nothing(index_elements=list(keys))


def add_to(conn: AsyncConnection, table: Table, *, keys: Sequence[str], column: str):
    """INSERT … ON CONFLICT DO UPDATE SET column = column + excluded.column (executemany)."""
    stmt = _insert_for(conn, table)
    return stmt.on_conflict_do_update(
        index_elements=list(keys), set_={column: table.c[column] + stmt.excluded[column]}
    )
