"""Overview, region tree and the views by region, department and responsible group.

All of them read the indicator books of a scope once (one row per indicator, balances in
columns) and aggregate in Python with `services.ledger.statistics`; at a million payments a
province has a few thousand indicators, so this stays a few milliseconds."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from contracts.indicator import IndicatorSource
from contracts.types import region_level, region_prefix
from services.ledger import schema as s
from services.ledger.interlock import root_fund
from services.ledger.postings import CHART
from services.ledger.queries.lineage import MAX_LEVELS
from services.ledger.statistics import (
    Book,
    Metrics,
    Scope,
    chain_roots,
    child_under,
    fund_level_of,
    group_of,
    grouped,
    metrics,
    per_child,
    ranking,
)

TRANSFER_SOURCES = frozenset({IndicatorSource.upper_transfer.value, IndicatorSource.horizontal_transfer.value})


@dataclass
class Reference:
    regions: dict[str, dict] = field(default_factory=dict)
    funds: dict[str, dict] = field(default_factory=dict)
    groups: list[dict] = field(default_factory=list)

    def region_name(self, code: str) -> str | None:
        r = self.regions.get(code)
        return r["name"] if r else None

    _roots: dict[str | None, str | None] = field(default_factory=dict)

    def root(self, fund_code: str | None) -> str | None:
        """Top of the fund's designated-link chain (指定关联)."""
        if fund_code not in self._roots:
            designated = {code: f["upper_fund_code"] for code, f in self.funds.items()}
            self._roots[fund_code] = root_fund(fund_code, designated)
        return self._roots[fund_code]


async def reference(conn: AsyncConnection) -> Reference:
    ref = Reference()
    ref.regions = {r["code"]: dict(r) for r in (await conn.execute(select(s.regions))).mappings()}
    ref.funds = {r["fund_code"]: dict(r) for r in (await conn.execute(select(s.funds))).mappings()}
    ref.groups = [{**r, "fund_codes": set(json.loads(r["fund_codes"]))}
                  for r in (await conn.execute(select(s.groups))).mappings()]
    return ref


async def books(conn: AsyncConnection, region: str) -> list[Book]:
    """Every indicator's books under `region` (with the issuer of the transfer it came from)."""
    i, t = s.indicators, s.transfers
    q = (select(i.c.indicator_id, i.c.region, i.c.fund_code, i.c.budget_year, i.c.compiled_year, i.c.source,
                func.coalesce(t.c.issuer_region, i.c.upper_region), t.c.from_indicator_id,
                *(i.c[s.column_of(a)] for a in CHART))
         .select_from(i.outerjoin(t, t.c.transfer_id == i.c.upper_indicator_id)))
    prefix = region_prefix(region)
    if prefix:
        q = q.where(i.c.region.startswith(prefix))
    out = []
    for r in (await conn.execute(q)).all():
        out.append(Book(r[0], r[1], r[2], r[4] or r[3], r[5] in TRANSFER_SOURCES, r[6],
                        dict(zip(CHART, r[8:], strict=True)), parent=r[7]))
    return out


async def origins(conn: AsyncConnection, scope_books: list[Book]) -> dict[str, str]:
    """Indicator → level the money comes from (central/provincial/city/county): the level of the
    region at the top of its chain, fetching the upper levels outside the scope level by level."""
    parents = {b.indicator_id: b.parent for b in scope_books}
    regions = {b.indicator_id: b.region for b in scope_books}
    missing = {p for p in parents.values() if p and p not in regions}
    i, t = s.indicators, s.transfers
    for _ in range(MAX_LEVELS):
        if not missing:
            break
        q = (select(i.c.indicator_id, i.c.region, t.c.from_indicator_id)
             .select_from(i.outerjoin(t, t.c.transfer_id == i.c.upper_indicator_id))
             .where(i.c.indicator_id.in_(sorted(missing))))
        found = (await conn.execute(q)).all()
        for ind, reg, parent in found:
            parents[ind], regions[ind] = parent, reg
        missing = {p for _, _, p in found if p and p not in regions}
    return {k: fund_level_of(r) for k, r in chain_roots(parents, regions).items()}


@dataclass
class Overview:
    region: str
    region_name: str | None
    budget_year: int | None
    totals: Metrics
    by_level: dict[str, Metrics]
    by_fund: list[tuple[str, dict | None, str | None, Metrics]]  # fund code, fund row, root fund, metrics
    in_transit_fen: int


