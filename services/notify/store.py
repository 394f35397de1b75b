"""notify's tables and every query on them (SQLAlchemy Core; PostgreSQL and SQLite).

Times are naive UTC (`utcnow()`) on both backends so that comparisons are portable."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from services.notify.routing import Route, Target
from services.runtime.projection import outbox_table, tracking_table
from services.runtime.sql import insert_ignore, upsert
from services.runtime.sql import naive as naive  # re-exported: the store's callers keep its name
from services.runtime.sql import stored_now as utcnow

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
    Column("read_at", DateTime, nullable=True),
    Column("read_by", String(60), nullable=True),
    Column("acked_at", DateTime, nullable=True),
    Column("acked_by", String(60), nullable=True),
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
    Column("target_key", String(40), nullable=False, server_default="", doc="settings:… or t<id> (notify_targets)"),
    Column("group_code", String(40), nullable=False),
    Column("region", String(12), nullable=False),
    Column("target", String(2000), nullable=False),
    Column("alerts", Integer, nullable=False, server_default="1", doc="alerts listed in this message"),
    Column("sent_at", DateTime, nullable=True, doc="last attempt (robots' per-minute limits count these)"),
    Column("status", String(20), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime, nullable=False),
    Column("last_error", String(500), nullable=True),
    Column("payload", Text, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    UniqueConstraint("alert_id", "transition_id", "channel", "target_key", name="uq_notify_deliveries_target"),
    Index("ix_notify_deliveries_due", "status", "next_attempt_at"),
    Index("ix_notify_deliveries_target_sent", "target_key", "sent_at"),
)

targets = Table(  # routing as data: which of a group's alerts go to which channel and recipients
    "notify_targets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("group_code", String(40), nullable=False, doc="'*' = the default: every group's alerts"),
    Column("channel", String(20), nullable=False),
    Column("target", String(2000), nullable=False, doc="URL, or e-mail addresses separated by commas"),
    Column("secret", String(200), nullable=True, doc="钉钉 signing secret / Standard Webhooks whsec_…"),
    Column("levels", Text, nullable=False, server_default="[]", doc="JSON list; [] = every level"),
    Column("categories", Text, nullable=False, server_default="[]"),
    Column("rule_ids", Text, nullable=False, server_default="[]"),
    Column("recipients", Text, nullable=False, server_default="[]", doc="mobiles to @ on robots"),
    Column("enabled", Boolean, nullable=False, server_default="1"),
    Column("updated_by", String(60), nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Index("ix_notify_targets_group", "group_code"),
)

items = Table(  # one alert transition waiting for (or listed in) a grouped message to one target
    "notify_items",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alert_id", String(100), nullable=False),
    Column("transition_id", String(100), nullable=False),
    Column("target_key", String(40), nullable=False),
    Column("group_key", String(200), nullable=False, doc="target|rule|region: one message lists these"),
    Column("group_code", String(40), nullable=False),
    Column("region", String(12), nullable=False),
    Column("payload", Text, nullable=False, doc="the alert envelope as JSON"),
    Column("created_at", DateTime, nullable=False),
    Column("delivery_id", Integer, nullable=True, doc="the message that listed it; NULL while waiting"),
    UniqueConstraint("alert_id", "transition_id", "target_key", name="uq_notify_items_transition_target"),
    Index("ix_notify_items_waiting", "delivery_id", "group_key"),
)

group_flushes = Table(
    "notify_group_flushes",
    metadata,
    Column("group_key", String(200), primary_key=True),
    Column("last_flush_at", DateTime, nullable=False),
)

alert_states = Table(  # what reminders need to know of each alert
    "notify_alerts",
    metadata,
    Column("alert_id", String(100), primary_key=True),
    Column("region", String(12), nullable=False),
    Column("rule_id", String(20), nullable=False),
    Column("category", String(40), nullable=False),
    Column("title_zh", String(120), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("group_code", String(40), nullable=False),
    Column("level", String(10), nullable=False),
    Column("open", Boolean, nullable=False),
    Column("since", DateTime, nullable=False, doc="when the alert reached its current level (naive UTC)"),
    Column("seq", Integer, nullable=False),
    Index("ix_notify_alerts_open_level", "open", "level"),
)

reminders = Table(
    "notify_reminders",
    metadata,
    Column("reminder_id", String(140), primary_key=True),
    Column("alert_id", String(100), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("ordinal", Integer, nullable=False),
    Column("level", String(10), nullable=False),
    Column("group_code", String(40), nullable=False),
    Column("recipients", Text, nullable=False),
    Column("working_days", Integer, nullable=False),
    Column("region", String(12), nullable=False),
    Column("at", DateTime, nullable=False),
    Index("ix_notify_reminders_alert", "alert_id"),
)

reminder_policies = Table(  # per rule ('*' = every rule) and level; missing = the built-in default
    "notify_reminder_policies",
    metadata,
    Column("rule_id", String(20), primary_key=True),
    Column("level", String(10), primary_key=True),
    Column("remind_after", Integer, nullable=False, doc="working days at the level before the first reminder"),
    Column("escalate_after", Integer, nullable=True, doc="working days before escalation (NULL = never)"),
    Column("repeat_every", Integer, nullable=False, doc="working days between reminders after the first"),
    Column("updated_by", String(60), nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

reports = Table(
    "notify_reports",
    metadata,
    Column("report_id", String(80), primary_key=True, doc="month/region/group"),
    Column("month", Date, nullable=False, doc="the first day of the reported month"),
    Column("region", String(12), nullable=False),
    Column("group_code", String(40), nullable=False),
    Column("generated_at", DateTime, nullable=False),
    Column("generated_by", String(60), nullable=False),
    Column("summary", Text, nullable=False, doc="the report's numbers as JSON"),
    Column("xlsx", LargeBinary, nullable=False),
    Column("html", Text, nullable=False),
)

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


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
            for f in ([*fund_codes] if fund_codes else [None])]  # no funds: one route for all of the scope's
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
    await conn.execute(insert_ignore(conn, deliveries, keys=("alert_id", "transition_id", "channel", "target_key")),
                       [values])


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


async def due_by_target(engine: AsyncEngine, now: dt.datetime, per_target: int, busy: Collection[str],
                        ) -> dict[str, list[dict[str, Any]]]:
    """The due messages of each target not `busy`, at most `per_target` each, in due order: a
    backlog of one target does not hide the others' messages (a plain LIMIT would)."""
    c = deliveries.c
    due = [c.status == PENDING, c.next_attempt_at <= now]
    out: dict[str, list[dict[str, Any]]] = {}
    async with engine.connect() as conn:
        targets = await conn.execute(select(c.target_key, c.channel, c.target).where(*due).distinct())
        for key, channel, target in targets:
            lane = key or f"{channel}:{target}"
            if lane in busy or lane in out:
                continue
            rows = await conn.execute(select(deliveries).where(*due, c.target_key == key, c.channel == channel,
                                                               c.target == target)
                                      .order_by(c.next_attempt_at, c.id).limit(per_target))
            out[lane] = [dict(r._mapping) for r in rows]
    return out


