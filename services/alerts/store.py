"""The alerts read model (SQLAlchemy Core; PostgreSQL and SQLite) and every query on it.

Written only by the projection of the alert, alert-command and rule-config topics (and by the
API's outbox for the dispositions it files): the faust state machine stays the single writer
of alert state; this is its queryable mirror. Times are naive UTC on both backends."""

from __future__ import annotations

import datetime as dt
import json
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
    func,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from services.runtime.projection import outbox_table, tracking_table
from services.runtime.sql import insert_ignore, naive, upsert

metadata = MetaData()
tracking = tracking_table(metadata, "alerts")
outbox = outbox_table(metadata, "alerts")

alerts = Table(
    "alerts_alerts",
    metadata,
    Column("alert_id", String(100), primary_key=True),
    Column("rule_id", String(20), nullable=False),
    Column("category", String(40), nullable=False),
    Column("title_zh", String(120), nullable=False),
    Column("title_en", String(160), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("region", String(12), nullable=False),
    Column("fund_code", String(40)),
    Column("group_code", String(40)),
    Column("level", String(10), nullable=False),
    Column("open", Boolean, nullable=False),
    Column("shadow", Boolean, nullable=False, default=False),
    Column("budget_year", Integer),
    Column("due", Date),
    Column("findings", Text, nullable=False, default=""),
    Column("findings_zh", Text, nullable=False, default="", server_default=""),
    Column("raised_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("transitions", Integer, nullable=False),
    Column("last_transition", String(30), nullable=False),
    Index("ix_alerts_alerts_region", "region"),
    Index("ix_alerts_alerts_rule", "rule_id"),
    Index("ix_alerts_alerts_level_open", "level", "open"),
    Index("ix_alerts_alerts_group", "group_code"),
    Index("ix_alerts_alerts_raised", "raised_at"),
)

transitions = Table(
    "alerts_transitions",
    metadata,
    Column("transition_id", String(110), primary_key=True),
    Column("alert_id", String(100), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("kind", String(30), nullable=False),
    Column("from_level", String(10)),
    Column("level", String(10), nullable=False),
    Column("open", Boolean, nullable=False),
    Column("actor", String(60), nullable=False),
    Column("at", DateTime, nullable=False),
    Column("method", String(60)),
    Column("findings", Text, nullable=False, default=""),
    Column("evidence", Text, nullable=False, default="[]"),
    Column("disposition_id", String(100)),
    Column("corrective_actions", Text, nullable=False, default="[]"),
    Column("attachments", Text, nullable=False, default="[]"),
    Column("findings_zh", Text, nullable=False, default="", server_default=""),
    Index("ix_alerts_transitions_alert", "alert_id", "seq"),
)

dispositions = Table(
    "alerts_dispositions",
    metadata,
    Column("disposition_id", String(100), primary_key=True),
    Column("alert_id", String(100), nullable=False),
    Column("action", String(30), nullable=False),
    Column("actor", String(60), nullable=False),
    Column("group_code", String(40), nullable=False),
    Column("region", String(12), nullable=False),
    Column("status", String(10), nullable=False),  # filed | applied | refused
    Column("reason", String(500)),
    Column("transition_id", String(110)),
    Column("filed_at", DateTime, nullable=False),
    Column("decided_at", DateTime),
    Column("body", Text, nullable=False),
    Index("ix_alerts_dispositions_alert", "alert_id"),
)

attachments = Table(  # files uploaded with a disposition (处理单); the content is kept here, in the database
    "alerts_attachments",
    metadata,
    Column("attachment_id", String(40), primary_key=True),
    Column("alert_id", String(100), nullable=False),
    Column("region", String(12), nullable=False),  # the alert's: who may download it is who may see the alert
    Column("disposition_id", String(100)),  # None until a disposition names it
    Column("file_name", String(255), nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("size", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("uploaded_by", String(60), nullable=False),
    Column("uploaded_at", DateTime, nullable=False),
    Column("content", LargeBinary, nullable=False),
    Index("ix_alerts_attachments_alert", "alert_id"),
)

rule_configs = Table(
    "alerts_rule_configs",
    metadata,
    Column("rule_id", String(20), primary_key=True),
    Column("budget_year", Integer, primary_key=True),
    Column("scope", String(12), primary_key=True),
    Column("payload", Text, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

rule_config_history = Table(  # every configuration published, in order (who set what, for which scope)
    "alerts_rule_config_history",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(100), nullable=False, unique=True),
    Column("rule_id", String(20), nullable=False),
    Column("budget_year", Integer, nullable=False),
    Column("scope", String(12), nullable=False),
    Column("set_by", String(60), nullable=False),
    Column("region", String(12), nullable=False),
    Column("payload", Text, nullable=False),
    Column("at", DateTime, nullable=False),
)

FILED, APPLIED, REFUSED = "filed", "applied", "refused"


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    total: int


# ---------------------------------------------------------------- writes (projection side)


async def record_transition(conn: AsyncConnection, region: str, t: Any) -> None:
    """One `alert.transitioned` (its data `t`): the history row, and the alert's current state
    when this transition is newer than what is stored (redeliveries change nothing)."""
    seq = int(t.transition_id.rsplit(".", 1)[1])
    at = naive(t.at)
    evidence = json.dumps([e.model_dump(mode="json") for e in t.evidence], ensure_ascii=False)
    await conn.execute(insert_ignore(conn, transitions, keys=("transition_id",)), [{
        "transition_id": t.transition_id, "alert_id": t.alert_id, "seq": seq, "kind": t.transition.value,
        "from_level": t.from_level.value if t.from_level else None, "level": t.level.value, "open": t.open,
        "actor": t.actor, "at": at, "method": t.method, "findings": t.findings, "findings_zh": t.findings_zh,
        "evidence": evidence,
        "disposition_id": t.disposition_id, "corrective_actions": json.dumps(t.corrective_actions),
        "attachments": json.dumps(t.attachments, ensure_ascii=False)}])
    row = {"alert_id": t.alert_id, "rule_id": t.rule_id, "category": t.category, "title_zh": t.title_zh,
           "title_en": t.title_en, "subject": t.subject, "region": region, "fund_code": t.fund_code,
           "group_code": t.group_code, "level": t.level.value, "open": t.open, "shadow": t.shadow,
           "budget_year": t.budget_year, "due": t.due, "findings": t.findings if seq == 1 else "",
           "findings_zh": t.findings_zh if seq == 1 else "",
           "raised_at": at, "updated_at": at, "transitions": seq, "last_transition": t.transition.value}
    await conn.execute(upsert(conn, alerts, row, keys=("alert_id",), update=None))
    await conn.execute(
        update(alerts).where(alerts.c.alert_id == t.alert_id, alerts.c.transitions < seq)
        .values(level=t.level.value, open=t.open, updated_at=at, transitions=seq, last_transition=t.transition.value,
                group_code=func.coalesce(alerts.c.group_code, t.group_code))
    )
    if seq == 1:
        await conn.execute(update(alerts).where(alerts.c.alert_id == t.alert_id, alerts.c.findings == "")
                           .values(findings=t.findings, findings_zh=t.findings_zh, raised_at=at))
    if t.disposition_id:
        await conn.execute(update(dispositions).where(dispositions.c.disposition_id == t.disposition_id)
                           .values(status=APPLIED, transition_id=t.transition_id, decided_at=at, reason=None))


async def record_reminder(conn: AsyncConnection, r: Any) -> None:
    """notify's `alert.reminded`: a history row after the transition it followed (no state change)."""
    seq = (await conn.execute(select(alerts.c.transitions).where(alerts.c.alert_id == r.alert_id))).scalar() or 0
    await conn.execute(insert_ignore(conn, transitions, keys=("transition_id",)), [{
        "transition_id": r.reminder_id, "alert_id": r.alert_id, "seq": seq, "kind": r.kind.value,
        "from_level": None, "level": r.level.value, "open": True, "actor": "notify", "at": naive(r.at),
        "method": None, "findings": r.text_zh, "evidence": "[]", "disposition_id": None,
        "corrective_actions": "[]", "attachments": "[]"}])


async def record_filed(conn: AsyncConnection, region: str, at: dt.datetime, d: Any) -> None:
    """A disposition seen on the command topic (or filed by this API): status `filed` unless decided."""
    await conn.execute(insert_ignore(conn, dispositions, keys=("disposition_id",)), [{
        "disposition_id": d.disposition_id, "alert_id": d.alert_id, "action": d.action.value, "actor": d.actor,
        "group_code": d.group_code, "region": region, "status": FILED, "filed_at": naive(at),
        "body": d.model_dump_json()}])


async def record_refused(conn: AsyncConnection, region: str, r: Any) -> None:
    await conn.execute(insert_ignore(conn, dispositions, keys=("disposition_id",)), [{
        "disposition_id": r.disposition_id, "alert_id": r.alert_id, "action": r.action, "actor": r.actor,
        "group_code": "", "region": region, "status": REFUSED, "filed_at": naive(r.at), "body": "{}"}])
    await conn.execute(update(dispositions).where(dispositions.c.disposition_id == r.disposition_id,
                                                  dispositions.c.status != APPLIED)
                       .values(status=REFUSED, reason=r.reason, decided_at=naive(r.at)))


ATTACHMENT_META = tuple(c for c in attachments.c if c.name != "content")


async def add_attachment(conn: AsyncConnection, row: dict[str, Any]) -> None:
    await conn.execute(attachments.insert(), [row])


async def attachments_of(conn: AsyncConnection, alert_id: str) -> list[dict[str, Any]]:
    """The alert's attachments without their content, oldest first."""
    rows = await conn.execute(select(*ATTACHMENT_META).where(attachments.c.alert_id == alert_id)
                              .order_by(attachments.c.uploaded_at, attachments.c.attachment_id))
    return [dict(r._mapping) for r in rows]


async def get_attachment(conn: AsyncConnection, attachment_id: str, *, content: bool = False) -> dict[str, Any] | None:
    columns = tuple(attachments.c) if content else ATTACHMENT_META
    row = (await conn.execute(select(*columns).where(attachments.c.attachment_id == attachment_id))).first()
    return dict(row._mapping) if row else None


async def link_attachments(conn: AsyncConnection, ids: list[str], disposition_id: str) -> int:
    """Name the disposition on its attachments (only those not linked yet); how many were linked."""
    if not ids:
        return 0
    result = await conn.execute(update(attachments).where(attachments.c.attachment_id.in_(ids),
                                                          attachments.c.disposition_id.is_(None))
                                .values(disposition_id=disposition_id))
    return int(result.rowcount or 0)


async def record_config(conn: AsyncConnection, c: Any, at: dt.datetime, *, event_id: str = "", region: str = "000000"
                        ) -> None:
    values = {"rule_id": c.rule_id, "budget_year": c.budget_year, "scope": c.scope, "payload": c.model_dump_json(),
              "updated_at": naive(at)}
    await conn.execute(upsert(conn, rule_configs, values, keys=("rule_id", "budget_year", "scope"),
                              update={"payload": values["payload"], "updated_at": values["updated_at"]}))
    if event_id:
        await conn.execute(insert_ignore(conn, rule_config_history, keys=("event_id",)), [{
            "event_id": event_id, "rule_id": c.rule_id, "budget_year": c.budget_year, "scope": c.scope,
            "set_by": c.set_by, "region": region, "payload": values["payload"], "at": naive(at)}])


async def add_outgoing(conn: AsyncConnection, *, topic: str, key: bytes, value: bytes) -> None:
    await conn.execute(outbox.insert(), [{"topic": topic, "key": key, "value": value}])


# ---------------------------------------------------------------- queries (API side)


@dataclass(frozen=True)
class AlertFilter:
    region_prefix: str = ""
    level: str | None = None
    category: str | None = None
    rule_id: str | None = None
    group: str | None = None
    status: str | None = None  # open | closed
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    include_shadow: bool = False


def _conditions(f: AlertFilter) -> list:
    c = alerts.c
    out = []
    if f.region_prefix:
        out.append(c.region.startswith(f.region_prefix, autoescape=True))
    if f.level:
        out.append(c.level == f.level)
    if f.category:
        out.append(c.category == f.category)
    if f.rule_id:
        out.append(c.rule_id == f.rule_id)
    if f.group:
        out.append(c.group_code == f.group)
    if f.status == "open":
        out.append(c.open.is_(True))
    elif f.status == "closed":
        out.append(c.open.is_(False))
    if f.since:
        out.append(c.raised_at >= naive(f.since))
    if f.until:
        out.append(c.raised_at < naive(f.until))
    if not f.include_shadow:
        out.append(c.shadow.is_(False))
    return out


async def list_alerts(conn: AsyncConnection, f: AlertFilter, limit: int, offset: int) -> Page:
    where = _conditions(f)
    total = (await conn.execute(select(func.count()).select_from(alerts).where(*where))).scalar_one()
    rows = await conn.execute(select(alerts).where(*where).order_by(alerts.c.raised_at.desc(), alerts.c.alert_id)
                              .limit(limit).offset(offset))
    return Page([dict(r._mapping) for r in rows], int(total))


async def get_alert(conn: AsyncConnection, alert_id: str) -> dict[str, Any] | None:
    row = (await conn.execute(select(alerts).where(alerts.c.alert_id == alert_id))).first()
    return dict(row._mapping) if row else None


async def history(conn: AsyncConnection, alert_id: str) -> list[dict[str, Any]]:
    rows = await conn.execute(select(transitions).where(transitions.c.alert_id == alert_id)
                              .order_by(transitions.c.seq, transitions.c.at))
    out = []
    for r in rows:
        d = dict(r._mapping)
        for name in ("evidence", "corrective_actions", "attachments"):
            d[name] = json.loads(d[name] or "[]")
        out.append(d)
    return out


async def dispositions_of(conn: AsyncConnection, alert_id: str) -> list[dict[str, Any]]:
    rows = await conn.execute(select(dispositions).where(dispositions.c.alert_id == alert_id)
                              .order_by(dispositions.c.filed_at))
    return [dict(r._mapping) for r in rows]


async def get_disposition(conn: AsyncConnection, disposition_id: str) -> dict[str, Any] | None:
    row = (await conn.execute(select(dispositions).where(dispositions.c.disposition_id == disposition_id))).first()
    return dict(row._mapping) if row else None


async def counts(conn: AsyncConnection, region_prefix: str = "") -> dict[str, dict[str, int]]:
    where = [alerts.c.region.startswith(region_prefix, autoescape=True)] if region_prefix else []
    where.append(alerts.c.shadow.is_(False))

    async def by(column) -> dict[str, int]:
        rows = await conn.execute(select(column, func.count()).where(*where).group_by(column))
        return {str(k): int(n) for k, n in rows.all()}

    return {"by_level": await by(alerts.c.level), "by_rule": await by(alerts.c.rule_id),
            "by_category": await by(alerts.c.category),
            "open": {"open": (await conn.execute(select(func.count()).select_from(alerts)
                                                 .where(*where, alerts.c.open.is_(True)))).scalar_one()}}


async def summary(conn: AsyncConnection, region_prefix: str, region_len: int) -> dict[str, list[dict[str, Any]]]:
    """Open alerts counted by (level, category) and by (region truncated to `region_len` digits, level)."""
    where: list[ColumnElement[bool]] = [alerts.c.open.is_(True), alerts.c.shadow.is_(False)]
    if region_prefix:
        where.append(alerts.c.region.startswith(region_prefix, autoescape=True))
    cells = await conn.execute(select(alerts.c.level, alerts.c.category, func.count()).where(*where)
                               .group_by(alerts.c.level, alerts.c.category))
    area = func.substr(alerts.c.region, 1, region_len)
    regions = await conn.execute(select(area, alerts.c.level, func.count()).where(*where).group_by(area, alerts.c.level))
    return {"cells": [{"level": lv, "category": cat, "open": int(n)} for lv, cat, n in cells.all()],
            "regions": [{"region": r, "level": lv, "open": int(n)} for r, lv, n in regions.all()]}


async def list_configs(conn: AsyncConnection) -> list[dict[str, Any]]:
    rows = await conn.execute(select(rule_configs).order_by(rule_configs.c.rule_id, rule_configs.c.budget_year,
                                                            rule_configs.c.scope))
    return [{**dict(r._mapping), "payload": json.loads(r.payload)} for r in rows]


async def config_history(conn: AsyncConnection, rule_id: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    query = select(rule_config_history).order_by(rule_config_history.c.seq.desc()).limit(limit)
    if rule_id:
        query = query.where(rule_config_history.c.rule_id == rule_id)
    return [{**dict(r._mapping), "payload": json.loads(r.payload)} for r in await conn.execute(query)]


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(select(func.count()).select_from(rule_configs))
