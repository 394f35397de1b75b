"""Ledger query API (FastAPI, OpenAPI at /docs). Every /v1 endpoint but /v1/status needs a bearer
token and answers within the caller's region scope (three-tier scoping, DESIGN §7)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from services.ledger.api import lineage, overview, search
from services.ledger.api.deps import Conn
from services.ledger.api.models import Status
from services.ledger.queries.status import counters
from services.runtime.auth import OptionalPrincipal
from services.runtime.http import Health, limit_bodies
from services.runtime.openapi import documented
from services.runtime.projection import Projection, lag
from services.runtime.settings import Settings


def create_app(engine: AsyncEngine, projection: Projection | None = None, settings: Settings | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield

    app = FastAPI(title="fundwatch ledger", version="1", lifespan=lifespan,
                  description="财政扶贫资金总台账: the double-entry indicator ledger, fund lineage, tracing and search. "
                              "Send `Authorization: Bearer <token>` (`fundwatch token --region CODE`).")
    app.state.engine = engine
    app.state.projection = projection
    if settings is not None:
        app.state.settings = settings
    limit_bodies(app, settings.max_body_bytes if settings else 1 << 20)
    for module in (overview, lineage, search):
        app.include_router(module.router)

    @app.get("/healthz", tags=["status"])
    async def healthz(conn: Conn) -> dict:
        await counters(conn)
        return {"status": "ok"}

    @app.get("/v1/status", response_model=Status | Health, tags=["status"],
             summary="health for anyone; counters for a signed-in user")
    async def status(conn: Conn, principal: OptionalPrincipal) -> Status | Health:
        if principal is None:
            return Health()
        c = await counters(conn)
        p = app.state.projection
        return Status(events_applied=c.get("events_applied", 0), reference_applied=c.get("reference_applied", 0),
                      applied_this_process=p.applied if p else 0, dead_lettered=p.dead_lettered if p else 0,
                      journal_rows=c["journal_rows"], parked=c["parked"], lag=await lag(p) if p else {})

    return documented(app)


__all__ = ["create_app"]
