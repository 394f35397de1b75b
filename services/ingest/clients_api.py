"""`/v1/clients`: the system administrator (信息中心) registers upstream systems, rotates and
revokes their API keys, within the administrator's own region. A key is in the answer once."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from contracts.types import RegionCode
from services.ingest import registry, store
from services.ingest.clients import FAMILIES, ApiKey, Client
from services.runtime.audit import client_ip
from services.runtime.auth import Principal, Role, require_roles
from services.runtime.http import Offset, unprocessable

router = APIRouter(prefix="/v1/clients", tags=["clients"])
Admin = Annotated[Principal, Depends(require_roles(Role.sysadmin))]
Family = Literal["reference", "indicator", "payment", "performance"]
assert set(FAMILIES) == set(Family.__args__)  # type: ignore[attr-defined]


class KeyOut(BaseModel):
    key_id: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None


class ClientOut(BaseModel):
    client_id: str
    name: str
    scope: str
    families: list[str]
    status: Literal["active", "revoked"]
    created_at: dt.datetime
    created_by: str
    revoked_at: dt.datetime | None
    revoked_by: str | None
    keys: list[KeyOut] = Field(default_factory=list)

    @classmethod
    def of(cls, client: Client, keys: list[ApiKey] | None = None) -> ClientOut:
        return cls(client_id=client.client_id, name=client.name, scope=client.scope, families=list(client.families),
                   status="active" if client.active else "revoked", created_at=client.created_at,
                   created_by=client.created_by, revoked_at=client.revoked_at, revoked_by=client.revoked_by,
                   keys=[KeyOut(key_id=k.key_id, created_at=k.created_at, expires_at=k.expires_at,
                                revoked_at=k.revoked_at) for k in keys or ()])


class ClientPage(BaseModel):
    items: list[ClientOut]
    total: int


class ClientIn(BaseModel):
    client_id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{2,63}$", description="e.g. budget-execution-410324")
    name: str = Field(min_length=1, max_length=120, description="e.g. 栾川县预算执行系统")
    scope: RegionCode = Field(description="the region it sends for, and everything below it")
    families: list[Family] = Field(min_length=1, max_length=4)


class RotateIn(BaseModel):
    grace_s: int = Field(0, ge=0, le=7 * 86400, description="how long the old keys keep working (default: not at all)")


class Issued(BaseModel):
    client: ClientOut
    key_id: str
    api_key: str = Field(description="shown once: only its SHA-256 hash is kept")


async def _conn(request: Request):
    async with request.app.state.engine.begin() as conn:
        yield conn


Tx = Annotated[AsyncConnection, Depends(_conn)]


async def _visible(conn: AsyncConnection, admin: Principal, client_id: str) -> Client:
    client = await store.get_client(conn, client_id)
    if client is None or not admin.can_see(client.scope):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"client {client_id} not found")
    return client


@router.get("", response_model=ClientPage, summary="registered upstream systems in your region")
async def list_clients(conn: Tx, admin: Admin, limit: Annotated[int, Query(ge=1, le=500)] = 100,
                       offset: Offset = 0) -> ClientPage:
    items, total = await store.list_clients(conn, admin.prefix, limit, offset)
    return ClientPage(items=[ClientOut.of(c) for c in items], total=total)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Issued, summary="register an upstream system")
async def create_client(body: Annotated[ClientIn, Body()], conn: Tx, admin: Admin, request: Request) -> Issued:
    if not admin.can_see(body.scope):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"scope {body.scope} is outside your region {admin.region}")
    try:
        client, made = await registry.create(conn, request.app.state.settings, client_id=body.client_id,
                                             name=body.name, scope=body.scope, families=body.families,
                                             actor=admin.user, ip=client_ip(request))
    except registry.Conflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    except ValueError as exc:
        raise unprocessable(str(exc)) from exc
    return Issued(client=ClientOut.of(client, [made.key]), key_id=made.key.key_id, api_key=made.api_key)


@router.get("/{client_id}", response_model=ClientOut, summary="one client and its keys (never the keys themselves)")
async def get_client(client_id: str, conn: Tx, admin: Admin) -> ClientOut:
    client = await _visible(conn, admin, client_id)
    return ClientOut.of(client, await store.keys_of(conn, client_id))


@router.post("/{client_id}/rotate", response_model=Issued, summary="a new key; the old ones stop (after the grace)")
async def rotate_client(client_id: str, conn: Tx, admin: Admin, request: Request,
                        body: Annotated[RotateIn | None, Body()] = None) -> Issued:
    await _visible(conn, admin, client_id)
    try:
        made = await registry.rotate(conn, request.app.state.settings, client_id,
                                     grace=dt.timedelta(seconds=(body or RotateIn()).grace_s), actor=admin.user,
                                     ip=client_ip(request))
    except registry.Conflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    client = await registry.get(conn, client_id)
    return Issued(client=ClientOut.of(client, await store.keys_of(conn, client_id)), key_id=made.key.key_id,
                  api_key=made.api_key)


@router.post("/{client_id}/revoke", response_model=ClientOut, summary="the client and all its keys stop now")
async def revoke_client(client_id: str, conn: Tx, admin: Admin, request: Request) -> ClientOut:
    await _visible(conn, admin, client_id)
    client = await registry.revoke(conn, request.app.state.settings, client_id, actor=admin.user,
                                   ip=client_ip(request))
    return ClientOut.of(client, await store.keys_of(conn, client_id))
