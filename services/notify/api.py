"""notify's HTTP API: the alert inbox of the responsible groups, the delivery log, status.

Routes only parse parameters and call `store`; the engine (and the running projection, for
its counters) are handed to `create_app` by `main`."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import httpx
from fastapi import Depends, FastAPI, Header, HTTPException, Path, Query, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field, HttpUrl, field_validator, model_validator
from sqlalchemy.ext.asyncio import AsyncEngine
from sse_starlette.sse import EventSourceResponse

from contracts.alert import AlertLevel, DeliveryChannel
from contracts.types import RegionCode, region_prefix
from services.notify import report, store
from services.notify.reminders import DEFAULTS
from services.notify.report_pdf import to_pdf as report_pdf_of
from services.notify.routing import EVERY_GROUP, redact_url
from services.runtime.auth import CurrentPrincipal, OptionalPrincipal, Principal, Role, require_roles
from services.runtime.http import Health, Offset, limit_bodies
from services.runtime.openapi import VERSION, documented
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
    read_at: dt.datetime | None = None
    read_by: str | None = None
    acked_at: dt.datetime | None = None
    acked_by: str | None = None
    event: dict[str, Any]


class InboxPage(BaseModel):
    items: list[InboxItem]
    total: int


class DeliveryItem(_Utc):
    id: int
    alert_id: str
    transition_id: str
    channel: DeliveryChannel
    target_key: str
    group_code: str
    region: str
    target: str
    alerts: int = Field(description="alerts this message lists (grouped channels)")
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
    channels: dict[str, dict[str, int]] = Field(description="per channel: messages and alerts listed, by status")
    waiting_items: int = Field(description="alert transitions waiting for their group's message")
    inbox_by_level: dict[str, int]
    lag: dict[str, int]


class RouteItem(BaseModel):
    scope: str
    fund_code: str | None
    group_code: str
    group_name: str


_EMAIL = r"^[^@\s,]+@[^@\s,]+$"


class TargetIn(BaseModel):
    """Where a group's alerts go on one channel (group '*' = every group: the default)."""

    group_code: str = Field(min_length=1, max_length=40, pattern=r"^(\*|[A-Za-z0-9_.-]+)$")
    channel: Literal["webhook", "email", "wecom", "dingtalk", "alertmanager"]
    target: str = Field(min_length=3, max_length=2000, description="URL, or e-mail addresses separated by commas")
    secret: str | None = Field(None, max_length=200, description="钉钉 加签 secret, or the webhook's whsec_…")
    levels: list[AlertLevel] = Field(default_factory=list, max_length=4)
    categories: list[str] = Field(default_factory=list, max_length=20)
    rule_ids: list[Annotated[str, Field(pattern=r"^[A-Z]+-[0-9]{2}$")]] = Field(default_factory=list, max_length=60)
    recipients: list[Annotated[str, Field(pattern=r"^\+?[0-9]{5,15}$")]] = Field(
        default_factory=list, max_length=20, description="mobiles to @ (robots)")
    enabled: bool = True

    @model_validator(mode="after")
    def _target_fits_channel(self) -> TargetIn:
        if self.channel == "email":
            bad = [a for a in self.target.split(",") if not re.match(_EMAIL, a.strip())]
            if bad:
                raise ValueError(f"target: not an e-mail address: {bad[0].strip()!r}")
        else:
            HttpUrl(self.target)  # raises naming the URL's problem
        if self.channel == "webhook" and self.secret and not self.secret.startswith("whsec_"):
            raise ValueError("secret: a Standard Webhooks secret starts with whsec_")
        return self


class TargetOut(_Utc):
    id: int
    group_code: str
    channel: str
    target: str
    has_secret: bool
    levels: list[str]
    categories: list[str]
    rule_ids: list[str]
    recipients: list[str]
    enabled: bool
    updated_by: str
    updated_at: dt.datetime


