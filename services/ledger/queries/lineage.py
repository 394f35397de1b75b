"""Fund lineage: an indicator's chain up to the central document (指标关联 through each upper
transfer), down to every lower indicator, project and payment; a payment traced back up."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.ledger import schema as s
from services.ledger.workingset import select_in

MAX_LEVELS = 12  # central → province → city → county → township is 5; anything deeper is a loop
MAX_DOWNSTREAM = 5000


async def _one(conn: AsyncConnection, table, column: str, key: str) -> dict | None:
    row = (await conn.execute(select(table).where(table.c[column] == key))).mappings().first()
    return dict(row) if row else None


async def indicator(conn: AsyncConnection, indicator_id: str) -> dict | None:
    return await _one(conn, s.indicators, "indicator_id", indicator_id)


async def transfer(conn: AsyncConnection, transfer_id: str) -> dict | None:
    return await _one(conn, s.transfers, "transfer_id", transfer_id)


async def payment(conn: AsyncConnection, payment_id: str) -> dict | None:
    return await _one(conn, s.payments, "payment_id", payment_id)


async def project(conn: AsyncConnection, project_code: str) -> dict | None:
    return await _one(conn, s.projects, "project_code", project_code)


@dataclass
class Link:
    """One step of a chain: an indicator registered at a level, or the transfer that issued it."""

    kind: str  # "indicator" | "transfer"
    row: dict


async def upstream(conn: AsyncConnection, start: dict) -> list[Link]:
    """From an indicator up: the transfer it was received from, the issuer's indicator, … up to an
    indicator arranged at its own level (the central or provincial document)."""
    chain: list[Link] = []
    current, seen = start, {start["indicator_id"]}
    while current.get("upper_indicator_id") and len(chain) < 2 * MAX_LEVELS:
        t = await transfer(conn, current["upper_indicator_id"])
        if t is None:
            chain.append(Link("transfer", {"transfer_id": current["upper_indicator_id"], "missing": True}))
            break
        chain.append(Link("transfer", t))
        if not t["from_indicator_id"] or t["from_indicator_id"] in seen:
            break
        upper = await indicator(conn, t["from_indicator_id"])
        if upper is None:
            break
        seen.add(upper["indicator_id"])
        chain.append(Link("indicator", upper))
        current = upper
    return chain


@dataclass
class Downstream:
    transfer: dict
    receipts: list[dict] = field(default_factory=list)
    below: dict[str, list[Downstream]] = field(default_factory=dict)  # receipt indicator id → its transfers


async def downstream(conn: AsyncConnection, indicator_id: str) -> list[Downstream]:
    """Every transfer issued from the indicator, the lower indicators that received it, and so on down."""
    roots: list[Downstream] = []
    parents: dict[str, list[Downstream]] = {indicator_id: roots}
    nodes = 0
    while parents and nodes < MAX_DOWNSTREAM:
        transfers = await select_in(conn, s.transfers, "from_indicator_id", parents)
        by_id = {}
        for t in sorted(transfers, key=lambda t: t["transfer_id"]):
            node = by_id[t["transfer_id"]] = Downstream(t)
            parents[t["from_indicator_id"]].append(node)
        receipts = await select_in(conn, s.indicators, "upper_indicator_id", by_id)
        next_parents: dict[str, list[Downstream]] = {}
        for r in sorted(receipts, key=lambda r: r["indicator_id"]):
            node = by_id[r["upper_indicator_id"]]
            node.receipts.append(r)
            next_parents[r["indicator_id"]] = node.below.setdefault(r["indicator_id"], [])
        nodes += len(transfers) + len(receipts)
        parents = next_parents
    return roots


async def allocations(conn: AsyncConnection, indicator_id: str) -> list[dict]:
    a, p = s.allocations, s.projects
    q = (select(a, p.c.name.label("library_name"), p.c.in_library)
         .select_from(a.outerjoin(p, p.c.project_code == a.c.project_code))
         .where(a.c.indicator_id == indicator_id).order_by(a.c.allocated_on, a.c.allocation_id))
    return [dict(r) for r in (await conn.execute(q)).mappings()]


async def project_balances(conn: AsyncConnection, indicator_ids: Iterable[str]) -> list[dict]:
    return await select_in(conn, s.project_balances, "indicator_id", indicator_ids)


async def payment_summary(conn: AsyncConnection, indicator_id: str) -> list[dict]:
    """Count and amount of the indicator's payments per status (counted, undated, special_transfer…)."""
    p = s.payments
    q = (select(p.c.status, func.count().label("payments"), func.sum(p.c.amount_fen).label("amount_fen"),
                func.sum(p.c.returned_fen).label("returned_fen"))
         .where(p.c.indicator_id == indicator_id).group_by(p.c.status).order_by(p.c.status))
    return [dict(r) for r in (await conn.execute(q)).mappings()]


async def returns_of(conn: AsyncConnection, payment_id: str) -> list[dict]:
    r = s.returns
    q = select(r).where(r.c.payment_id == payment_id).order_by(r.c.returned_on, r.c.return_id)
    return [dict(x) for x in (await conn.execute(q)).mappings()]


async def postings_of(conn: AsyncConnection, event_id: str) -> list[dict]:
    """Journal rows an event wrote (and any red-ink entry that reverses them)."""
    applied = await _one(conn, s.applied, "event_id", event_id)
    if not applied or not applied["journal_n"]:
        return []
    j = s.journal
    q = select(j).where(j.c.seq >= applied["journal_from"], j.c.seq < applied["journal_from"] + applied["journal_n"])
    rows = [dict(r) for r in (await conn.execute(q.order_by(j.c.seq))).mappings()]
    ids = [r["posting_id"] for r in rows]
    reversals = (await conn.execute(select(j).where(j.c.indicator_id == rows[0]["indicator_id"],
                                                    j.c.reverses.in_(ids)).order_by(j.c.seq))).mappings()
    return rows + [dict(r) for r in reversals]