async def claim(engine: AsyncEngine, row: dict[str, Any], lease_until: dt.datetime) -> bool:
    """Lease a due delivery (pushes its due time past the attempt) so that a second worker
    does not send it too; False when another worker got there first."""
    async with engine.begin() as conn:
        result = await conn.execute(
            update(deliveries)
            .where(deliveries.c.id == row["id"], deliveries.c.status == PENDING,
                   deliveries.c.next_attempt_at == row["next_attempt_at"])
            .values(next_attempt_at=lease_until, sent_at=utcnow())
        )
        return result.rowcount == 1


async def claim_many(engine: AsyncEngine, rows: Sequence[dict[str, Any]], lease_until: dt.datetime
                     ) -> list[dict[str, Any]]:
    """`claim` for a lane's rows in one transaction (one commit, not one a message); the rows
    another worker got first are left out."""
    out = []
    async with engine.begin() as conn:
        for row in rows:
            result = await conn.execute(
                update(deliveries)
                .where(deliveries.c.id == row["id"], deliveries.c.status == PENDING,
                       deliveries.c.next_attempt_at == row["next_attempt_at"])
                .values(next_attempt_at=lease_until, sent_at=utcnow()))
            if result.rowcount == 1:
                out.append(row)
    return out


async def renew(engine: AsyncEngine, delivery_ids: Sequence[int], lease_until: dt.datetime) -> set[int]:
    """A lane's claimed rows kept leased (still pending): the ids it still holds."""
    async with engine.begin() as conn:
        await conn.execute(update(deliveries).where(deliveries.c.id.in_(list(delivery_ids)),
                                                    deliveries.c.status == PENDING)
                           .values(next_attempt_at=lease_until))
        rows = await conn.execute(select(deliveries.c.id).where(deliveries.c.id.in_(list(delivery_ids)),
                                                                deliveries.c.status == PENDING))
        return {r[0] for r in rows}