class PolicyIn(BaseModel):
    """Working days at a level before the first reminder, between reminders, before escalation."""

    remind_after: int = Field(ge=1, le=60)
    repeat_every: int = Field(ge=1, le=60)
    escalate_after: int | None = Field(None, ge=1, le=120, description="yellow only; null = never")

    @model_validator(mode="after")
    def _order(self) -> PolicyIn:
        if self.escalate_after is not None and self.escalate_after <= self.remind_after:
            raise ValueError("escalate_after: must be later than remind_after")
        return self


class PolicyOut(_Utc):
    rule_id: str
    level: str
    remind_after: int
    repeat_every: int
    escalate_after: int | None
    updated_by: str | None = None
    updated_at: dt.datetime | None = None


def _engine(request: Request) -> AsyncEngine:
    return request.app.state.engine


EngineDep = Annotated[AsyncEngine, Depends(_engine)]
Treasury = Annotated[Principal, Depends(require_roles(Role.treasury))]
Operator = Annotated[Principal, Depends(require_roles(Role.treasury, Role.member))]


def _may_act_for(principal: Principal, group_code: str) -> None:
    """The treasury group acts for every group; a member for its own groups only."""
    if principal.has_role(Role.treasury):
        return
    if group_code == EVERY_GROUP or group_code not in principal.groups:
        mine = ", ".join(principal.groups) or "no group"
        raise HTTPException(403, f"group {group_code} is not yours; you act for {mine}")


def _target_out(row: dict[str, Any]) -> TargetOut:
    return TargetOut(**{**row, "target": redact_url(row["target"]) if row["channel"] != "email" else row["target"]})
Limit = Annotated[int, Query(ge=1, le=500, description="page size (at most 500)")]
RowId = Annotated[int, Path(ge=1, le=2_147_483_647, description="row id")]  # the columns are 32-bit
ReportId = Annotated[str, Path(pattern=r"^20[0-9]{2}-[0-9]{2}\.[0-9]{2,12}\.[A-Za-z0-9_.*-]{1,40}$")]


def _groups(principal: Principal, requested: str | None) -> tuple[str, ...] | None:
    """The groups a query may show: every group for the treasury group, rule administrators and
    auditors; a member only its own (403 when it asks for another)."""
    allowed = principal.group_filter
    if requested is not None and allowed is not None and requested not in allowed:
        raise HTTPException(403, f"group {requested} is not yours; you act for {', '.join(allowed) or 'no group'}")
    return allowed


class ReportIn(BaseModel):
    month: str = Field(pattern=r"^20[0-9]{2}-(0[1-9]|1[0-2])$", description="YYYY-MM")
    region: RegionCode
    group_code: str | None = Field(None, max_length=40, description="业务组; omitted = the treasury group's overall")


class ReportRef(_Utc):
    report_id: str
    month: dt.date
    region: str
    group_code: str
    generated_at: dt.datetime
    generated_by: str


