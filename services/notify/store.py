"""notify's tables and every query on them (SQLAlchemy Core; PostgreSQL and SQLite).

Times are naive UTC (`utcnow()`) on both backends so that comparisons are portable."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from services.notify.routing import Route
from services.runtime.projection import outbox_table, tracking_table
from services.runtime.sql import insert_ignore

metadata = MetaData()
tracking = tracking_table(metadata, "notify")
outbox = outbox_table(metadata, "notify")

group_routes = Table(
    "notify_group_routes",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("scope", String(12), nullable=False, doc="region prefix ('' = everywhere)"),
    Column("fund_code", String(40), nullable=True, doc="NULL = every fund"),
    Column("group_code", String(40), nullable=False),
    Column("group_name", String(60), nullable=False),
    Index("ix_notify_group_routes_scope_group", "scope", "group_code"),
)

inbox = Table(
    "notify_inbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alert_id", String(100), nullable=False),
    Column("transition_id", String(100), nullable=False),
    Column("group_code", String(40), nullable=False),
    Column("region", String(12), nullable=False),
    Column("rule_id", String(20), nullable=False),
    Column("level", String(10), nullable=False),
    Column("transition", String(30), nullable=False),
    Column("title_zh", String(120), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("payload", Text, nullable=False, doc="the alert envelope as JSON"),
    Column("received_at", DateTime, nullable=False),
    UniqueConstraint("alert_id", "transition_id", "group_code", name="uq_notify_inbox_transition_group"),
    Index("ix_notify_inbox_group", "group_code"),
    Index("ix_notify_inbox_region", "region"),
)

deliveries = Table(
    "notify_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alert_id", String(100), nullable=False),
    Column("transition_id", String(100), nullable=False),
    Column("channel", String(20), nullable=False),
    Column("group_code", String(40), nullable=False),
    Column("region", String(12), nullable=False),
    Column("target", String(2000), nullable=False),
    Column("status", String(20), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime, nullable=False),
    Column("last_error", String(500), nullable=True),
    Column("payload", Text, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    UniqueConstraint("alert_id", "transition_id", "channel", name="uq_notify_deliveries_transition_channel"),
    Index("ix_notify_deliveries_due", "status", "next_attempt_at"),
)

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    total: int


# ---------------------------------------------------------------- writes (projection side)


async def replace_routes(
    conn: AsyncConnection, *, scope: str, group_code: str, group_name: str, fund_codes: Sequence[str]
) -> None:
    """A `group.assigned` event: the group's routes within `scope` become exactly these."""
    c = group_routes.c
    await conn.execute(delete(group_routes).where(c.scope == scope, c.group_code == group_code))
    rows = [{"scope": scope, "fund_code": f, "group_code": group_code, "group_name": group_name}
            for f in (fund_codes or [None])]
    await conn.execute(group_routes.insert(), rows)


async def load_routes(conn: AsyncConnection) -> list[Route]:
    rows = (await conn.execute(select(group_routes))).all()
    return [Route(r.scope, r.fund_code, r.group_code, r.group_name, r.seq) for r in rows]


async def transition_known(conn: AsyncConnection, alert_id: str, transition_id: str) -> bool:
    row = await conn.execute(
        select(inbox.c.id).where(inbox.c.alert_id == alert_id, inbox.c.transition_id == transition_id).limit(1)
    )
    return row.first() is not None


async def add_inbox(conn: AsyncConnection, row: dict[str, Any]) -> None:
    await conn.execute(insert_ignore(conn, inbox, keys=("alert_id", "transition_id", "group_code")), [row])


async def add_delivery(conn: AsyncConnection, row: dict[str, Any]) -> None:
    """A pending delivery, due now; a second one for the same transition and channel is ignored."""
    now = utcnow()
    values = {"status": PENDING, "attempts": 0, "next_attempt_at": now, "updated_at": now, **row}
    await conn.execute(insert_ignore(conn, deliveries, keys=("alert_id", "transition_id", "channel")), [values])


# ---------------------------------------------------------------- delivery worker


async def due_deliveries(engine: AsyncEngine, now: dt.datetime, limit: int) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(deliveries)
            .where(deliveries.c.status == PENDING, deliveries.c.next_attempt_at <= now)
            .order_by(deliveries.c.next_attempt_at, deliveries.c.id)
            .limit(limit)
        )
        return [dict(r._mapping) for r in rows]


