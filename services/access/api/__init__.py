"""The access HTTP API (OpenAPI at /docs): sessions (login, refresh, logout), users, the art. 22
permission applications, the audit log, status."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from services.access import store
from services.access.api import applications, audit, sessions, users
from services.runtime.auth import OptionalPrincipal
from services.runtime.http import Health, limit_bodies
from services.runtime.openapi import documented
from services.runtime.projection import Projection, lag
from services.runtime.settings import Settings


class Status(Health):
    users: int
    audit_records: int
    applications: dict[str, int]
    events_applied: int
    lag: dict[str, int]


def create_app(engine: AsyncEngine, settings: Settings, projection: Projection | None = None) -> FastAPI:
    app = FastAPI(title="fundwatch access", version="1",
                  description="用户与权限：登录、令牌、用户权限申请（申请→确认→开通，规程第二十二条）、审计日志")
    app.state.engine, app.state.settings, app.state.projection = engine, settings, projection
    app.state.throttle = sessions.Throttle()
    limit_bodies(app, settings.max_body_bytes, settings.max_json_depth)
    for module in (sessions, users, applications, audit):
        app.include_router(module.router)

    @app.get("/healthz", tags=["status"])
    async def healthz() -> Health:
        async with engine.connect() as conn:
            await store.counts(conn)
        return Health()

    @app.get("/v1/status", response_model=Status | Health, tags=["status"],
             summary="health for anyone; counters for a signed-in user")
    async def status(principal: OptionalPrincipal) -> Status | Health:
        if principal is None:
            return Health()
        async with engine.connect() as conn:
            counts = await store.counts(conn)
        return Status(**counts, events_applied=projection.applied if projection else 0,
                      lag=await lag(projection) if projection else {})

    step = "the application's state does not allow this step (or it was changed meanwhile)"
    return documented(app, {
        "POST /v1/login": {"401": "unknown user or wrong password", "429": "too many failed logins: wait"},
        "POST /v1/refresh": {"401": "the refresh token is invalid, expired or revoked"},
        "POST /v1/logout": {"401": "the refresh token is invalid"},
        "POST /v1/applications": {"409": "the user exists (apply for a change) or is revoked already"},
        **{f"POST /v1/applications/{{application_id}}/{verb}": {"409": step} for verb in ("confirm", "grant", "reject")},
    })
