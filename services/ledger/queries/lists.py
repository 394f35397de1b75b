"""Paginated, filterable lists (always inside a region scope) and an account's journal."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, case, func, literal_column, or_, select, table
from sqlalchemy import text as sql
from sqlalchemy.ext.asyncio import AsyncConnection

from contracts.types import region_prefix
from services.ledger import schema as s
from services.ledger.bulk import is_postgres
from services.ledger.postings import CHART, CREDIT_ACCOUNTS, natural
from services.ledger.queries.search import has_trigram


@dataclass
class Page:
    items: list[dict]
    total: int
    limit: int
    offset: int


async def page(conn: AsyncConnection, q: Select, *, limit: int, offset: int) -> Page:
    total = (await conn.execute(select(func.count()).select_from(q.order_by(None).subquery()))).scalar_one()
    rows = (await conn.execute(q.limit(limit).offset(offset))).mappings().all()
    return Page([dict(r) for r in rows], int(total), limit, offset)


FTS = "ledger_payments_text"  # SQLite's FTS5 trigram index of purpose and payee (migration ledger_0003)
_fts: dict[str, bool] = {}


async def has_text_index(conn: AsyncConnection) -> bool:
    if is_postgres(conn):
        return False
    key = str(conn.engine.url)
    if key not in _fts:
        found = (await conn.execute(sql("SELECT 1 FROM sqlite_master WHERE name = :n"), {"n": FTS})).first()
        _fts[key] = found is not None
    return _fts[key]


def _in_scope(column, region: str):
    prefix = region_prefix(region)
    return column.startswith(prefix) if prefix else column.is_not(None)


async def indicators(conn: AsyncConnection, region: str, *, fund_code: str | None = None,
                     budget_year: int | None = None, source: str | None = None, doc_no: str | None = None,
                     limit: int, offset: int) -> Page:
    i = s.indicators
    q = select(i).where(_in_scope(i.c.region, region))
    if fund_code:
        q = q.where(i.c.fund_code == fund_code)
    if budget_year is not None:
        q = q.where(func.coalesce(i.c.compiled_year, i.c.budget_year) == budget_year)
    if source:
        q = q.where(i.c.source == source)
    if doc_no:
        q = q.where(i.c.doc_no == doc_no)
    return await page(conn, q.order_by(i.c.region, i.c.indicator_id), limit=limit, offset=offset)


async def transfers(conn: AsyncConnection, region: str, *, state: str | None = None, fund_code: str | None = None,
                    limit: int, offset: int) -> Page:
    """Upper transfers issued or received inside the scope, with their interlock (咬合) state."""
    t = s.transfers
    q = select(t).where(or_(_in_scope(t.c.issuer_region, region), _in_scope(t.c.to_region, region)))
    if state:
        q = q.where(t.c.state == state)
    if fund_code:
        q = q.where(t.c.fund_code == fund_code)
    return await page(conn, q.order_by(t.c.issued_on, t.c.transfer_id), limit=limit, offset=offset)


async def payments(conn: AsyncConnection, region: str, *, indicator_id: str | None = None,
                   project_code: str | None = None, status: str | None = None, text: str | None = None,
                   limit: int, offset: int) -> Page:
    p = s.payments
    q = select(p).where(_in_scope(p.c.region, region))
    if text and len(text) >= 3 and await has_text_index(conn):
        # SQLite: the same substring match answered by the FTS5 trigram index (a phrase of three
        # characters or more is a substring; ASCII case folded, as LIKE does)
        phrase = '"' + text.replace('"', '""') + '"'
        matched: Select[Any] = select(literal_column("rowid")).select_from(table(FTS)).where(
            literal_column(FTS).op("MATCH")(phrase))
        q = q.where(or_(literal_column("ledger_payments.rowid").in_(matched), p.c.payment_id == text))
    elif text:  # 智能检索: a payment by its number, payee or purpose (substring)
        q = q.where(or_(p.c.purpose.contains(text, autoescape=True), p.c.payee_name.contains(text, autoescape=True),
                        p.c.payment_id == text))
    if indicator_id:
        q = q.where(p.c.indicator_id == indicator_id)
    if project_code:
        q = q.where(p.c.project_code == project_code)
    if status:
        q = q.where(p.c.status == status)
    order = (p.c.payment_date, p.c.payment_id)
    if text and (len(text) < 3 or not (await has_trigram(conn) or await has_text_index(conn))):
        # no trigram index can narrow this text down: the payments are scanned once, counted and
        # paged in the same pass (a count and a page apart are two scans, 1–3 s at a million)
        # on PostgreSQL sorted by an expression: walking the date index row by row to filter the text
        # is 3× slower than a parallel scan and a sort of the few matches
        scan_order = (p.c.payment_date.op("+")(0), p.c.payment_id) if is_postgres(conn) else order
        counted = (q.with_only_columns(p.c.payment_id, func.count().over().label("total"))
                   .order_by(*scan_order).limit(limit).offset(offset).subquery())
        found = (await conn.execute(select(p, counted.c.total).join(counted, counted.c.payment_id == p.c.payment_id)
                                    .order_by(*order))).mappings().all()
        if found or offset == 0:
            return Page([{k: v for k, v in r.items() if k != "total"} for r in found],
                        int(found[0]["total"]) if found else 0, limit, offset)
    total = (await conn.execute(select(func.count()).select_from(q.subquery()))).scalar_one()
    # the page's keys first (skipped inside the date index, index-only), then their rows: an OFFSET
    # over whole rows reads every row it skips (1.5 s at page 10,000 of a million payments)
    keys = q.with_only_columns(p.c.payment_id).order_by(*order).limit(limit).offset(offset).subquery()
    rows = (await conn.execute(select(p).join(keys, keys.c.payment_id == p.c.payment_id).order_by(*order))).mappings()
    return Page([dict(r) for r in rows], int(total), limit, offset)


async def monthly(conn: AsyncConnection, region: str, budget_year: int | None) -> list[dict]:
    """Counted payments (net of returns) by month of payment date: the month-by-month trend, from
    the recorder's monthly totals per indicator and region."""
    m, i = s.payment_months, s.indicators
    q = (select(m.c.month, func.sum(m.c.payments).label("payments"), func.sum(m.c.paid_fen).label("paid_fen"))
         .where(_in_scope(m.c.region, region)))
    if budget_year is not None:
        q = q.join(i, i.c.indicator_id == m.c.indicator_id).where(
            func.coalesce(i.c.compiled_year, i.c.budget_year) == budget_year)
    rows = (await conn.execute(q.group_by(m.c.month).having(func.sum(m.c.payments) > 0).order_by(m.c.month))).all()
    return [{"month": month, "payments": int(n), "paid_fen": int(fen or 0)} for month, n, fen in rows]


