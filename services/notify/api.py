"""notify's HTTP API: the alert inbox of the responsible groups, the delivery log, status.

Routes only parse parameters and call `store`; the engine (and the running projection, for
its counters) are handed to `create_app` by `main`."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from pydantic import BaseModel, Field, field_validator
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.alert import AlertLevel, DeliveryChannel
from contracts.types import RegionCode, region_prefix
from services.notify import store
from services.notify.routing import redact_url
from services.runtime.auth import CurrentPrincipal, OptionalPrincipal, Principal
from services.runtime.http import Health, Offset, limit_bodies
from services.runtime.projection import Projection, lag
from services.runtime.settings import Settings


class _Utc(BaseModel):
    @field_validator("*", mode="after")
    @classmethod
    def _aware(cls, value: Any) -> Any:
        if isinstance(value, dt.datetime) and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)  # stored as naive UTC
        return value


class InboxItem(_Utc):
    id: int
    alert_id: str
    transition_id: str
    group_code: str
    region: str
    rule_id: str
    level: AlertLevel
    transition: str
    title_zh: str
    subject: str
    received_at: dt.datetime
    event: dict[str, Any]


class InboxPage(BaseModel):
    items: list[InboxItem]
    total: int


class DeliveryItem(_Utc):
    id: int
    alert_id: str
    transition_id: str
    channel: DeliveryChannel
    group_code: str
    region: str
    target: str
    status: str
    attempts: int
    next_attempt_at: dt.datetime
    last_error: str | None
    updated_at: dt.datetime


class DeliveryPage(BaseModel):
    items: list[DeliveryItem]
    total: int


class Status(BaseModel):
    status: str = "ok"
    events_applied: int = Field(description="events this process applied since it started")
    dead_lettered: int = Field(description="events this process sent to the dead-letter topic")
    pending_deliveries: int
    deliveries_by_status: dict[str, int]
    inbox_by_level: dict[str, int]
    lag: dict[str, int]


class RouteItem(BaseModel):
    scope: str
    fund_code: str | None
    group_code: str
    group_name: str


def _engine(request: Request) -> AsyncEngine:
    return request.app.state.engine


EngineDep = Annotated[AsyncEngine, Depends(_engine)]
Limit = Annotated[int, Query(ge=1, le=500, description="page size (at most 500)")]


def _groups(principal: Principal, requested: str | None) -> tuple[str, ...] | None:
    """The groups a query may show: every group for the treasury group, rule administrators and
    auditors; a member only its own (403 when it asks for another)."""
    allowed = principal.group_filter
    if requested is not None and allowed is not None and requested not in allowed:
        raise HTTPException(403, f"group {requested} is not yours; you act for {', '.join(allowed) or 'no group'}")
    return allowed


def create_app(engine: AsyncEngine, projection: Projection | None = None, settings: Settings | None = None) -> FastAPI:
    app = FastAPI(
        title="fundwatch notify",
        description="预警信息推送：按“谁主管、谁负责”路由至业务组，收件箱与推送记录。",
        version="0.1.0",
    )
    app.state.engine = engine
    app.state.projection = projection
    if settings is not None:
        app.state.settings = settings
    limit_bodies(app, settings.max_body_bytes if settings else 1 << 20)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/inbox", response_model=InboxPage, summary="预警收件箱 (alert inbox)")
    async def inbox(
        engine: EngineDep,
        principal: CurrentPrincipal,
        group: Annotated[str | None, Query(description="业务组代码 group code")] = None,
        region: Annotated[RegionCode | None, Query(description="行政区划范围：该区划及其下级")] = None,
        level: AlertLevel | None = None,
        rule_id: str | None = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> InboxPage:
        page = await store.list_inbox(
            engine, group=group, region_prefix=region_prefix(principal.scope(region)),
            level=level.value if level else None, rule_id=rule_id, limit=limit, offset=offset,
            groups=_groups(principal, group),
        )
        return InboxPage(items=[InboxItem(**r, event=json.loads(r["payload"])) for r in page.items], total=page.total)

    @app.get("/v1/deliveries", response_model=DeliveryPage, summary="推送记录 (delivery log)")
    async def deliveries(
        engine: EngineDep,
        principal: CurrentPrincipal,
        region: Annotated[RegionCode | None, Query(description="行政区划范围：该区划及其下级")] = None,
        group: Annotated[str | None, Query(description="业务组代码 group code")] = None,
        status: Annotated[str | None, Query(pattern="^(pending|delivered|failed)$")] = None,
        channel: DeliveryChannel | None = None,
        alert_id: str | None = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> DeliveryPage:
        allowed = _groups(principal, group)
        page = await store.list_deliveries(
            engine, status=status, channel=channel.value if channel else None, alert_id=alert_id,
            limit=limit, offset=offset, region_prefix=region_prefix(principal.scope(region)),
            groups=(group,) if group else allowed,
        )
        items = [DeliveryItem(**{**r, "target": redact_url(r["target"])}) for r in page.items]
        return DeliveryPage(items=items, total=page.total)

    @app.get("/v1/routes", response_model=list[RouteItem], summary="业务组分工 (group routes)")
    async def routes(engine: EngineDep, principal: CurrentPrincipal) -> list[RouteItem]:
        return [RouteItem(**r) for r in await store.list_routes(engine, region_prefix=principal.prefix,
                                                                  groups=principal.group_filter)]

    @app.get("/v1/status", response_model=Status | Health, summary="health for anyone; counters for a signed-in user")
    async def status(engine: EngineDep, request: Request, principal: OptionalPrincipal) -> Status | Health:
        if principal is None:
            return Health()
        running: Projection | None = request.app.state.projection
        counts = await store.counts(engine)
        return Status(
            events_applied=running.applied if running else 0,
            dead_lettered=running.dead_lettered if running else 0,
            pending_deliveries=counts["deliveries"].get(store.PENDING, 0),
            deliveries_by_status=counts["deliveries"],
            inbox_by_level=counts["by_level"],
            lag=await lag(running) if running else {},
        )

    return app
