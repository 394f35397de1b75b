"""ingest's tables — its upstream clients, their API keys, the outbox of its audit records — and
every query on them (SQLAlchemy Core; PostgreSQL and SQLite). Times are naive UTC."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.ingest.clients import ApiKey, Client
from services.runtime.projection import outbox_table
from services.runtime.sql import aware, naive

metadata = MetaData()
outbox = outbox_table(metadata, "ingest")

clients = Table(
    "ingest_clients",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("name", String(120), nullable=False),
    Column("scope", String(12), nullable=False, doc="region code the client may send for (and below)"),
    Column("families", String(100), nullable=False, doc="comma-separated event families"),
    Column("created_at", DateTime, nullable=False),
    Column("created_by", String(100), nullable=False),
    Column("revoked_at", DateTime, nullable=True),
    Column("revoked_by", String(100), nullable=True),
)

keys = Table(
    "ingest_client_keys",
    metadata,
    Column("key_id", String(12), primary_key=True),
    Column("client_id", String(64), ForeignKey("ingest_clients.client_id"), nullable=False, index=True),
    Column("key_hash", String(64), nullable=False, doc="SHA-256 of the whole key; the key itself is never stored"),
    Column("created_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=True),
    Column("revoked_at", DateTime, nullable=True),
)


deadletters = Table(
    "ingest_deadletters",
    metadata,
    Column("partition", Integer, primary_key=True),
    Column("offset", Integer, primary_key=True, doc="the dead letter's place on the dead-letter topic: its id"),
    Column("consumer", String(100), nullable=False, doc="the consumer that refused the record"),
    Column("at", DateTime, nullable=False, doc="when it was refused"),
    Column("source_topic", String(200), nullable=False),
    Column("source_partition", Integer, nullable=False),
    Column("source_offset", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    Column("region", String(12), nullable=True, doc="the record's region when it named one"),
    Column("client_id", String(64), nullable=True, doc="the client whose API key the record carried"),
    Column("record", Text, nullable=False, doc="the dead letter as sent (JSON; personal numbers masked)"),
    Column("redacted", Boolean, nullable=False),
    Column("replayed_at", DateTime, nullable=True),
    Column("replayed_by", String(100), nullable=True),
    Column("replayed_ids", Text, nullable=True),
    Column("also_refused_by", Text, nullable=True, doc="the other consumers that refused the same record (comma-separated)"),
    Index("ix_ingest_deadletters_source", "source_topic", "source_partition", "source_offset"),
)

imports = Table(
    "ingest_imports",
    metadata,
    Column("sha256", String(64), primary_key=True, doc="of the uploaded file: a file is imported once"),
    Column("template", String(40), nullable=False),
    Column("client_id", String(64), nullable=False),
    Column("rows", Integer, nullable=False),
    Column("events", Integer, nullable=False),
    Column("at", DateTime, nullable=False),
)


import_jobs = Table(
    "ingest_import_jobs",
    metadata,
    Column("job_id", String(32), primary_key=True),
    Column("template", String(40), nullable=False),
    Column("client_id", String(64), nullable=False, doc="the uploader: only it sees the job"),
    Column("sha256", String(64), nullable=False, index=True, doc="of the file: the same file again resumes the job"),
    Column("bytes", BigInteger, nullable=False),
    Column("state", String(20), nullable=False, doc="reading | publishing | done | refused | interrupted | failed"),
    Column("rows_read", Integer, nullable=False),
    Column("events_checked", Integer, nullable=False),
    Column("events_total", Integer, nullable=True, doc="known once every row is read and checked"),
    Column("events_published", Integer, nullable=False, doc="acknowledged by the event log, in file order"),
    Column("attempts", Integer, nullable=False, doc="uploads of this file (a re-upload resumes)"),
    Column("errors", Text, nullable=True, doc="JSON: the cell errors of a refused file"),
    Column("detail", Text, nullable=True),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)


def _client(row: Any) -> Client:
    return Client(row.client_id, row.name, row.scope, tuple(row.families.split(",")),
                  row.created_at.replace(tzinfo=dt.UTC), row.created_by, aware(row.revoked_at), row.revoked_by)


def _key(row: Any) -> ApiKey:
    return ApiKey(row.key_id, row.client_id, row.key_hash, row.created_at.replace(tzinfo=dt.UTC),
                  aware(row.expires_at), aware(row.revoked_at))


async def add_client(conn: AsyncConnection, client: Client) -> bool:
    """False when the client id is taken."""
    if (await conn.execute(select(clients.c.client_id).where(clients.c.client_id == client.client_id))).first():
        return False
    await conn.execute(clients.insert().values(
        client_id=client.client_id, name=client.name, scope=client.scope, families=",".join(client.families),
        created_at=naive(client.created_at), created_by=client.created_by))
    return True


async def add_key(conn: AsyncConnection, key: ApiKey) -> None:
    await conn.execute(keys.insert().values(key_id=key.key_id, client_id=key.client_id, key_hash=key.key_hash,
                                            created_at=naive(key.created_at)))


async def update_keys(conn: AsyncConnection, changed: list[ApiKey]) -> None:
    for key in changed:
        await conn.execute(update(keys).where(keys.c.key_id == key.key_id).values(
            expires_at=naive(key.expires_at), revoked_at=naive(key.revoked_at)))


async def revoke_client(conn: AsyncConnection, client_id: str, at: dt.datetime, by: str) -> None:
    await conn.execute(update(clients).where(clients.c.client_id == client_id, clients.c.revoked_at.is_(None))
                       .values(revoked_at=naive(at), revoked_by=by))
    await conn.execute(update(keys).where(keys.c.client_id == client_id, keys.c.revoked_at.is_(None))
                       .values(revoked_at=naive(at)))


async def get_client(conn: AsyncConnection, client_id: str) -> Client | None:
    row = (await conn.execute(select(clients).where(clients.c.client_id == client_id))).first()
    return _client(row) if row else None


async def keys_of(conn: AsyncConnection, client_id: str) -> list[ApiKey]:
    rows = await conn.execute(select(keys).where(keys.c.client_id == client_id).order_by(keys.c.created_at))
    return [_key(r) for r in rows]


async def lookup(conn: AsyncConnection, key_id: str) -> tuple[ApiKey, Client] | None:
    """The key and its client, one indexed read per request."""
    row = (await conn.execute(select(keys, *[c for c in clients.c if c.name != "client_id"])
                              .join(clients, clients.c.client_id == keys.c.client_id)
                              .where(keys.c.key_id == key_id))).first()
    if row is None:
        return None
    return _key(row), _client(row)


async def list_clients(conn: AsyncConnection, region_prefix: str, limit: int, offset: int) -> tuple[list[Client], int]:
    where = clients.c.scope.startswith(region_prefix, autoescape=True)
    total = (await conn.execute(select(func.count()).select_from(clients).where(where))).scalar_one()
    rows = await conn.execute(select(clients).where(where).order_by(clients.c.client_id).limit(limit).offset(offset))
    return [_client(r) for r in rows], total


async def add_outgoing(conn: AsyncConnection, *, topic: str, key: bytes, value: bytes) -> None:
    await conn.execute(outbox.insert(), [{"topic": topic, "key": key, "value": value}])


async def outbox_pending(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        return (await conn.execute(select(outbox.c.seq).limit(1))).first() is not None


async def add_deadletters(conn: AsyncConnection, rows: list[dict]) -> int:
    """Dead letters read off their topic; one seen before (a redelivery) is kept as it was. A record
    is one dead letter however many consumers refused it (a bad record written straight to an
    internal topic reaches the ledger and alerts both): the first refusal is the dead letter, the
    consumers of the later ones are noted on it (`also_refused_by`). Returns the rows added."""
    added = 0
    for row in rows:
        known = await conn.execute(select(deadletters.c.offset).where(
            deadletters.c.partition == row["partition"], deadletters.c.offset == row["offset"]))
        if known.first() is not None:
            continue
        first = None
        if row["source_offset"] >= 0 and row["source_topic"] != "unknown":
            first = (await conn.execute(select(deadletters.c.partition, deadletters.c.offset,
                                               deadletters.c.consumer, deadletters.c.also_refused_by).where(
                deadletters.c.source_topic == row["source_topic"],
                deadletters.c.source_partition == row["source_partition"],
                deadletters.c.source_offset == row["source_offset"])
                .order_by(deadletters.c.partition, deadletters.c.offset).limit(1))).first()
        if first is None:
            await conn.execute(deadletters.insert().values(**row))
            added += 1
            continue
        others = [c for c in (first.also_refused_by or "").split(",") if c]
        if row["consumer"] != first.consumer and row["consumer"] not in others:
            await conn.execute(update(deadletters).where(
                deadletters.c.partition == first.partition, deadletters.c.offset == first.offset)
                .values(also_refused_by=",".join([*others, row["consumer"]])))
    return added


async def list_deadletters(conn: AsyncConnection, region_prefix: str, *, replayed: bool | None, consumer: str | None,
                           limit: int, offset: int) -> tuple[list[Any], int]:
    # A dead letter that names no region is the Ministry's (its sender is unknown).
    where = [deadletters.c.region.startswith(region_prefix, autoescape=True)] if region_prefix else []
    if replayed is not None:
        where.append(deadletters.c.replayed_at.is_not(None) if replayed else deadletters.c.replayed_at.is_(None))
    if consumer:
        where.append(or_(deadletters.c.consumer == consumer,
                         deadletters.c.also_refused_by.contains(consumer, autoescape=True)))
    total = (await conn.execute(select(func.count()).select_from(deadletters).where(*where))).scalar_one()
    rows = await conn.execute(select(deadletters).where(*where)
                              .order_by(deadletters.c.partition, deadletters.c.offset).limit(limit).offset(offset))
    return list(rows), total


async def get_deadletter(conn: AsyncConnection, letter_id: int) -> Any:
    return (await conn.execute(select(deadletters).where(deadletters.c.partition == 0,
                                                         deadletters.c.offset == letter_id))).first()


async def mark_replayed(conn: AsyncConnection, letter_id: int, at: dt.datetime, by: str, ids: list[str]) -> bool:
    """False when it was replayed already (by a concurrent replay)."""
    done = await conn.execute(update(deadletters).where(
        deadletters.c.partition == 0, deadletters.c.offset == letter_id, deadletters.c.replayed_at.is_(None))
        .values(replayed_at=naive(at), replayed_by=by, replayed_ids=",".join(ids)))
    return done.rowcount == 1


async def get_import(conn: AsyncConnection, sha256: str) -> Any:
    return (await conn.execute(select(imports).where(imports.c.sha256 == sha256))).first()


async def add_import(conn: AsyncConnection, **row: Any) -> None:
    if await get_import(conn, row["sha256"]) is None:
        await conn.execute(imports.insert().values(**{**row, "at": naive(row["at"])}))


async def add_job(conn: AsyncConnection, **row: Any) -> None:
    await conn.execute(import_jobs.insert().values(**row))


async def update_job(conn: AsyncConnection, job_id: str, **values: Any) -> None:
    await conn.execute(update(import_jobs).where(import_jobs.c.job_id == job_id).values(**values))


async def get_job(conn: AsyncConnection, job_id: str) -> Any:
    return (await conn.execute(select(import_jobs).where(import_jobs.c.job_id == job_id))).first()


async def job_of_file(conn: AsyncConnection, sha256: str, template: str, client_id: str) -> Any:
    """The client's latest job of this file that did not finish: interrupted (to resume) or running."""
    return (await conn.execute(select(import_jobs).where(
        import_jobs.c.sha256 == sha256, import_jobs.c.template == template, import_jobs.c.client_id == client_id,
        import_jobs.c.state.in_(("reading", "publishing", "interrupted")))
        .order_by(import_jobs.c.created_at.desc()).limit(1))).first()


