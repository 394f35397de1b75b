"""The rule catalogue and its configuration per budget year and region scope (set by the upper
bureau, seed 000 art. 18): the Ministry sets the defaults; a province or city overrides them for
its own region and below; the most specific scope containing a region applies (config.py)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel

from contracts.control import RuleConfigured
from contracts.envelope import make_event
from contracts.topics import Family
from contracts.types import RegionCode, RegionLevel, region_level, region_within
from services.alerts import store
from services.alerts.api.deps import Conn
from services.alerts.catalogue import CATALOGUE, CATEGORIES
from services.alerts.config import RuleConfigs, param_kind, param_problems
from services.runtime import audit
from services.runtime.auth import CurrentPrincipal, Principal, Role, require_roles

router = APIRouter(tags=["rules"])


class Parameter(BaseModel):
    name: str
    kind: str  # int | decimal | words | regex | mmdd | period | bool
    default: Any


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
    parameters: list[Parameter]
    checkpoints: list[str]
    needs: str
    configured: list[dict[str, Any]]


class Effective(BaseModel):
    rule_id: str
    budget_year: int
    region: str
    scope: str  # the configuration that applies came from this scope ("000000" also for the catalogue defaults)
    source: str  # "catalogue" or "configured"
    enabled: bool
    shadow: bool
    level: str
    escalate_to: str | None
    lead_time_days: int
    params: dict[str, Any]
    checkpoints: list[str]


def _visible(configured: dict[str, Any], region: str) -> bool:
    """A configuration is shown to a principal whose region it applies to, or who set it for regions below."""
    scope = configured.get("scope") or "000000"
    return region_within(region, scope) or region_within(scope, region)


@router.get("/v1/rules", response_model=list[Rule], summary="预警规则目录 (rule catalogue)")
async def rules(conn: Conn, principal: CurrentPrincipal) -> list[Rule]:
    configured: dict[str, list[dict]] = {}
    for row in await store.list_configs(conn):
        if _visible(row["payload"], principal.region):
            configured.setdefault(row["rule_id"], []).append(row["payload"])
    return [Rule(rule_id=s.rule_id, category=s.category, category_zh=CATEGORIES[s.category], title_zh=s.title_zh,
                 title_en=s.title_en, basis=s.basis, kind=s.kind, default_level=s.default_level.value,
                 escalate_to=s.escalate_to.value if s.escalate_to else None, lead_time_days=s.lead_time_days,
                 params=dict(s.params),
                 parameters=[Parameter(name=n, kind=param_kind(s.rule_id, n, v), default=v) for n, v in s.params.items()],
                 checkpoints=list(s.checkpoints), needs=s.needs, configured=configured.get(s.rule_id, []))
            for s in CATALOGUE.values()]


@router.get("/v1/rules/{rule_id}/effective", response_model=Effective, summary="某地区某年度生效的规则配置")
async def effective(rule_id: str, conn: Conn, principal: CurrentPrincipal,
                    budget_year: Annotated[int, Query(ge=2000, le=2100)],
                    region: Annotated[RegionCode | None, Query()] = None) -> Effective:
    """The configuration that applies to `region` (default: the caller's) for the budget year, after every
    override of the Ministry, the province and the city."""
    if rule_id not in CATALOGUE:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no rule {rule_id}")
    where = principal.scope(region)
    configs = RuleConfigs()
    for row in await store.list_configs(conn):
        if row["rule_id"] == rule_id:
            configs.apply(RuleConfigured.model_validate(row["payload"]))
    winner = configs.winner(rule_id, budget_year, where)
    c = configs.get(rule_id, budget_year, where)
    return Effective(rule_id=rule_id, budget_year=budget_year, region=where, scope=c.scope,
                     source="configured" if winner else "catalogue", enabled=c.enabled, shadow=c.shadow,
                     level=c.level.value, escalate_to=c.escalate_to.value if c.escalate_to else None,
                     lead_time_days=c.lead_time_days, params=dict(c.params), checkpoints=list(c.checkpoints))


@router.put("/v1/rules/{rule_id}/config", status_code=status.HTTP_202_ACCEPTED, summary="设置规则（按预算年度和地区）")
async def configure(rule_id: str, body: Annotated[RuleConfigured, Body()],
                    principal: Annotated[Principal, Depends(require_roles(Role.rule_admin))],
                    request: Request) -> dict[str, str]:
    if rule_id not in CATALOGUE or body.rule_id != rule_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no rule {rule_id} (or the body names another rule)")
    if region_level(principal.region) not in (RegionLevel.central, RegionLevel.province, RegionLevel.city):
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            "rule levels and thresholds are set by the upper bureau (the Ministry, a province or a "
                            "city): 《沣西新城财政扶贫资金动态监控工作规程》第十八条：每项预警规则的具体预警级别由财政局统一进行确定")
    if not region_within(body.scope, principal.region):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"scope {body.scope} is outside your region {principal.region}: "
                                                       f"an upper bureau configures its own region and those below it")
    problems = param_problems(CATALOGUE[rule_id], body.params, body.checkpoints)
    if problems:
        raise HTTPException(422, [
            {"loc": ["body", "params" if not name.startswith("checkpoints") else "checkpoints", name],
             "msg": why, "type": "value_error"} for name, why in problems])
    configured = body.model_copy(update={"set_by": principal.user[:60]})
    now = dt.datetime.now(dt.UTC)
    key = f"{rule_id}/{body.budget_year}/{body.scope}"
    event = make_event("rule.configured", configured, id=f"cfg-{rule_id}-{body.budget_year}-{body.scope}-{now:%Y%m%d%H%M%S%f}",
                       region=principal.region, time=now, source="/fundwatch/alerts-api", subject=key)
    settings = request.app.state.settings
    async with request.app.state.engine.begin() as tx:
        await store.add_outgoing(tx, topic=settings.topic(Family.rule_config), key=key.encode(), value=event.to_json())
        await store.add_outgoing(tx, **audit.outgoing(settings, audit.audit_event(
            "alerts", "rule.configured", actor=principal.user, region=principal.region, target=key,
            ip=audit.client_ip(request),
            details={"enabled": str(body.enabled), "level": str(body.level), "shadow": str(body.shadow),
                     "scope": body.scope, "params": ",".join(f"{k}={v}" for k, v in sorted(body.params.items()))})))
    if request.app.state.projection is not None:
        request.app.state.projection.wake_relay()
    return {"status": "published", "rule_id": rule_id, "budget_year": str(body.budget_year), "scope": body.scope}


class Change(BaseModel):
    rule_id: str
    budget_year: int
    scope: str
    set_by: str
    region: str
    at: dt.datetime
    configuration: dict[str, Any]


@router.get("/v1/rules/history", response_model=list[Change], summary="规则配置变更记录")
async def history(conn: Conn, principal: CurrentPrincipal,
                  rule_id: Annotated[str | None, Query(pattern=r"^[A-Z]+-\d{2}$")] = None,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[Change]:
    """Every configuration published, newest first (those that apply to the caller's region, or that
    the caller's region set for regions below it)."""
    rows = await store.config_history(conn, rule_id, limit)
    return [Change(rule_id=r["rule_id"], budget_year=r["budget_year"], scope=r["scope"], set_by=r["set_by"],
                   region=r["region"], at=r["at"].replace(tzinfo=dt.UTC), configuration=r["payload"])
            for r in rows if _visible(r["payload"], principal.region)]