def create_app(engine: AsyncEngine, projection: Projection | None = None, settings: Settings | None = None,
               ledger: httpx.AsyncClient | None = None, alerts: httpx.AsyncClient | None = None) -> FastAPI:
    app = FastAPI(
        title="fundwatch notify",
        description="预警信息推送：按“谁主管、谁负责”路由至业务组，收件箱与推送记录。",
        version=VERSION,
    )
    app.state.engine = engine
    app.state.projection = projection
    app.state.ledger = ledger  # the ledger API, for the monthly report's spending figures
    app.state.alerts = alerts  # the alerts API, for the report's alert counts and amounts
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
            deliveries_by_status=counts["deliveries"], channels=counts["channels"],
            waiting_items=counts["waiting_items"],
            inbox_by_level=counts["by_level"],
            lag=await lag(running) if running else {},
        )

    @app.post("/v1/inbox/{item_id}/read", response_model=InboxItem, summary="标记已读 (mark read)")
    async def read(engine: EngineDep, principal: Operator, item_id: RowId) -> InboxItem:
        return await _mark(engine, principal, item_id, "read")

    @app.post("/v1/inbox/{item_id}/ack", response_model=InboxItem, summary="确认收到 (acknowledge)")
    async def ack(engine: EngineDep, principal: Operator, item_id: RowId) -> InboxItem:
        return await _mark(engine, principal, item_id, "acked")

    async def _mark(engine: AsyncEngine, principal: Principal, item_id: int, what: str) -> InboxItem:
        row = await store.get_inbox(engine, item_id)
        allowed = principal.group_filter
        if row is None or not principal.can_see(row["region"]) or (allowed is not None
                                                                  and row["group_code"] not in allowed):
            raise HTTPException(404, f"inbox item {item_id} not found in your scope")
        await store.mark_inbox(engine, item_id, what, principal.user)
        row = await store.get_inbox(engine, item_id)
        assert row is not None
        return InboxItem(**row, event=json.loads(row["payload"]))

    @app.get("/v1/stream", summary="预警实时推送 (server-sent events: alert transitions in your scope)",
             response_class=EventSourceResponse)
    async def stream(
        engine: EngineDep, principal: CurrentPrincipal, request: Request,
        last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", pattern=r"^[0-9]{1,9}$")] = None,
        after: Annotated[int | None, Query(ge=0, le=2_147_483_647,
                                           description="resume after this event id (as Last-Event-ID)")] = None,
    ) -> EventSourceResponse:
        """One event per inbox row the caller may see (`id` = its inbox id, `event` = the
        transition, `data` = the inbox item); a reconnecting client sends `Last-Event-ID` and gets
        exactly what it missed. A connection ends after `notify_stream_max_s`; clients reconnect."""
        start = int(last_event_id) if last_event_id is not None else after
        prefix, groups = principal.prefix, principal.group_filter
        settings = getattr(request.app.state, "settings", None)
        max_s = settings.notify_stream_max_s if settings else 300.0

        async def events() -> AsyncIterator[dict[str, Any]]:
            cursor = start if start is not None else await _newest(engine, prefix, groups)
            ends = time.monotonic() + max_s
            while time.monotonic() < ends:
                rows = await store.inbox_after(engine, cursor, region_prefix=prefix, groups=groups)
                for row in rows:
                    item = InboxItem(**row, event=json.loads(row["payload"]))
                    cursor = row["id"]
                    yield {"id": str(row["id"]), "event": row["transition"],
                           "data": item.model_dump_json(exclude={"event"})}
                if not rows:
                    await asyncio.sleep(min(0.25, max(0.0, ends - time.monotonic())))

        return EventSourceResponse(events(), ping=15, send_timeout=30)

    async def _newest(engine: AsyncEngine, prefix: str, groups: tuple[str, ...] | None) -> int:
        page = await store.list_inbox(engine, region_prefix=prefix, groups=groups, limit=1)
        return page.items[0]["id"] if page.items else 0

    @app.post("/v1/deliveries/{delivery_id}/resend", response_model=DeliveryItem, status_code=202,
              summary="重新推送 (send a message again)")
    async def resend(engine: EngineDep, principal: Operator,
                     delivery_id: RowId) -> DeliveryItem:
        row = await store.get_delivery(engine, delivery_id)
        allowed = principal.group_filter
        if row is None or not principal.can_see(row["region"]) or (allowed is not None
                                                                  and row["group_code"] not in allowed):
            raise HTTPException(404, f"delivery {delivery_id} not found in your scope")
        await store.resend(engine, delivery_id)
        row = await store.get_delivery(engine, delivery_id)
        assert row is not None
        return DeliveryItem(**{**row, "target": redact_url(row["target"])})

    @app.get("/v1/targets", response_model=list[TargetOut], summary="推送渠道配置 (channels per group)")
    async def list_targets(engine: EngineDep, principal: CurrentPrincipal) -> list[TargetOut]:
        groups = principal.group_filter
        rows = await store.list_targets(engine, None if groups is None else (*groups, EVERY_GROUP))
        return [_target_out(r) for r in rows]

    @app.post("/v1/targets", response_model=TargetOut, status_code=201, summary="新增推送渠道 (add a channel)")
    async def create_target(engine: EngineDep, principal: Operator, body: TargetIn) -> TargetOut:
        _may_act_for(principal, body.group_code)
        target_id = await store.create_target(engine, _values(body), principal.user)
        row = await store.get_target(engine, target_id)
        assert row is not None
        return _target_out(row)

    @app.put("/v1/targets/{target_id}", response_model=TargetOut, summary="修改推送渠道 (change a channel)")
    async def update_target(engine: EngineDep, principal: Operator, body: TargetIn,
                            target_id: RowId) -> TargetOut:
        await _own_target(engine, principal, target_id)
        _may_act_for(principal, body.group_code)
        await store.update_target(engine, target_id, _values(body), principal.user)
        row = await store.get_target(engine, target_id)
        assert row is not None
        return _target_out(row)

    @app.delete("/v1/targets/{target_id}", status_code=204, summary="删除推送渠道 (remove a channel)")
    async def delete_target(engine: EngineDep, principal: Operator, target_id: RowId) -> None:
        await _own_target(engine, principal, target_id)
        await store.delete_target(engine, target_id)

    async def _own_target(engine: AsyncEngine, principal: Principal, target_id: int) -> None:
        row = await store.get_target(engine, target_id)
        groups = principal.group_filter
        if row is None or (groups is not None and row["group_code"] not in (*groups, EVERY_GROUP)):
            raise HTTPException(404, f"target {target_id} not found")
        _may_act_for(principal, row["group_code"])

    @app.get("/v1/reminder-policies", response_model=list[PolicyOut], summary="催办与督办规则 (reminder policies)")
    async def policies(engine: EngineDep, principal: CurrentPrincipal) -> list[PolicyOut]:
        async with engine.connect() as conn:
            stored = await store.load_policies(conn)
        defaults = [PolicyOut(rule_id="*", level=level, remind_after=p.remind_after, repeat_every=p.repeat_every,
                              escalate_after=p.escalate_after) for level, p in DEFAULTS.items()
                    if not any(s["rule_id"] == "*" and s["level"] == level for s in stored)]
        return defaults + [PolicyOut(**s) for s in stored]

    @app.put("/v1/reminder-policies/{rule_id}/{level}", response_model=PolicyOut,
             summary="设置催办与督办规则 (per rule and level; rule '*' = every rule)")
    async def set_policy(
        engine: EngineDep, principal: Treasury, body: PolicyIn,
        rule_id: Annotated[str, Path(pattern=r"^(\*|[A-Z]+-[0-9]{2})$")],
        level: Literal["yellow", "red"],
    ) -> PolicyOut:
        if level == "red" and body.escalate_after is not None:
            # in the shape of a validation error (the documented 422), naming the field
            raise HTTPException(422, [{"loc": ["body", "escalate_after"], "type": "value_error",
                                       "msg": "a red alert is tracked until rectified, not escalated"}])
        row = {"rule_id": rule_id, "level": level, **body.model_dump(), "updated_by": principal.user}
        await store.set_policy(engine, row)
        return PolicyOut(**row)

    @app.post("/v1/reports", response_model=dict[str, Any], status_code=201,
              summary="生成月度监控情况报告 (generate the monthly monitoring report)")
    async def create_report(engine: EngineDep, principal: Operator, body: ReportIn, request: Request) -> dict:
        region = principal.scope(body.region)
        if body.group_code is None and not principal.has_role(Role.treasury):
            raise HTTPException(403, "group_code: the overall report is the treasury group's; name your group")
        if body.group_code is not None:
            _may_act_for(principal, body.group_code)
        client: httpx.AsyncClient | None = request.app.state.ledger
        alerts: httpx.AsyncClient | None = request.app.state.alerts
        if client is None or alerts is None:
            raise HTTPException(503, "the ledger and alerts APIs are not configured for notify")
        month = dt.date.fromisoformat(f"{body.month}-01")
        try:
            return await report.generate(engine, client, alerts, month, region, body.group_code, principal.user,
                                         headers={"Authorization": request.headers.get("authorization", "")})
        except httpx.HTTPStatusError as exc:  # the API's own refusal (e.g. an unknown region) is the caller's
            code = exc.response.status_code
            api = "alerts" if exc.request.url.path == "/v1/transitions" else "ledger"
            raise HTTPException(code if 400 <= code < 500 else 502,
                                f"the {api} API answered {code}: {exc.response.text[:300]}") from exc
        except httpx.HTTPError as exc:
            raise HTTPException(502, f"the ledger or alerts API did not answer: {exc}") from exc

    @app.get("/v1/reports", response_model=list[ReportRef], summary="月度报告列表 (monthly reports)")
    async def reports(engine: EngineDep, principal: CurrentPrincipal) -> list[ReportRef]:
        groups = principal.group_filter
        return [ReportRef(**r) for r in await store.list_reports(engine, region_prefix=principal.prefix,
                                                                 groups=groups)]

    async def _report(engine: AsyncEngine, principal: Principal, report_id: str) -> dict[str, Any]:
        row = await store.get_report(engine, report_id)
        groups = principal.group_filter
        if row is None or not principal.can_see(row["region"]) or (groups is not None
                                                                  and row["group_code"] not in groups):
            raise HTTPException(404, f"report {report_id} not found in your scope")
        return row

    @app.get("/v1/reports/{report_id}", response_model=dict[str, Any], summary="报告数据 (the report's numbers)")
    async def report_json(engine: EngineDep, principal: CurrentPrincipal, report_id: ReportId) -> dict:
        return {"report_id": report_id, **json.loads((await _report(engine, principal, report_id))["summary"])}

    @app.get("/v1/reports/{report_id}/xlsx", summary="报告 Excel", response_class=Response,
             responses={200: {"content": {XLSX: {}}}})
    async def report_xlsx(engine: EngineDep, principal: CurrentPrincipal, report_id: ReportId) -> Response:
        row = await _report(engine, principal, report_id)
        return Response(row["xlsx"], media_type=XLSX,
                        headers={"content-disposition": f'attachment; filename="report-{report_id}.xlsx"'})

    @app.get("/v1/reports/{report_id}/html", summary="报告（可打印网页）", response_class=HTMLResponse)
    async def report_html(engine: EngineDep, principal: CurrentPrincipal, report_id: ReportId) -> HTMLResponse:
        return HTMLResponse((await _report(engine, principal, report_id))["html"])

    @app.get("/v1/reports/{report_id}/pdf", summary="报告 PDF（A4，含图表）", response_class=Response,
             responses={200: {"content": {"application/pdf": {}}}})
    async def report_pdf(engine: EngineDep, principal: CurrentPrincipal, report_id: ReportId) -> Response:
        summary = json.loads((await _report(engine, principal, report_id))["summary"])
        pdf = await asyncio.to_thread(report_pdf_of, summary)  # a few hundred ms of layout off the loop
        return Response(pdf, media_type="application/pdf",
                        headers={"content-disposition": f'attachment; filename="report-{report_id}.pdf"'})

    return documented(app, {
        "POST /v1/reports": {"502": "the ledger or alerts API did not answer",
                             "503": "the ledger and alerts APIs are not configured"},
    })


XLSX = report.XLSX


def _values(body: TargetIn) -> dict[str, Any]:
    values = body.model_dump()
    values["levels"] = [level.value for level in body.levels]
    return values
