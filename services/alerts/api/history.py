"""Transitions across alerts, for reports: what happened to every alert of a region (and group)
before a moment, with the amounts its dispositions recovered or suspended. notify's monthly
report counts from this (the alerts service is the authority on alert state), not from what
notify happened to receive."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from contracts.alert import AlertLevel, AlertTransitionKind
from contracts.types import RegionCode, region_prefix
from services.alerts import store
from services.alerts.api.alerts import Evidence, _utc, amounts_of
from services.alerts.api.deps import Conn
from services.runtime.auth import CurrentPrincipal
from services.runtime.http import Offset

router = APIRouter(tags=["alerts"])

# reminder rows share the history table; they change no state and are not transitions
KINDS = tuple(k.value for k in AlertTransitionKind)


class TransitionRow(BaseModel):
    alert_id: str
    transition_id: str
    seq: int
    transition: AlertTransitionKind
    from_level: AlertLevel | None
    level: AlertLevel
    open: bool
    at: dt.datetime
    rule_id: str
    category: str
    title_zh: str
    subject: str
    region: str
    group_code: str | None
    due: dt.date | None
    evidence: list[Evidence]
    corrective_actions: list[str]
    disposition_id: str | None
    amount_recovered: str | None = Field(None, description="追回资金（元）, from the disposition that caused it")
    amount_suspended: str | None = Field(None, description="暂停拨付（元）, from the disposition that caused it")


class TransitionPage(BaseModel):
    items: list[TransitionRow]
    total: int


@router.get("/v1/transitions", response_model=TransitionPage,
            summary="预警状态变化（按时间，月报用）: every transition of the region's alerts before `until`")
async def list_transitions(
    conn: Conn,
    principal: CurrentPrincipal,
    region: Annotated[RegionCode | None, Query(description="行政区划：该区划及其下级 (default: your own)")] = None,
    group: Annotated[str | None, Query(description="responsible group code")] = None,
    until: Annotated[dt.datetime | None, Query(description="transitions before this moment")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
    offset: Offset = 0,
) -> TransitionPage:
    a, t, d = store.alerts.c, store.transitions.c, store.dispositions.c
    where = [a.region.startswith(region_prefix(principal.scope(region)), autoescape=True), a.shadow.is_(False),
             t.kind.in_(KINDS)]
    if group:
        where.append(a.group_code == group)
    if until:
        where.append(t.at < store.naive(until))
    joined = store.transitions.join(store.alerts, t.alert_id == a.alert_id).outerjoin(
        store.dispositions, t.disposition_id == d.disposition_id)
    total = (await conn.execute(select(func.count()).select_from(joined).where(*where))).scalar_one()
    rows = await conn.execute(
        select(t.alert_id, t.transition_id, t.seq, t.kind, t.from_level, t.level, t.open, t.at, t.evidence,
               t.corrective_actions, t.disposition_id, a.rule_id, a.category, a.title_zh, a.subject, a.region,
               a.group_code, a.due, d.body)
        .select_from(joined).where(*where).order_by(t.at, t.transition_id).limit(limit).offset(offset))
    items = []
    for r in rows:
        row = dict(r._mapping)
        body = row.pop("body")
        items.append(TransitionRow(**{**row, "transition": row.pop("kind"), "at": _utc(row["at"]),
                                      "evidence": json.loads(row["evidence"] or "[]"),
                                      "corrective_actions": json.loads(row["corrective_actions"] or "[]"),
                                      **amounts_of(body)}))
    return TransitionPage(items=items, total=int(total))
