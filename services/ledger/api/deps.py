"""Request dependencies of the ledger API: a read connection, pagination, region scoping."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request, status
from sqlalchemy.ext.asyncio import AsyncConnection

from contracts.types import RegionCode
from services.runtime.auth import CurrentPrincipal, Principal
from services.runtime.http import Offset

__all__ = ["Conn", "CurrentPrincipal", "Limit", "Offset", "RegionQ", "YearQ", "visible_or_404"]


async def connection(request: Request) -> AsyncIterator[AsyncConnection]:
    async with request.app.state.engine.connect() as conn:
        yield conn


Conn = Annotated[AsyncConnection, Depends(connection)]
RegionQ = Annotated[RegionCode | None, Query(description="region code; default the caller's own (403 outside it)")]
YearQ = Annotated[int | None, Query(ge=2000, le=2100, description="budget year")]
Limit = Annotated[int, Query(ge=1, le=500)]


def visible_or_404(principal: Principal, *regions: str | None, what: str = "not found") -> None:
    """Objects of another region answer 404, as if they did not exist (no existence leak)."""
    if not any(r is not None and principal.can_see(r) for r in regions):
        raise HTTPException(status.HTTP_404_NOT_FOUND, what)
