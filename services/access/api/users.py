"""The users of a region (system administrators and auditors read them); ending a user's sessions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel

from services.access import service, store
from services.access.api.deps import actor_of, in_transaction
from services.access.api.sessions import UserOut
from services.runtime.audit import client_ip
from services.runtime.auth import Principal, Role, require_roles
from services.runtime.http import Offset

router = APIRouter(prefix="/v1/users", tags=["users"])
Reader = Annotated[Principal, Depends(require_roles(Role.sysadmin, Role.auditor))]
Admin = Annotated[Principal, Depends(require_roles(Role.sysadmin))]


class UserPage(BaseModel):
    items: list[UserOut]
    total: int


class Revoked(BaseModel):
    username: str
    sessions_revoked: int


@router.get("", response_model=UserPage, summary="users of your region and below")
async def list_users(principal: Reader, request: Request, limit: Annotated[int, Query(ge=1, le=500)] = 100,
                     offset: Offset = 0) -> UserPage:
    async with request.app.state.engine.connect() as conn:
        page = await store.list_users(conn, principal.prefix, limit, offset)
    return UserPage(items=[UserOut.of(u) for u in page.items], total=page.total)


@router.get("/{username}", response_model=UserOut, summary="one user")
async def get_user(username: str, principal: Reader, request: Request) -> UserOut:
    async with request.app.state.engine.connect() as conn:
        found = await store.get_user(conn, username)
    if found is None or not principal.can_see(found[0].region):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"user {username} not found")
    return UserOut.of(found[0])


@router.post("/{username}/revoke-sessions", response_model=Revoked,
             summary="end every login of a user (their access tokens run out within their lifetime)")
async def revoke_sessions(username: str, admin: Admin, request: Request) -> Revoked:
    settings = request.app.state.settings
    n = await in_transaction(request, lambda tx: service.revoke_sessions(tx, settings, actor_of(admin), username,
                                                                         client_ip(request)))
    return Revoked(username=username, sessions_revoked=n)
