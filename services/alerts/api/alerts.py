"""Alert inbox and alert detail."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field, model_validator

from contracts.alert import AlertLevel
from contracts.types import RegionCode, region_prefix
from services.alerts import store
from services.alerts.api.attachments import AttachmentOut
from services.alerts.api.deps import Conn, visible_alert
from services.alerts.catalogue import CATALOGUE, CATEGORIES
from services.runtime.auth import CurrentPrincipal, OptionalPrincipal
from services.runtime.http import Health, Offset
from services.runtime.projection import lag

router = APIRouter(tags=["alerts"])


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    return value.replace(tzinfo=dt.UTC) if value is not None and value.tzinfo is None else value


class Alert(BaseModel):
    alert_id: str
    rule_id: str
    category: str
    category_zh: str
    title_zh: str
    title_en: str
    subject: str
    region: str
    fund_code: str | None
    group_code: str | None
    level: AlertLevel
    open: bool
    status: str = Field(description="open | closed")
    shadow: bool
    budget_year: int | None
    due: dt.date | None
    findings: str
    findings_zh: str = Field("", description="the finding in Chinese (empty for alerts raised before it existed)")
    raised_at: dt.datetime
    updated_at: dt.datetime
    transitions: int
    last_transition: str

    @classmethod
    def of(cls, row: dict[str, Any]) -> Alert:
        return cls(**{**row, "category_zh": CATEGORIES.get(row["category"], row["category"]),
                      "status": "open" if row["open"] else "closed", "raised_at": _utc(row["raised_at"]),
                      "updated_at": _utc(row["updated_at"])})


class AlertPage(BaseModel):
    items: list[Alert]
    total: int


class Evidence(BaseModel):
    event_id: str
    type: str
    time: dt.datetime | None = None
    region: str | None = None
    facts: dict[str, str] = {}


class TransitionOut(BaseModel):
    transition_id: str
    seq: int
    kind: str
    from_level: AlertLevel | None
    level: AlertLevel
    open: bool
    actor: str
    at: dt.datetime
    method: str | None
    findings: str
    findings_zh: str = ""
    evidence: list[Evidence]
    disposition_id: str | None
    corrective_actions: list[str]
    attachments: list[str]


class DispositionOut(BaseModel):
    disposition_id: str
    alert_id: str
    action: str
    actor: str
    group_code: str
    status: str = Field(description="filed (sent to the state machine) | applied | refused")
    reason: str | None
    transition_id: str | None
    filed_at: dt.datetime
    decided_at: dt.datetime | None
    amount_recovered: str | None = Field(None, description="追回资金（元）, as filed")
    amount_suspended: str | None = Field(None, description="暂停拨付（元）, as filed")

    @model_validator(mode="before")
    @classmethod
    def _amounts(cls, row: Any) -> Any:
        """The amounts live in the filed command (the row's `body`), not in columns of their own."""
        if isinstance(row, dict) and "body" in row:
            return {**row, **amounts_of(row["body"])}
        return row


def amounts_of(body: str | None) -> dict[str, str | None]:
    filed = json.loads(body or "{}")
    return {k: filed.get(k) for k in ("amount_recovered", "amount_suspended")}


class AlertDetail(BaseModel):
    alert: Alert
    basis: str = Field(description="the seed passage or law the rule rests on")
    history: list[TransitionOut]
    evidence: list[Evidence] = Field(description="the events that triggered the alert (every transition's, once)")
    dispositions: list[DispositionOut]
    attachments: list[AttachmentOut] = Field(default_factory=list,
                                             description="files uploaded for the alert's dispositions (no content)")


class Status(BaseModel):
    status: str = "ok"
    events_applied: int
    dead_lettered: int
    alerts: dict[str, dict[str, int]]
    lag: dict[str, int]


@router.get("/healthz", tags=["status"])
async def healthz(conn: Conn) -> dict[str, str]:
    await store.counts(conn)
    return {"status": "ok"}


@router.get("/v1/alerts", response_model=AlertPage, summary="预警列表 (alerts, newest first)")
async def list_alerts(
    conn: Conn,
    principal: CurrentPrincipal,
    region: Annotated[RegionCode | None, Query(description="行政区划：该区划及其下级 (default: your own)")] = None,
    level: AlertLevel | None = None,
    category: Annotated[str | None, Query(description=", ".join(CATEGORIES))] = None,
    rule_id: Annotated[str | None, Query(pattern=r"^[A-Z]+-\d{2}$")] = None,
    group: Annotated[str | None, Query(description="responsible group code")] = None,
    status: Annotated[str | None, Query(pattern="^(open|closed)$")] = None,
    since: Annotated[dt.datetime | None, Query(description="raised at or after")] = None,
    until: Annotated[dt.datetime | None, Query(description="raised before")] = None,
    shadow: Annotated[bool, Query(description="include alerts of rules on trial (shadow mode)")] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> AlertPage:
    scope = principal.scope(region)
    page = await store.list_alerts(conn, store.AlertFilter(
        region_prefix(scope), level.value if level else None, category, rule_id, group, status, since, until, shadow),
        limit, offset)
    return AlertPage(items=[Alert.of(r) for r in page.items], total=page.total)


class SummaryCell(BaseModel):
    level: AlertLevel
    category: str
    open: int


class RegionCount(BaseModel):
    region: str
    level: AlertLevel
    open: int


class Summary(BaseModel):
    region: str
    cells: list[SummaryCell] = Field(description="open alerts by level and category")
    regions: list[RegionCount] = Field(description="open alerts by level in each region one level below")


@router.get("/v1/alert-summary", response_model=Summary, summary="未处理预警按等级、类别和下级地区计数")
async def alert_summary(conn: Conn, principal: CurrentPrincipal,
                        region: Annotated[RegionCode | None, Query(description="default: your own")] = None) -> Summary:
    scope = principal.scope(region)
    prefix = region_prefix(scope)
    below = min(len(prefix) + 2, 6) if len(prefix) < 6 else len(scope)  # province → cities, city → counties
    found = await store.summary(conn, prefix, below)
    return Summary(region=scope, cells=[SummaryCell(**c) for c in found["cells"]],
                   regions=[RegionCount(**{**r, "region": r["region"].ljust(6, "0")}) for r in found["regions"]])


@router.get("/v1/alerts/{alert_id}", response_model=AlertDetail, summary="预警详情：历史、证据、处理单")
async def alert_detail(alert_id: str, conn: Conn, principal: CurrentPrincipal) -> AlertDetail:
    alert = await visible_alert(conn, principal, alert_id)
    history = await store.history(conn, alert_id)
    seen: set[str] = set()
    evidence = []
    for t in history:
        t["at"] = _utc(t["at"])
        for e in t["evidence"]:
            if e["event_id"] not in seen:
                seen.add(e["event_id"])
                evidence.append(e)
    dispositions = [{**d, "filed_at": _utc(d["filed_at"]), "decided_at": _utc(d["decided_at"])}
                    for d in await store.dispositions_of(conn, alert_id)]
    return AlertDetail(alert=Alert.of(alert), basis=CATALOGUE[alert["rule_id"]].basis,
                       history=[TransitionOut(**t) for t in history], evidence=[Evidence(**e) for e in evidence],
                       dispositions=[DispositionOut(**d) for d in dispositions],
                       attachments=[AttachmentOut.of(a) for a in await store.attachments_of(conn, alert_id)])


@router.get("/v1/status", response_model=Status | Health, tags=["status"],
            summary="health for anyone; counters for a signed-in user")
async def status(conn: Conn, request: Request, principal: OptionalPrincipal) -> Status | Health:
    if principal is None:
        return Health()
    projection = request.app.state.projection
    return Status(events_applied=projection.applied if projection else 0,
                  dead_lettered=projection.dead_lettered if projection else 0,
                  alerts=await store.counts(conn), lag=await lag(projection) if projection else {})


__all__ = ["json", "router"]
