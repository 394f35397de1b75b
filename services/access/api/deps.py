"""Dependencies of the access API: a transaction whose refusals are committed with their audit
record before the answer, the principal as the domain's `Actor`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from fastapi import HTTPException, Request
from sqlalchemy.ext.asyncio import AsyncConnection

from services.access.domain import Actor
from services.access.service import Denied
from services.runtime.auth import Principal
from services.runtime.http import unprocessable

T = TypeVar("T")


async def in_transaction(request: Request, action: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """Run `action` in one transaction. A `Denied` commits what was written (its audit record,
    a revoked login) and then becomes the HTTP error; anything else rolls back."""
    denied: Denied | None = None
    async with request.app.state.engine.begin() as tx:
        try:
            result = await action(tx)
        except Denied as exc:
            denied = exc
    projection = request.app.state.projection
    if projection is not None:
        projection.wake_relay()
    if denied is not None:
        if denied.code == 422:
            field = denied.reason.split(":", 1)[0] if ":" in denied.reason else None
            raise unprocessable(denied.reason, *((field,) if field and field.isidentifier() else ()))
        headers = {"WWW-Authenticate": "Bearer"} if denied.code == 401 else None
        raise HTTPException(denied.code, denied.reason, headers=headers)
    return result


def actor_of(principal: Principal) -> Actor:
    return Actor(principal.user, principal.region, principal.roles)
