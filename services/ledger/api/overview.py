"""Overview (总体概览), region tree with ranking (drill-down), views by region, department and
responsible group."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from services.ledger.api.deps import Conn, CurrentPrincipal, Limit, Offset, RegionQ, YearQ
from services.ledger.api.models import (
    FundMetrics,
    GroupMetrics,
    LevelMetrics,
    MetricsOut,
    Overview,
    Page,
    RegionMetrics,
    Tree,
    yuan,
)
from services.ledger.queries import books, lists
from services.ledger.statistics import FUND_LEVELS

router = APIRouter(prefix="/v1", tags=["overview"])


def _region(row: books.RegionRow) -> RegionMetrics:
    return RegionMetrics.of(row.metrics, code=row.code, name=row.name, level=row.level, rank=row.rank)


def _page(items: list, limit: int, offset: int) -> Page:
    return Page(items=items[offset:offset + limit], total=len(items), limit=limit, offset=offset)


@router.get("/overview", response_model=Overview)
async def overview(principal: CurrentPrincipal, conn: Conn, region: RegionQ = None, budget_year: YearQ = None):
    """Total scale by level (central/provincial/city/county money) and by fund, allocated, paid and
    progress (paid / available) of a region and budget year."""
    o = await books.overview(conn, principal.scope(region), budget_year)
    levels = sorted(o.by_level.items(), key=lambda kv: FUND_LEVELS.index(kv[0]) if kv[0] in FUND_LEVELS else 9)
    return Overview(
        region=o.region, region_name=o.region_name, budget_year=o.budget_year, totals=MetricsOut.of(o.totals),
        in_transit=yuan(o.in_transit_fen),
        by_level=[LevelMetrics.of(m, level=level) for level, m in levels],
        by_fund=[FundMetrics.of(m, fund_code=code, fund_name=f["name"] if f else None,
                                fund_level=f["level"] if f else None, root_fund_code=root)
                 for code, f, root, m in o.by_fund],
    )


class Month(BaseModel):
    month: str = Field(description="YYYY-MM of the payment date")
    payments: int
    paid: Decimal


@router.get("/trend", response_model=list[Month])
async def trend(principal: CurrentPrincipal, conn: Conn, region: RegionQ = None, budget_year: YearQ = None):
    """Month by month: counted payments and the amount paid (net of returns) in a region and budget year."""
    rows = await lists.monthly(conn, principal.scope(region), budget_year)
    return [Month(month=r["month"], payments=r["payments"], paid=yuan(r["paid_fen"])) for r in rows]


@router.get("/regions/tree", response_model=Tree)
async def region_tree(principal: CurrentPrincipal, conn: Conn, region: RegionQ = None, budget_year: YearQ = None,
                      limit: Limit = 100, offset: Offset = 0):
    """A region, its own level (本级) and each child region's subtree, ranked by progress; drill down
    by asking again for a child."""
    t = await books.tree(conn, principal.scope(region), budget_year)
    return Tree(region=_region(t.node), own_level=MetricsOut.of(t.own_level),
                children=_page([_region(c) for c in t.children], limit, offset))


@router.get("/views/regions", response_model=Page[RegionMetrics])
async def by_region(principal: CurrentPrincipal, conn: Conn, region: RegionQ = None, budget_year: YearQ = None,
                    level: Annotated[Literal["province", "city", "county", "township"] | None, Query()] = None,
                    fund_code: str | None = None, limit: Limit = 100, offset: Offset = 0):
    """Every region in scope (optionally one level), each with its subtree's figures, ranked."""
    rows = await books.regions_view(conn, principal.scope(region), level=level, budget_year=budget_year,
                                    fund_code=fund_code)
    return _page([_region(r) for r in rows], limit, offset)


def _group(row: books.GroupRow) -> GroupMetrics:
    return GroupMetrics.of(row.metrics, key=row.key, name=row.name, department=row.department, region=row.region)


@router.get("/views/groups", response_model=Page[GroupMetrics])
async def by_group(principal: CurrentPrincipal, conn: Conn, region: RegionQ = None, budget_year: YearQ = None,
                   department: str | None = None, limit: Limit = 100, offset: Offset = 0):
    """By responsible group / finance office (业务组, 谁主管、谁负责): the group that owns each fund."""
    rows = await books.groups_view(conn, principal.scope(region), by="group", budget_year=budget_year,
                                   department=department)
    return _page([_group(r) for r in rows], limit, offset)


@router.get("/views/departments", response_model=Page[GroupMetrics])
async def by_department(principal: CurrentPrincipal, conn: Conn, region: RegionQ = None, budget_year: YearQ = None,
                        limit: Limit = 100, offset: Offset = 0):
    """By responsible department (the department of the owning group)."""
    rows = await books.groups_view(conn, principal.scope(region), by="department", budget_year=budget_year)
    return _page([_group(r) for r in rows], limit, offset)
