"""The audit log, for auditors: who did what, when, from where — within the auditor's region."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from contracts.types import RegionCode, region_prefix
from services.access import store
from services.runtime.auth import Principal, Role, require_roles
from services.runtime.http import Offset

router = APIRouter(tags=["audit"])
Auditor = Annotated[Principal, Depends(require_roles(Role.auditor))]


class AuditRecord(BaseModel):
    seq: int
    event_id: str
    at: dt.datetime
    region: str
    actor: str
    actor_kind: str
    action: str
    outcome: str
    target: str | None
    reason: str | None
    client_ip: str | None
    service: str
    details: dict[str, str]


class AuditPage(BaseModel):
    items: list[AuditRecord]
    total: int


@router.get("/v1/audit", response_model=AuditPage, summary="审计日志 (newest first)")
async def audit_log(
    principal: Auditor, request: Request,
    region: Annotated[RegionCode | None, Query(description="default: your own (403 outside it)")] = None,
    actor: Annotated[str | None, Query(max_length=100)] = None,
    action: Annotated[str | None, Query(max_length=60, description="e.g. auth.failed, or a prefix: auth.")] = None,
    outcome: Literal["ok", "refused"] | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> AuditPage:
    scope = principal.scope(region)
    async with request.app.state.engine.connect() as conn:
        page = await store.list_audit(conn, store.AuditFilter(region_prefix(scope), actor, action, outcome,
                                                              since, until), limit, offset)
    return AuditPage(items=[AuditRecord(**r) for r in page.items], total=page.total)