async def release(engine: AsyncEngine, delivery_ids: Sequence[int], until: dt.datetime) -> None:
    """Claimed rows not attempted (a robot's minute is full): due again at `until`, in their order."""
    async with engine.begin() as conn:
        await conn.execute(update(deliveries).where(deliveries.c.id.in_(list(delivery_ids)),
                                                    deliveries.c.status == PENDING)
                           .values(next_attempt_at=until, updated_at=utcnow()))


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
    if alert_id:  # a grouped message names its first alert; the items name every alert it lists
        listed = select(items.c.delivery_id).where(items.c.alert_id == alert_id, items.c.delivery_id.is_not(None))
        conditions.append(or_(deliveries.c.alert_id == alert_id, deliveries.c.id.in_(listed)))
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


async def counts(engine: AsyncEngine) -> dict[str, Any]:
    """Inbox rows by level, deliveries by status and by channel and status (per-channel counters)."""
    async with engine.connect() as conn:
        levels = await conn.execute(select(inbox.c.level, func.count()).group_by(inbox.c.level))
        statuses = await conn.execute(select(deliveries.c.status, func.count()).group_by(deliveries.c.status))
        per_channel = await conn.execute(select(deliveries.c.channel, deliveries.c.status, func.count(),
                                                func.coalesce(func.sum(deliveries.c.alerts), 0))
                                         .group_by(deliveries.c.channel, deliveries.c.status))
        waiting = (await conn.execute(select(func.count()).select_from(items)
                                      .where(items.c.delivery_id.is_(None)))).scalar_one()
        channels: dict[str, dict[str, int]] = {}
        for channel, status, n, listed in per_channel.all():
            channels.setdefault(channel, {})[status] = n
            channels[channel][f"{status}_alerts"] = int(listed)
        return {"by_level": dict(levels.all()), "deliveries": dict(statuses.all()),
                "channels": channels, "waiting_items": int(waiting)}


# ---------------------------------------------------------------- targets (routing as data)


def _target(r: Any) -> Target:
    return Target(f"t{r.id}", r.group_code, r.channel, r.target, r.secret, tuple(json.loads(r.levels)),
                  tuple(json.loads(r.categories)), tuple(json.loads(r.rule_ids)), tuple(json.loads(r.recipients)))


async def load_targets(conn: AsyncConnection) -> list[Target]:
    rows = await conn.execute(select(targets).where(targets.c.enabled.is_(True)).order_by(targets.c.id))
    return [_target(r) for r in rows]


def _target_row(r: Any) -> dict[str, Any]:
    d = dict(r._mapping)
    for name in ("levels", "categories", "rule_ids", "recipients"):
        d[name] = json.loads(d[name])
    d["has_secret"] = bool(d.pop("secret"))
    return d


async def list_targets(engine: AsyncEngine, groups: Sequence[str] | None = None) -> list[dict[str, Any]]:
    query = select(targets).order_by(targets.c.group_code, targets.c.id)
    if groups is not None:
        query = query.where(targets.c.group_code.in_(list(groups)))
    async with engine.connect() as conn:
        return [_target_row(r) for r in await conn.execute(query)]


async def get_target(engine: AsyncEngine, target_id: int) -> dict[str, Any] | None:
    async with engine.connect() as conn:
        row = (await conn.execute(select(targets).where(targets.c.id == target_id))).first()
        return _target_row(row) if row else None


def _target_values(values: dict[str, Any], user: str) -> dict[str, Any]:
    out = {k: json.dumps(list(v), ensure_ascii=False) if k in ("levels", "categories", "rule_ids", "recipients")
           else v for k, v in values.items()}
    return {**out, "updated_by": user, "updated_at": utcnow()}


async def create_target(engine: AsyncEngine, values: dict[str, Any], user: str) -> int:
    async with engine.begin() as conn:
        result = await conn.execute(targets.insert().values(**_target_values(values, user)))
        return int(result.inserted_primary_key[0])  # type: ignore[index]


async def update_target(engine: AsyncEngine, target_id: int, values: dict[str, Any], user: str) -> bool:
    async with engine.begin() as conn:
        result = await conn.execute(update(targets).where(targets.c.id == target_id)
                                    .values(**_target_values(values, user)))
        return result.rowcount == 1


async def delete_target(engine: AsyncEngine, target_id: int) -> bool:
    async with engine.begin() as conn:
        return (await conn.execute(delete(targets).where(targets.c.id == target_id))).rowcount == 1


async def target_secrets(engine: AsyncEngine, keys: Sequence[str]) -> dict[str, str | None]:
    ids = [int(k[1:]) for k in keys if k.startswith("t") and k[1:].isdigit()]
    if not ids:
        return {}
    async with engine.connect() as conn:
        rows = await conn.execute(select(targets.c.id, targets.c.secret).where(targets.c.id.in_(ids)))
        return {f"t{r.id}": r.secret for r in rows}


