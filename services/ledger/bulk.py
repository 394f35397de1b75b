"""Bulk writes inside the projection's transaction.

PostgreSQL: new rows by COPY (asyncpg binary copy on the same connection, so it commits or rolls
back with everything else), updates and upserts as ONE statement over `unnest($1, $2, …)` arrays
(executemany through SQLAlchemy costs 60–200 µs a row on asyncpg). SQLite: executemany."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import Table, bindparam, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

Rows = Sequence[Mapping[str, Any]]


def is_postgres(conn: AsyncConnection) -> bool:
    return conn.dialect.name == "postgresql"


async def _driver(conn: AsyncConnection):
    """The asyncpg connection under `conn`. A statement has run in this transaction already
    (the chain lock), so SQLAlchemy's BEGIN is issued and raw statements run inside it."""
    raw = await conn.get_raw_connection()
    return raw.driver_connection


def _name(table: Table) -> str:
    return f'"{table.schema}"."{table.name}"' if table.schema else f'"{table.name}"'


def _unnest(conn: AsyncConnection, table: Table, columns: Sequence[str]) -> str:
    types = ", ".join(f"${i}::{table.c[c].type.compile(dialect=conn.dialect)}[]" for i, c in enumerate(columns, 1))
    return f"unnest({types})"


def _arrays(rows: Rows, columns: Sequence[str]) -> list[list[Any]]:
    return [[r[c] for r in rows] for c in columns]


async def insert(conn: AsyncConnection, table: Table, rows: Rows) -> None:
    """Insert new rows (every row has the same keys)."""
    if not rows:
        return
    columns = list(rows[0])
    if is_postgres(conn):
        record = itemgetter(*columns)
        driver = await _driver(conn)
        await driver.copy_records_to_table(table.name, records=[record(r) for r in rows], columns=columns,
                                           schema_name=table.schema)
    else:
        await conn.execute(table.insert(), list(rows))


async def update_rows(conn: AsyncConnection, table: Table, key: Sequence[str], rows: Rows) -> None:
    """UPDATE … SET <every other column> WHERE <key columns>, for each row."""
    if not rows:
        return
    columns = [c for c in rows[0] if c not in key]
    if is_postgres(conn):
        names = [*key, *columns]
        sets = ", ".join(f'"{c}" = v."{c}"' for c in columns)
        match = " AND ".join(f't."{k}" = v."{k}"' for k in key)
        cols = ", ".join(f'"{c}"' for c in names)
        sql = f"UPDATE {_name(table)} AS t SET {sets} FROM {_unnest(conn, table, names)} AS v({cols}) WHERE {match}"
        await (await _driver(conn)).execute(sql, *_arrays(rows, names))
        return
    stmt = (
        update(table)
        .where(*[table.c[k] == bindparam(f"k_{k}") for k in key])
        .values({c: bindparam(f"v_{c}") for c in columns})
    )
    await conn.execute(stmt, [{**{f"k_{k}": r[k] for k in key}, **{f"v_{c}": r[c] for c in columns}} for r in rows])


async def upsert(conn: AsyncConnection, table: Table, key: Sequence[str], rows: Rows, *, add: Sequence[str] = (),
                 keep: Sequence[str] = ()) -> None:
    """INSERT … ON CONFLICT (key) DO UPDATE: columns in `add` are added to the stored value
    (deltas), columns in `keep` keep the stored value, every other column is overwritten.
    Keys must be unique within `rows`."""
    if not rows:
        return
    columns = list(rows[0])
    changed = [c for c in columns if c not in key and c not in keep]
    if is_postgres(conn):
        cols = ", ".join(f'"{c}"' for c in columns)
        sets = ", ".join(f'"{c}" = t."{c}" + EXCLUDED."{c}"' if c in add else f'"{c}" = EXCLUDED."{c}"'
                         for c in changed)
        conflict = ", ".join(f'"{k}"' for k in key)
        action = f"DO UPDATE SET {sets}" if sets else "DO NOTHING"
        sql = (f"INSERT INTO {_name(table)} AS t ({cols}) SELECT * FROM {_unnest(conn, table, columns)} "
               f"ON CONFLICT ({conflict}) {action}")
        await (await _driver(conn)).execute(sql, *_arrays(rows, columns))
        return
    stmt = sqlite.insert(table)
    sets_ = {c: (table.c[c] + stmt.excluded[c]) if c in add else stmt.excluded[c] for c in changed}
    stmt = stmt.on_conflict_do_update(index_elements=list(key), set_=sets_) if sets_ else \
        stmt.on_conflict_do_nothing(index_elements=list(key))
    await conn.execute(stmt, list(rows))


async def insert_ignore(conn: AsyncConnection, table: Table, key: Sequence[str], rows: Rows) -> None:
    """INSERT … ON CONFLICT (key) DO NOTHING."""
    await upsert(conn, table, key, rows, keep=[c for c in (rows[0] if rows else ()) if c not in key])


__all__ = ["insert", "insert_ignore", "is_postgres", "update_rows", "upsert"]
