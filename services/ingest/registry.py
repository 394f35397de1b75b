"""Create, rotate and revoke upstream clients: one transaction each, the audit record in it
(through ingest's outbox). Used by the API (`clients_api`), the CLI (`fundwatch client`) and
`make run`'s demo clients."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from contracts.audit import ActorKind
from services.ingest import store
from services.ingest.clients import Client, NewKey, make_client, new_key, rotation
from services.runtime import audit
from services.runtime.db import make_engine, migrate
from services.runtime.settings import Settings

T = TypeVar("T")


class NotFound(LookupError):
    pass


class Conflict(ValueError):
    pass


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def _audit(conn: AsyncConnection, settings: Settings, action: str, client: Client, actor: str,
                 actor_kind: ActorKind, ip: str | None, **details: str) -> None:
    event = audit.audit_event("ingest", action, actor=actor, actor_kind=actor_kind, region=client.scope,
                              target=f"client {client.client_id}", ip=ip, details=details)
    await store.add_outgoing(conn, **audit.outgoing(settings, event))


async def create(conn: AsyncConnection, settings: Settings, *, client_id: str, name: str, scope: str,
                 families: Iterable[str], actor: str, actor_kind: ActorKind = ActorKind.user,
                 ip: str | None = None) -> tuple[Client, NewKey]:
    now = _now()
    client = make_client(client_id, name, scope, families, actor, now)
    if not await store.add_client(conn, client):
        raise Conflict(f"client {client_id} exists")
    made = new_key(client_id, now)
    await store.add_key(conn, made.key)
    await _audit(conn, settings, "client.created", client, actor, actor_kind, ip, key_id=made.key.key_id,
                 families=",".join(client.families))
    return client, made


async def get(conn: AsyncConnection, client_id: str) -> Client:
    client = await store.get_client(conn, client_id)
    if client is None:
        raise NotFound(f"client {client_id} not found")
    return client


async def rotate(conn: AsyncConnection, settings: Settings, client_id: str, *, grace: dt.timedelta, actor: str,
                 actor_kind: ActorKind = ActorKind.user, ip: str | None = None) -> NewKey:
    """A new key; the client's other keys stop working now, or after `grace` (at most 7 days)."""
    client = await get(conn, client_id)
    if not client.active:
        raise Conflict(f"client {client_id} is revoked; register a new one")
    now = _now()
    changed = rotation(await store.keys_of(conn, client_id), now, grace)
    await store.update_keys(conn, changed)
    made = new_key(client_id, now)
    await store.add_key(conn, made.key)
    await _audit(conn, settings, "client.rotated", client, actor, actor_kind, ip, key_id=made.key.key_id,
                 grace_s=str(int(grace.total_seconds())), retired=",".join(k.key_id for k in changed))
    return made


async def revoke(conn: AsyncConnection, settings: Settings, client_id: str, *, actor: str,
                 actor_kind: ActorKind = ActorKind.user, ip: str | None = None) -> Client:
    client = await get(conn, client_id)
    if client.active:
        await store.revoke_client(conn, client_id, _now(), actor)
        await _audit(conn, settings, "client.revoked", client, actor, actor_kind, ip)
    return await get(conn, client_id)


def run(settings: Settings, action: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """Run one registry action in its own transaction on the platform database (the CLI's and
    the supervisor's way in; the schema is migrated first)."""
    migrate(settings.database_url, "ingest")

    async def go() -> T:
        engine = make_engine(settings.database_url)
        try:
            async with engine.begin() as conn:
                return await action(conn)
        finally:
            await engine.dispose()

    return asyncio.run(go())