# ---------------------------------------------------------------- grouped messages


async def add_item(conn: AsyncConnection, row: dict[str, Any]) -> None:
    """An alert transition waiting for its group's message; the same one twice is ignored."""
    await conn.execute(insert_ignore(conn, items, keys=("alert_id", "transition_id", "target_key")),
                       [{"created_at": utcnow(), **row}])


async def waiting_groups(engine: AsyncEngine) -> list[tuple[str, dt.datetime, dt.datetime | None]]:
    """(group key, its oldest waiting item's time, its last flush) for every group with waiting items."""
    async with engine.connect() as conn:
        rows = (await conn.execute(
            select(items.c.group_key, func.min(items.c.created_at), group_flushes.c.last_flush_at)
            .select_from(items.outerjoin(group_flushes, group_flushes.c.group_key == items.c.group_key))
            .where(items.c.delivery_id.is_(None))
            .group_by(items.c.group_key, group_flushes.c.last_flush_at)
        )).all()
        return [(k, oldest, last) for k, oldest, last in rows]


async def waiting_items(conn: AsyncConnection, key: str, limit: int) -> list[dict[str, Any]]:
    rows = await conn.execute(select(items).where(items.c.group_key == key, items.c.delivery_id.is_(None))
                              .order_by(items.c.id).limit(limit))
    return [dict(r._mapping) for r in rows]


async def flush_group(conn: AsyncConnection, key: str, messages: Sequence[tuple[dict[str, Any], list[int]]],
                      now: dt.datetime) -> bool:
    """The group's messages (delivery rows) and the items each lists, in the caller's transaction;
    False when another flush took some of the items first (the caller rolls back)."""
    for row, item_ids in messages:
        values = {"status": PENDING, "attempts": 0, "next_attempt_at": now, "updated_at": now, **row}
        result = await conn.execute(deliveries.insert().values(**values))
        delivery_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        taken = await conn.execute(update(items).where(items.c.id.in_(item_ids), items.c.delivery_id.is_(None))
                                   .values(delivery_id=delivery_id))
        if taken.rowcount != len(item_ids):
            return False
    await conn.execute(upsert(conn, group_flushes, {"group_key": key, "last_flush_at": now}, keys=("group_key",),
                              update={"last_flush_at": now}))
    return True


async def sent_times(engine: AsyncEngine, target_key: str, since: dt.datetime) -> list[dt.datetime]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(deliveries.c.sent_at).where(
            deliveries.c.target_key == target_key, deliveries.c.sent_at >= since))
        return [r[0] for r in rows]


async def defer(engine: AsyncEngine, delivery_id: int, until: dt.datetime) -> None:
    """A robot's per-minute limit is reached: the message waits (no attempt is counted)."""
    async with engine.begin() as conn:
        await conn.execute(update(deliveries).where(deliveries.c.id == delivery_id, deliveries.c.status == PENDING)
                           .values(next_attempt_at=until))


async def resend(engine: AsyncEngine, delivery_id: int) -> None:
    """A failed (or delivered) message goes out again: pending, due now, attempts from zero."""
    now = utcnow()
    async with engine.begin() as conn:
        await conn.execute(update(deliveries).where(deliveries.c.id == delivery_id).values(
            status=PENDING, attempts=0, next_attempt_at=now, last_error=None, updated_at=now))


async def get_delivery(engine: AsyncEngine, delivery_id: int) -> dict[str, Any] | None:
    async with engine.connect() as conn:
        row = (await conn.execute(select(deliveries).where(deliveries.c.id == delivery_id))).first()
        return dict(row._mapping) if row else None


async def listed_alerts(engine: AsyncEngine, delivery_id: int) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(items.c.alert_id).where(items.c.delivery_id == delivery_id)
                                  .order_by(items.c.id))
        return [r[0] for r in rows]


# ---------------------------------------------------------------- inbox state and the stream


async def mark_inbox(engine: AsyncEngine, item_id: int, what: str, user: str) -> None:
    """`read` or `acked` (acknowledging also reads); the first time counts, a repeat changes nothing."""
    now = utcnow()
    c = inbox.c
    async with engine.begin() as conn:
        await conn.execute(update(inbox).where(c.id == item_id, c.read_at.is_(None)).values(read_at=now, read_by=user))
        if what == "acked":
            await conn.execute(update(inbox).where(c.id == item_id, c.acked_at.is_(None))
                               .values(acked_at=now, acked_by=user))