async def overview(conn: AsyncConnection, region: str, budget_year: int | None = None) -> Overview:
    ref = await reference(conn)
    all_books = await books(conn, region)
    scope = Scope(region, budget_year)
    origin = await origins(conn, all_books)
    by_level = grouped(all_books, scope, lambda b: origin.get(b.indicator_id))
    by_fund = grouped(all_books, scope, lambda b: b.fund_code or "")
    funds = [(code, ref.funds.get(code), ref.root(code), m) for code, m in sorted(by_fund.items())]
    return Overview(region, ref.region_name(region), budget_year, metrics(all_books, scope),
                    by_level, funds, await in_transit(conn, region, budget_year))


async def in_transit(conn: AsyncConnection, region: str, budget_year: int | None) -> int:
    """Issued by a level inside the scope and not yet received below (咬合: still in transit)."""
    t = s.transfers
    q = select(t.c.issued_fen, t.c.received_fen).where(t.c.issued_fen.is_not(None))
    prefix = region_prefix(region)
    if prefix:
        q = q.where(t.c.issuer_region.startswith(prefix))
    if budget_year is not None:
        q = q.where(t.c.budget_year == budget_year)
    return sum(max(issued - received, 0) for issued, received in (await conn.execute(q)).all())


@dataclass
class RegionRow:
    code: str
    name: str | None
    level: str
    metrics: Metrics
    rank: int = 0


@dataclass
class Tree:
    node: RegionRow
    own_level: Metrics
    children: list[RegionRow]


def _children_codes(ref: Reference, all_books: Iterable[Book], region: str) -> set[str]:
    codes = {code for code, r in ref.regions.items() if r["parent"] == region}
    codes |= {c for b in all_books if (c := child_under(b.region, region))}
    return codes


async def tree(conn: AsyncConnection, region: str, budget_year: int | None = None) -> Tree:
    """The region with its own level and each child region's subtree, children ranked by progress."""
    ref = await reference(conn)
    all_books = await books(conn, region)
    scope = Scope(region, budget_year)
    children = per_child(all_books, scope, _children_codes(ref, all_books, region))
    own = Metrics()
    for b in all_books:
        if b.region == region and scope.selects(b):
            own.add(b, enters_scope=scope.enters(b))
    rows = [RegionRow(code, ref.region_name(code), region_level(code).value, m, rank)
            for rank, code, m in ranking(children)]
    node = RegionRow(region, ref.region_name(region), region_level(region).value, metrics(all_books, scope))
    return Tree(node, own, rows)


async def regions_view(conn: AsyncConnection, region: str, *, level: str | None, budget_year: int | None,
                       fund_code: str | None) -> list[RegionRow]:
    """Every region under the scope (optionally of one level) with its subtree's metrics, ranked."""
    ref = await reference(conn)
    all_books = await books(conn, region)
    codes = set(ref.regions) | {b.region for b in all_books}
    scope = Scope(region, budget_year, fund_code)
    codes = {c for c in codes if scope.covers(c) and (level is None or region_level(c).value == level)}
    per = {c: metrics(all_books, Scope(c, budget_year, fund_code)) for c in codes}
    return [RegionRow(code, ref.region_name(code), region_level(code).value, m, rank) for rank, code, m in ranking(per)]


@dataclass
class GroupRow:
    key: str
    name: str | None
    department: str | None
    region: str | None
    metrics: Metrics


async def groups_view(conn: AsyncConnection, region: str, *, by: str, budget_year: int | None,
                      department: str | None = None) -> list[GroupRow]:
    """Metrics per responsible group (业务组) or per department, from the group that owns each
    indicator's fund at its region (谁主管、谁负责); indicators no group owns are under ''."""
    ref = await reference(conn)
    all_books = await books(conn, region)
    cache: dict[tuple[str, str | None], Mapping | None] = {}

    def owner(b: Book) -> Mapping | None:
        k = (b.region, b.fund_code)
        if k not in cache:
            cache[k] = group_of(b.region, b.fund_code, ref.groups)
        return cache[k]

    def key(b: Book) -> str | None:
        g = owner(b)
        if department is not None and (g is None or g["department"] != department):
            return None
        if by == "department":
            return (g["department"] or "") if g else ""
        return g["group_code"] if g else ""

    per = grouped(all_books, Scope(region, budget_year), key)
    by_code = {g["group_code"]: g for g in ref.groups}
    rows = []
    for k, m in per.items():
        g = by_code.get(k) if by == "group" else None
        rows.append(GroupRow(k, g["group_name"] if g else (k or None), g["department"] if g else (k or None),
                             g["region"] if g else None, m))
    return sorted(rows, key=lambda r: (-r.metrics.paid_fen, r.key))