async def claim(engine: AsyncEngine, row: dict[str, Any], lease_until: dt.datetime) -> bool:
    """Lease a due delivery (pushes its due time past the attempt) so that a second worker
    does not send it too; False when another worker got there first."""
    async with engine.begin() as conn:
        result = await conn.execute(
            update(deliveries)
            .where(deliveries.c.id == row["id"], deliveries.c.status == PENDING,
                   deliveries.c.next_attempt_at == row["next_attempt_at"])
            .values(next_attempt_at=lease_until)
        )
        return result.rowcount == 1


async def record_attempt(
    conn: AsyncConnection, delivery_id: int, *, status: str, attempts: int, next_attempt_at: dt.datetime,
    last_error: str | None,
) -> bool:
    """Store the outcome of one attempt; False when the row was no longer pending."""
    result = await conn.execute(
        update(deliveries)
        .where(deliveries.c.id == delivery_id, deliveries.c.status == PENDING)
        .values(status=status, attempts=attempts, next_attempt_at=next_attempt_at,
                last_error=last_error, updated_at=utcnow())
    )
    return result.rowcount == 1


async def add_outgoing(conn: AsyncConnection, *, topic: str, key: bytes, value: bytes) -> None:
    """An event for the Projection's outbox relay, committed with the caller's transaction."""
    await conn.execute(outbox.insert(), [{"topic": topic, "key": key, "value": value}])


# ---------------------------------------------------------------- queries (API side)


async def _page(engine: AsyncEngine, table: Table, conditions: list, limit: int, offset: int) -> Page:
    async with engine.connect() as conn:
        total = (await conn.execute(select(func.count()).select_from(table).where(*conditions))).scalar_one()
        rows = await conn.execute(
            select(table).where(*conditions).order_by(table.c.id.desc()).limit(limit).offset(offset)
        )
        return Page([dict(r._mapping) for r in rows], total)


async def list_inbox(
    engine: AsyncEngine, *, group: str | None = None, region_prefix: str | None = None, level: str | None = None,
    rule_id: str | None = None, limit: int = 100, offset: int = 0, groups: Sequence[str] | None = None,
) -> Page:
    """Newest first. `region_prefix` keeps rows whose region starts with it, `groups` (if given)
    those of these groups (scope checks)."""
    conditions: list[ColumnElement[bool]] = []
    if groups is not None:
        conditions.append(inbox.c.group_code.in_(list(groups)))
    if group:
        conditions.append(inbox.c.group_code == group)
    if region_prefix:
        conditions.append(inbox.c.region.startswith(region_prefix, autoescape=True))
    if level:
        conditions.append(inbox.c.level == level)
    if rule_id:
        conditions.append(inbox.c.rule_id == rule_id)
    return await _page(engine, inbox, conditions, limit, offset)


async def list_deliveries(
    engine: AsyncEngine, *, status: str | None = None, channel: str | None = None, alert_id: str | None = None,
    limit: int = 100, offset: int = 0, region_prefix: str | None = None, groups: Sequence[str] | None = None,
) -> Page:
    conditions: list[ColumnElement[bool]] = []
    if region_prefix:
        conditions.append(deliveries.c.region.startswith(region_prefix, autoescape=True))
    if groups is not None:
        conditions.append(deliveries.c.group_code.in_(list(groups)))
    if status:
        conditions.append(deliveries.c.status == status)
    if channel:
        conditions.append(deliveries.c.channel == channel)
    if alert_id:
        conditions.append(deliveries.c.alert_id == alert_id)
    return await _page(engine, deliveries, conditions, limit, offset)


async def list_routes(engine: AsyncEngine, *, region_prefix: str = "",
                      groups: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The routes that apply within `region_prefix`: set for a region in it, or above it (a
    province-wide route applies to its counties too); of `groups` if given."""
    async with engine.connect() as conn:
        rows = await conn.execute(select(group_routes).order_by(group_routes.c.scope, group_routes.c.seq))
        return [dict(r._mapping) for r in rows
                if (r.scope.startswith(region_prefix) or region_prefix.startswith(r.scope))
                and (groups is None or r.group_code in groups)]


async def counts(engine: AsyncEngine) -> dict[str, dict[str, int]]:
    """Inbox rows by level and deliveries by status."""
    async with engine.connect() as conn:
        levels = await conn.execute(select(inbox.c.level, func.count()).group_by(inbox.c.level))
        statuses = await conn.execute(select(deliveries.c.status, func.count()).group_by(deliveries.c.status))
        return {"by_level": {k: n for k, n in levels.all()}, "deliveries": {k: n for k, n in statuses.all()}}
