"""access's tables and every query on them (SQLAlchemy Core; PostgreSQL and SQLite). Times are
naive UTC. The audit table is append-only: the migration adds triggers that refuse UPDATE and
DELETE on both backends."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from services.access.domain import Access, Application, Kind, Status, User
from services.runtime.auth import Role
from services.runtime.projection import outbox_table, tracking_table
from services.runtime.sql import aware, insert_ignore, naive, utcnow

metadata = MetaData()
tracking = tracking_table(metadata, "access")
outbox = outbox_table(metadata, "access")

users = Table(
    "access_users",
    metadata,
    Column("username", String(64), primary_key=True),
    Column("display_name", String(60), nullable=False),
    Column("region", String(12), nullable=False, index=True),
    Column("roles", String(100), nullable=False, doc="comma-separated"),
    Column("groups", String(400), nullable=False, doc="comma-separated group codes"),
    Column("password_hash", String(200), nullable=False, doc="argon2id (pwdlib)"),
    Column("active", Boolean, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

refresh_tokens = Table(
    "access_refresh_tokens",
    metadata,
    Column("token_id", String(16), primary_key=True),
    Column("family_id", String(32), nullable=False, index=True, doc="one login: every rotation of its token"),
    Column("username", String(64), nullable=False, index=True),
    Column("token_hash", String(64), nullable=False, doc="SHA-256 of the token; the token is never stored"),
    Column("issued_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=False),
    Column("revoked_at", DateTime, nullable=True),
    Column("replaced_by", String(16), nullable=True),
)

applications = Table(
    "access_applications",
    metadata,
    Column("application_id", String(40), primary_key=True),
    Column("kind", String(10), nullable=False),
    Column("username", String(64), nullable=False, index=True),
    Column("region", String(12), nullable=False, index=True),
    Column("unit", String(120), nullable=False),
    Column("reason", Text, nullable=False),
    Column("requested", Text, nullable=True, doc="JSON: display_name, region, roles, groups"),
    Column("status", String(12), nullable=False),
    Column("applied_by", String(64), nullable=False),
    Column("applied_at", DateTime, nullable=False),
    Column("confirmed_by", String(64), nullable=True),
    Column("confirmed_at", DateTime, nullable=True),
    Column("decided_by", String(64), nullable=True),
    Column("decided_at", DateTime, nullable=True),
    Column("note", Text, nullable=True),
    Column("history", Text, nullable=False, doc="JSON list of [status, actor, at]"),
)

audit_log = Table(
    "access_audit",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(100), nullable=False, unique=True),
    Column("at", DateTime, nullable=False),
    Column("region", String(12), nullable=False),
    Column("actor", String(100), nullable=False),
    Column("actor_kind", String(20), nullable=False),
    Column("action", String(60), nullable=False),
    Column("outcome", String(20), nullable=False),
    Column("target", String(200), nullable=True),
    Column("reason", String(500), nullable=True),
    Column("client_ip", String(64), nullable=True),
    Column("service", String(20), nullable=False),
    Column("details", Text, nullable=False),
    Index("ix_access_audit_region_at", "region", "at"),
    Index("ix_access_audit_action", "action"),
)


def _split(value: str) -> tuple[str, ...]:
    return tuple(v for v in value.split(",") if v)


@dataclass(frozen=True)
class Page:
    items: list[Any]
    total: int


# ---------------------------------------------------------------- users


def _user(row: Any) -> User:
    return User(row.username, row.display_name, row.region, tuple(Role(r) for r in _split(row.roles)),
                _split(row.groups), bool(row.active))


async def get_user(conn: AsyncConnection, username: str) -> tuple[User, str] | None:
    """The user and their password hash."""
    row = (await conn.execute(select(users).where(users.c.username == username))).first()
    return (_user(row), row.password_hash) if row else None


async def put_user(conn: AsyncConnection, user: User, password_hash: str | None = None) -> None:
    """Insert or update `user` (its password only when `password_hash` is given)."""
    now = naive(utcnow())
    values: dict[str, Any] = {"display_name": user.display_name, "region": user.region,
                              "roles": ",".join(user.roles), "groups": ",".join(user.groups),
                              "active": user.active, "updated_at": now}
    if password_hash is not None:
        values["password_hash"] = password_hash
    found = await conn.execute(update(users).where(users.c.username == user.username).values(**values))
    if found.rowcount == 0:
        if password_hash is None:
            raise ValueError(f"a new user {user.username} needs a password")
        await conn.execute(users.insert().values(username=user.username, created_at=now, **values))


async def list_users(conn: AsyncConnection, region_prefix: str, limit: int, offset: int) -> Page:
    where = users.c.region.startswith(region_prefix, autoescape=True)
    total = (await conn.execute(select(func.count()).select_from(users).where(where))).scalar_one()
    rows = await conn.execute(select(users).where(where).order_by(users.c.username).limit(limit).offset(offset))
    return Page([_user(r) for r in rows], total)


async def any_with_role(conn: AsyncConnection, role: Role) -> bool:
    rows = await conn.execute(select(users.c.roles).where(users.c.active.is_(True)))
    return any(role.value in _split(r.roles) for r in rows)


# ---------------------------------------------------------------- refresh tokens


async def add_refresh(conn: AsyncConnection, *, token_id: str, family_id: str, username: str, token_hash: str,
                      issued_at: dt.datetime, expires_at: dt.datetime) -> None:
    await conn.execute(refresh_tokens.insert().values(
        token_id=token_id, family_id=family_id, username=username, token_hash=token_hash,
        issued_at=naive(issued_at), expires_at=naive(expires_at)))


async def get_refresh(conn: AsyncConnection, token_id: str) -> dict[str, Any] | None:
    row = (await conn.execute(select(refresh_tokens).where(refresh_tokens.c.token_id == token_id))).first()
    if row is None:
        return None
    out = dict(row._mapping)
    for k in ("issued_at", "expires_at", "revoked_at"):
        out[k] = aware(out[k])
    return out


async def retire_refresh(conn: AsyncConnection, token_id: str, at: dt.datetime, replaced_by: str) -> bool:
    """Mark a token used (rotated); False when it was already used or revoked (a race or a replay)."""
    result = await conn.execute(update(refresh_tokens).where(
        refresh_tokens.c.token_id == token_id, refresh_tokens.c.revoked_at.is_(None)).values(
        revoked_at=naive(at), replaced_by=replaced_by))
    return result.rowcount == 1


async def revoke_family(conn: AsyncConnection, family_id: str, at: dt.datetime) -> int:
    result = await conn.execute(update(refresh_tokens).where(
        refresh_tokens.c.family_id == family_id, refresh_tokens.c.revoked_at.is_(None)).values(revoked_at=naive(at)))
    return result.rowcount


async def revoke_sessions(conn: AsyncConnection, username: str, at: dt.datetime) -> int:
    result = await conn.execute(update(refresh_tokens).where(
        refresh_tokens.c.username == username, refresh_tokens.c.revoked_at.is_(None)).values(revoked_at=naive(at)))
    return result.rowcount


# ---------------------------------------------------------------- applications (art. 22)


def _access_json(a: Access | None) -> str | None:
    return None if a is None else json.dumps({"display_name": a.display_name, "region": a.region,
                                              "roles": list(a.roles), "groups": list(a.groups)}, ensure_ascii=False)


def _application(row: Any) -> Application:
    requested = json.loads(row.requested) if row.requested else None
    return Application(
        application_id=row.application_id, kind=Kind(row.kind), username=row.username, unit=row.unit,
        reason=row.reason,
        requested=Access(requested["display_name"], requested["region"], tuple(Role(r) for r in requested["roles"]),
                         tuple(requested["groups"])) if requested else None,
        applied_by=row.applied_by, applied_at=aware(row.applied_at), status=Status(row.status),  # type: ignore[arg-type]
        confirmed_by=row.confirmed_by, confirmed_at=aware(row.confirmed_at), decided_by=row.decided_by,
        decided_at=aware(row.decided_at), note=row.note,
        history=tuple((s, a, aware(dt.datetime.fromisoformat(t))) for s, a, t in json.loads(row.history)),  # type: ignore[misc]
    )


def _application_values(a: Application) -> dict[str, Any]:
    return {"kind": a.kind.value, "username": a.username, "region": a.region, "unit": a.unit, "reason": a.reason,
            "requested": _access_json(a.requested), "status": a.status.value, "applied_by": a.applied_by,
            "applied_at": naive(a.applied_at), "confirmed_by": a.confirmed_by, "confirmed_at": naive(a.confirmed_at),
            "decided_by": a.decided_by, "decided_at": naive(a.decided_at), "note": a.note,
            "history": json.dumps([[s, who, at.isoformat()] for s, who, at in a.history], ensure_ascii=False)}


async def add_application(conn: AsyncConnection, a: Application) -> None:
    await conn.execute(applications.insert().values(application_id=a.application_id, **_application_values(a)))


async def save_application(conn: AsyncConnection, a: Application, expected: Status) -> bool:
    """Store the step; False when another step got there first (the status is no longer `expected`)."""
    result = await conn.execute(update(applications).where(
        applications.c.application_id == a.application_id, applications.c.status == expected.value).values(
        **_application_values(a)))
    return result.rowcount == 1


async def get_application(conn: AsyncConnection, application_id: str) -> Application | None:
    row = (await conn.execute(select(applications).where(applications.c.application_id == application_id))).first()
    return _application(row) if row else None


async def list_applications(conn: AsyncConnection, region_prefix: str, status: str | None, limit: int,
                            offset: int) -> Page:
    conditions = [applications.c.region.startswith(region_prefix, autoescape=True)]
    if status:
        conditions.append(applications.c.status == status)
    total = (await conn.execute(select(func.count()).select_from(applications).where(*conditions))).scalar_one()
    rows = await conn.execute(select(applications).where(*conditions).order_by(applications.c.applied_at.desc(),
                                                                               applications.c.application_id)
                              .limit(limit).offset(offset))
    return Page([_application(r) for r in rows], total)


# ---------------------------------------------------------------- audit log


async def add_audit(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """Append (a redelivered record is ignored by its event id)."""
    if rows:
        await conn.execute(insert_ignore(conn, audit_log, keys=("event_id",)), rows)


@dataclass(frozen=True)
class AuditFilter:
    region_prefix: str
    actor: str | None = None
    action: str | None = None
    outcome: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


async def list_audit(conn: AsyncConnection, f: AuditFilter, limit: int, offset: int) -> Page:
    c = audit_log.c
    conditions = [c.region.startswith(f.region_prefix, autoescape=True)]
    if f.actor:
        conditions.append(c.actor == f.actor)
    if f.action:
        conditions.append(c.action.startswith(f.action, autoescape=True))
    if f.outcome:
        conditions.append(c.outcome == f.outcome)
    if f.since:
        conditions.append(c.at >= naive(f.since))
    if f.until:
        conditions.append(c.at < naive(f.until))
    total = (await conn.execute(select(func.count()).select_from(audit_log).where(*conditions))).scalar_one()
    rows = await conn.execute(select(audit_log).where(*conditions).order_by(c.seq.desc()).limit(limit).offset(offset))
    return Page([{**r._mapping, "at": aware(r.at), "details": json.loads(r.details)} for r in rows], total)


async def counts(conn: AsyncConnection) -> dict[str, Any]:
    n_users = (await conn.execute(select(func.count()).select_from(users))).scalar_one()
    n_audit = (await conn.execute(select(func.count()).select_from(audit_log))).scalar_one()
    by_status: dict[str, int] = dict((await conn.execute(select(applications.c.status, func.count())
                                         .group_by(applications.c.status))).all())
    return {"users": n_users, "audit_records": n_audit, "applications": by_status}


async def add_outgoing(conn: AsyncConnection, *, topic: str, key: bytes, value: bytes) -> None:
    await conn.execute(outbox.insert(), [{"topic": topic, "key": key, "value": value}])
