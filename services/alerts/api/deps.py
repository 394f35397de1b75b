"""Dependencies shared by the alerts routers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from sqlalchemy.ext.asyncio import AsyncConnection

from services.alerts import store
from services.runtime.auth import Principal


async def connection(request: Request) -> AsyncIterator[AsyncConnection]:
    async with request.app.state.engine.connect() as conn:
        yield conn


Conn = Annotated[AsyncConnection, Depends(connection)]


async def visible_alert(conn: AsyncConnection, principal: Principal, alert_id: str) -> dict:
    """The alert, or 404 — also when it lies outside the principal's region (its existence is not
    disclosed)."""
    alert = await store.get_alert(conn, alert_id)
    if alert is None or not principal.can_see(alert["region"]):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"alert {alert_id} not found")
    return alert