async def jobs_of(conn: AsyncConnection, client_id: str, limit: int) -> list[Any]:
    return list(await conn.execute(select(import_jobs).where(import_jobs.c.client_id == client_id)
                                   .order_by(import_jobs.c.created_at.desc()).limit(limit)))


collection_tasks = Table(
    "ingest_collection_tasks",
    metadata,
    Column("task_id", String(40), primary_key=True),
    Column("definition", Text, nullable=False, doc="JSON: the task as defined (title, regions, columns, key, due)"),
    Column("region", String(12), nullable=False, index=True, doc="the issuing fiscal unit"),
    Column("created_by", String(100), nullable=False),
    Column("created_at", DateTime, nullable=False),
)

collection_forms = Table(
    "ingest_collection_forms",
    metadata,
    Column("task_id", String(40), primary_key=True),
    Column("region", String(12), primary_key=True, doc="one form per issued region: a new upload replaces it"),
    Column("client_id", String(64), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("records", Text, nullable=False, doc="JSON: the form's rows, header → value (amounts as strings)"),
    Column("submitted_at", DateTime, nullable=False),
)


async def add_task(conn: AsyncConnection, **row: Any) -> bool:
    """False when the task id is taken."""
    if (await conn.execute(select(collection_tasks.c.task_id)
                           .where(collection_tasks.c.task_id == row["task_id"]))).first():
        return False
    await conn.execute(collection_tasks.insert().values(**row))
    return True


async def get_task(conn: AsyncConnection, task_id: str) -> Any:
    return (await conn.execute(select(collection_tasks).where(collection_tasks.c.task_id == task_id))).first()


async def put_form(conn: AsyncConnection, **row: Any) -> None:
    """The region's form of the task, replacing the one it submitted before."""
    await conn.execute(collection_forms.delete().where(collection_forms.c.task_id == row["task_id"],
                                                       collection_forms.c.region == row["region"]))
    await conn.execute(collection_forms.insert().values(**row))


async def forms_of(conn: AsyncConnection, task_id: str) -> list[Any]:
    return list(await conn.execute(select(collection_forms).where(collection_forms.c.task_id == task_id)
                                   .order_by(collection_forms.c.region)))
