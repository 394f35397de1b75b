"""The rule catalogue and its configuration per budget year (set by the upper bureau, art. 18)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Request, status
from pydantic import BaseModel

from contracts.control import RuleConfigured
from contracts.envelope import make_event
from contracts.topics import Family
from contracts.types import RegionLevel, region_level
from services.alerts import store
from services.alerts.api.deps import Conn
from services.alerts.catalogue import CATALOGUE, CATEGORIES
from services.runtime.auth import CurrentPrincipal

router = APIRouter(tags=["rules"])


class Rule(BaseModel):
    rule_id: str
    category: str
    category_zh: str
    title_zh: str
    title_en: str
    basis: str
    kind: str
    default_level: str
    escalate_to: str | None
    lead_time_days: int
    params: dict[str, Any]
    checkpoints: list[str]
    needs: str
    configured: list[dict[str, Any]]


@router.get("/v1/rules", response_model=list[Rule], summary="预警规则目录 (rule catalogue)")
async def rules(conn: Conn, principal: CurrentPrincipal) -> list[Rule]:
    configured: dict[str, list[dict]] = {}
    for row in await store.list_configs(conn):
        configured.setdefault(row["rule_id"], []).append(row["payload"])
    return [Rule(rule_id=s.rule_id, category=s.category, category_zh=CATEGORIES[s.category], title_zh=s.title_zh,
                 title_en=s.title_en, basis=s.basis, kind=s.kind, default_level=s.default_level.value,
                 escalate_to=s.escalate_to.value if s.escalate_to else None, lead_time_days=s.lead_time_days,
                 params=dict(s.params), checkpoints=list(s.checkpoints), needs=s.needs,
                 configured=configured.get(s.rule_id, []))
            for s in CATALOGUE.values()]


@router.put("/v1/rules/{rule_id}/config", status_code=status.HTTP_202_ACCEPTED, summary="设置规则（按预算年度）")
async def configure(rule_id: str, body: Annotated[RuleConfigured, Body()], principal: CurrentPrincipal,
                    request: Request) -> dict[str, str]:
    if rule_id not in CATALOGUE or body.rule_id != rule_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no rule {rule_id} (or the body names another rule)")
    if region_level(principal.region) not in (RegionLevel.central, RegionLevel.province):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "rule levels and thresholds are set by the upper bureau "
                                                       "(province or Ministry), seed 000 art. 18")
    configured = body.model_copy(update={"set_by": principal.user[:60]})
    event = make_event("rule.configured", configured, id=f"cfg-{rule_id}-{body.budget_year}-{dt.datetime.now(dt.UTC):%Y%m%d%H%M%S%f}",
                       region=principal.region, time=dt.datetime.now(dt.UTC), source="/fundwatch/alerts-api",
                       subject=f"{rule_id}/{body.budget_year}")
    settings = request.app.state.settings
    async with request.app.state.engine.begin() as tx:
        await store.add_outgoing(tx, topic=settings.topic(Family.rule_config), key=f"{rule_id}/{body.budget_year}".encode(),
                                 value=event.to_json())
    if request.app.state.projection is not None:
        request.app.state.projection.wake_relay()
    return {"status": "published", "rule_id": rule_id, "budget_year": str(body.budget_year)}