async def get_inbox(engine: AsyncEngine, item_id: int) -> dict[str, Any] | None:
    async with engine.connect() as conn:
        row = (await conn.execute(select(inbox).where(inbox.c.id == item_id))).first()
        return dict(row._mapping) if row else None


async def inbox_after(engine: AsyncEngine, after_id: int, *, region_prefix: str, groups: Sequence[str] | None,
                      limit: int = 200) -> list[dict[str, Any]]:
    """Inbox rows after `after_id` (oldest first) that the caller may see: the stream's next events."""
    conditions = [inbox.c.id > after_id]
    if region_prefix:
        conditions.append(inbox.c.region.startswith(region_prefix, autoescape=True))
    if groups is not None:
        conditions.append(inbox.c.group_code.in_(list(groups)))
    async with engine.connect() as conn:
        rows = await conn.execute(select(inbox).where(*conditions).order_by(inbox.c.id).limit(limit))
        return [dict(r._mapping) for r in rows]


# ---------------------------------------------------------------- alert states (for reminders)


async def record_alert_state(conn: AsyncConnection, row: dict[str, Any]) -> None:
    """The alert's latest known state; `since` moves only when the level changes."""
    c = alert_states.c
    found = (await conn.execute(select(alert_states).where(c.alert_id == row["alert_id"]))).first()
    if found is None:
        await conn.execute(insert_ignore(conn, alert_states, keys=("alert_id",)), [row])
        return
    if row["seq"] <= found.seq:
        return
    values = {"level": row["level"], "open": row["open"], "seq": row["seq"], "group_code": row["group_code"]}
    if row["level"] != found.level:
        values["since"] = row["since"]
    await conn.execute(update(alert_states).where(c.alert_id == row["alert_id"]).values(**values))


# ---------------------------------------------------------------- reminders


async def open_alerts(conn: AsyncConnection) -> list[dict[str, Any]]:
    rows = await conn.execute(select(alert_states).where(alert_states.c.open.is_(True),
                                                         alert_states.c.level.in_(["yellow", "red"])))
    return [dict(r._mapping) for r in rows]


async def sent_reminder_ids(conn: AsyncConnection) -> set[str]:
    return {r[0] for r in await conn.execute(select(reminders.c.reminder_id))}


async def add_reminder(conn: AsyncConnection, row: dict[str, Any]) -> bool:
    """False when this reminder was sent before (its id is its identity)."""
    result = await conn.execute(insert_ignore(conn, reminders, keys=("reminder_id",)), [row])
    return result.rowcount == 1


async def load_policies(conn: AsyncConnection) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in await conn.execute(
        select(reminder_policies).order_by(reminder_policies.c.rule_id, reminder_policies.c.level))]


async def set_policy(engine: AsyncEngine, row: dict[str, Any]) -> None:
    values = {**row, "updated_at": utcnow()}
    async with engine.begin() as conn:
        await conn.execute(upsert(conn, reminder_policies, values, keys=("rule_id", "level"),
                                  update={k: v for k, v in values.items() if k not in ("rule_id", "level")}))


async def reminders_of(engine: AsyncEngine, alert_id: str) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(reminders).where(reminders.c.alert_id == alert_id)
                                  .order_by(reminders.c.at, reminders.c.reminder_id))
        return [dict(r._mapping) for r in rows]


# ---------------------------------------------------------------- monthly reports


async def save_report(engine: AsyncEngine, row: dict[str, Any]) -> None:
    async with engine.begin() as conn:
        await conn.execute(delete(reports).where(reports.c.report_id == row["report_id"]))
        await conn.execute(reports.insert().values(**row))


async def report_exists(engine: AsyncEngine, report_id: str) -> bool:
    async with engine.connect() as conn:
        return (await conn.execute(select(reports.c.report_id).where(reports.c.report_id == report_id))).first() \
            is not None


async def get_report(engine: AsyncEngine, report_id: str) -> dict[str, Any] | None:
    async with engine.connect() as conn:
        row = (await conn.execute(select(reports).where(reports.c.report_id == report_id))).first()
        return dict(row._mapping) if row else None


async def list_reports(engine: AsyncEngine, *, region_prefix: str, groups: Sequence[str] | None) -> list[dict]:
    c = reports.c
    query = select(c.report_id, c.month, c.region, c.group_code, c.generated_at, c.generated_by).where(
        c.region.startswith(region_prefix, autoescape=True)).order_by(c.month.desc(), c.report_id)
    if groups is not None:
        query = query.where(c.group_code.in_(list(groups)))
    async with engine.connect() as conn:
        return [dict(r._mapping) for r in await conn.execute(query)]