async def funds(conn: AsyncConnection, region: str, *, level: str | None = None, limit: int, offset: int) -> Page:
    """The fund catalogue of the scope and of the levels above it (their lineage is shared), with
    the upper funds each is linked to (指定关联; more than one is a finding)."""
    f, links = s.funds, s.fund_links
    prefix = region_prefix(region)
    q = select(f)
    if prefix:
        above = {"000000", region[:2] + "0000", region[:4] + "00"} if len(region) >= 6 else {"000000"}
        q = q.where(or_(f.c.region.startswith(prefix), f.c.region.in_(sorted(above))))
    if level:
        q = q.where(f.c.level == level)
    result = await page(conn, q.order_by(f.c.fund_code), limit=limit, offset=offset)
    codes = [r["fund_code"] for r in result.items]
    linked: dict[str, list[str]] = {}
    if codes:
        for link_row in (await conn.execute(select(links).where(links.c.fund_code.in_(codes)))).mappings():
            linked.setdefault(link_row["fund_code"], []).append(link_row["upper_fund_code"])
    for r in result.items:
        r["linked_upper_funds"] = sorted(linked.get(r["fund_code"], []))
    return result


async def journal(conn: AsyncConnection, indicator_id: str, account: str, *, project_code: str | None = None,
                  limit: int, offset: int) -> tuple[Page, int]:
    """The postings of one account of one indicator (optionally one project) in order, each with the
    running balance on the account's natural side; red-ink entries included. Also returns the
    balance after the last entry."""
    j = s.journal
    sign = -1 if account in CREDIT_ACCOUNTS else 1
    delta = case((j.c.debit == account, j.c.amount_fen), else_=-j.c.amount_fen) * sign
    q = select(j.c.seq, j.c.posting_id, j.c.event_id, j.c.kind, j.c.booked_on, j.c.red_ink, j.c.reverses,
               j.c.project_code, j.c.debit, j.c.credit, j.c.amount_fen, delta.label("change_fen"),
               func.sum(delta).over(order_by=j.c.seq).label("balance_fen"))
    conds = [j.c.indicator_id == indicator_id, or_(j.c.debit == account, j.c.credit == account)]
    if project_code:
        conds.append(j.c.project_code == project_code)
    result = await page(conn, q.where(*conds).order_by(j.c.seq), limit=limit, offset=offset)
    closing = (await conn.execute(select(func.coalesce(func.sum(delta), 0)).where(*conds))).scalar_one()
    return result, int(closing)


def natural_balances(row: dict[str, Any]) -> dict[str, int]:
    """Account → balance on its natural side, from a row with balance columns."""
    return {a: natural(a, row[s.column_of(a)]) for a in CHART}
