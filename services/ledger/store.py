"""Ledger tables and the recorder that applies a batch of events in one transaction."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    func,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from contracts.indicator import IndicatorCorrected
from contracts.types import region_prefix, to_fen
from services.ledger.postings import Line, Posting, postings_for, registration_for, reversal_of
from services.runtime.projection import Delivery, Outgoing, outbox_table, tracking_table
from services.runtime.sql import add_to, insert_ignore, upsert

metadata = MetaData()

tracking = tracking_table(metadata, "ledger")
outbox = outbox_table(metadata, "ledger")

applied = Table(
    "ledger_applied",
    metadata,
    Column("event_id", String(100), primary_key=True),
    Column("event_type", String(60), nullable=False),
    Column("region", String(12), nullable=False),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)

indicators = Table(
    "ledger_indicators",
    metadata,
    Column("indicator_id", String(100), primary_key=True),
    Column("region", String(12), nullable=False, index=True),
    Column("kind", String(20), nullable=False),
    Column("fund_code", String(40)),
    Column("budget_year", Integer),
    Column("doc_no", String(120)),
    Column("amount_fen", BigInteger, nullable=False),
    Column("upper_indicator_id", String(100), index=True),
    Column("issuer_region", String(12)),
    Column("event_id", String(100), nullable=False),
)

postings = Table(
    "ledger_postings",
    metadata,
    Column("posting_id", String(110), primary_key=True),
    Column("event_id", String(100), nullable=False, index=True),
    Column("kind", String(60), nullable=False),
    Column("region", String(12), nullable=False),
    Column("indicator_id", String(100), nullable=False, index=True),
    Column("booked_on", Date, nullable=False),
    Column("red_ink", Boolean, nullable=False, default=False),
    Column("reverses_event_id", String(100)),
    Column("total_fen", BigInteger, nullable=False),
)

lines = Table(
    "ledger_lines",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("posting_id", String(110), ForeignKey("ledger_postings.posting_id"), nullable=False, index=True),
    Column("line_no", Integer, nullable=False),
    Column("account", String(10), nullable=False),
    Column("project_code", String(40)),
    Column("debit_fen", BigInteger, nullable=False),
    Column("credit_fen", BigInteger, nullable=False),
    CheckConstraint("debit_fen >= 0 AND credit_fen >= 0 AND (debit_fen = 0 OR credit_fen = 0)", name="ck_line_one_side"),
)

balances = Table(
    "ledger_balances",
    metadata,
    Column("region", String(12), primary_key=True),
    Column("indicator_id", String(100), primary_key=True),
    Column("account", String(10), primary_key=True),
    Column("balance_fen", BigInteger, nullable=False),
    Index("ix_ledger_balances_account", "account", "region"),
)


class UnbalancedPosting(ValueError):
    pass


async def apply_batch(conn: AsyncConnection, deliveries: Sequence[Delivery]) -> list[Outgoing]:
    """Apply events not applied before; duplicates (same event id) change nothing."""
    ids = list({d.event.id for d in deliveries})
    seen = set((await conn.execute(select(applied.c.event_id).where(applied.c.event_id.in_(ids)))).scalars())
    fresh = []
    for d in deliveries:
        if d.event.id not in seen:
            seen.add(d.event.id)
            fresh.append(d.event)
    if not fresh:
        return []

    new_postings: list[Posting] = []
    registrations = []
    for event in fresh:
        if isinstance(event.data, IndicatorCorrected):
            new_postings += await _correction(conn, event, new_postings)
        else:
            new_postings += postings_for(event)
        reg = registration_for(event)
        if reg:
            registrations.append((event.id, reg))

    for p in new_postings:
        if not p.balanced:
            raise UnbalancedPosting(f"posting {p.posting_id} does not balance")
    now = dt.datetime.now(dt.UTC)
    if registrations:
        await conn.execute(
            insert_ignore(conn, indicators, keys=("indicator_id",)),
            [
                {"indicator_id": r.indicator_id, "region": r.region, "kind": r.kind, "fund_code": r.fund_code,
                 "budget_year": r.budget_year, "doc_no": r.doc_no, "amount_fen": r.amount_fen,
                 "upper_indicator_id": r.upper_indicator_id, "issuer_region": r.extra.get("issuer_region"),
                 "event_id": event_id}
                for event_id, r in registrations
            ],
        )
    if new_postings:
        await conn.execute(
            postings.insert(),
            [
                {"posting_id": p.posting_id, "event_id": p.event_id, "kind": p.kind, "region": p.region,
                 "indicator_id": p.indicator_id, "booked_on": p.booked_on, "red_ink": p.red_ink,
                 "reverses_event_id": p.reverses_event_id, "total_fen": sum(x.debit_fen for x in p.lines)}
                for p in new_postings
            ],
        )
        await conn.execute(
            lines.insert(),
            [
                {"posting_id": p.posting_id, "line_no": n, "account": x.account, "project_code": x.project_code,
                 "debit_fen": x.debit_fen, "credit_fen": x.credit_fen}
                for p in new_postings
                for n, x in enumerate(p.lines)
            ],
        )
        deltas: dict[tuple[str, str, str], int] = defaultdict(int)
        for p in new_postings:
            for x in p.lines:
                deltas[(p.region, p.indicator_id, x.account)] += x.signed_fen
        await conn.execute(
            add_to(conn, balances, keys=("region", "indicator_id", "account"), column="balance_fen"),
            [{"region": r, "indicator_id": i, "account": a, "balance_fen": v} for (r, i, a), v in sorted(deltas.items())],
        )
    await conn.execute(
        applied.insert(),
        [{"event_id": e.id, "event_type": e.type, "region": e.region, "applied_at": now} for e in fresh],
    )
    return []


async def _correction(conn: AsyncConnection, event, pending: list[Posting]) -> list[Posting]:
    data: IndicatorCorrected = event.data
    original = [p for p in pending if p.event_id == data.corrects_event_id and not p.red_ink]
    if not original:
        original = await _load_postings(conn, data.corrects_event_id)
    if not original:
        raise LookupError(f"correction {event.id}: original event {data.corrects_event_id} has no postings")
    original_fen = max(x.debit_fen for x in original[0].lines)
    corrected = to_fen(data.corrected_amount) if data.corrected_amount is not None else None
    return reversal_of(original, event.id, event.time.date(), corrected, original_fen)


async def _load_postings(conn: AsyncConnection, event_id: str) -> list[Posting]:
    rows = (
        await conn.execute(
            select(postings, lines.c.account, lines.c.project_code, lines.c.debit_fen, lines.c.credit_fen)
            .join(lines, lines.c.posting_id == postings.c.posting_id)
            .where(postings.c.event_id == event_id, postings.c.red_ink.is_(False))
            .order_by(postings.c.posting_id, lines.c.line_no)
        )
    ).all()
    grouped: dict[str, list] = defaultdict(list)
    for r in rows:
        grouped[r.posting_id].append(r)
    out = []
    for pid, rs in grouped.items():
        head = rs[0]
        out.append(Posting(head.event_id, int(pid.rsplit("#", 1)[1]), head.kind, head.region, head.indicator_id,
                           head.booked_on, tuple(Line(r.account, r.debit_fen, r.credit_fen, r.project_code) for r in rs)))
    return out


# ------------------------------------------------------------------------------ queries


async def balances_by_account(conn: AsyncConnection, *, region: str | None = None, fund_code: str | None = None,
                              indicator_id: str | None = None) -> list[dict]:
    """Σ balance per region × fund × account, within a region scope."""
    q = (
        select(balances.c.region, indicators.c.fund_code, balances.c.account,
               func.sum(balances.c.balance_fen).label("balance_fen"))
        .select_from(balances.outerjoin(indicators, indicators.c.indicator_id == balances.c.indicator_id))
        .group_by(balances.c.region, indicators.c.fund_code, balances.c.account)
        .order_by(balances.c.region, indicators.c.fund_code, balances.c.account)
    )
    if region:
        q = q.where(balances.c.region.startswith(region_prefix(region)))
    if fund_code:
        q = q.where(indicators.c.fund_code == fund_code)
    if indicator_id:
        q = q.where(balances.c.indicator_id == indicator_id)
    return [dict(r._mapping) for r in (await conn.execute(q)).all()]


async def account_totals(conn: AsyncConnection, region: str | None = None) -> dict[str, int]:
    q = select(balances.c.account, func.sum(balances.c.balance_fen)).group_by(balances.c.account)
    if region:
        q = q.where(balances.c.region.startswith(region_prefix(region)))
    return {a: int(v) for a, v in (await conn.execute(q)).all()}


async def applied_count(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(func.count()).select_from(applied))).scalar_one())


async def balance_checksum(conn: AsyncConnection) -> tuple[int, int]:
    """(rows, Σ balance × position-independent hash) — equal stores give equal checksums."""
    rows = (await conn.execute(select(balances).where(balances.c.balance_fen != 0))).all()
    import hashlib

    digest = 0
    for r in rows:
        h = hashlib.sha256(f"{r.region}|{r.indicator_id}|{r.account}|{r.balance_fen}".encode()).digest()
        digest ^= int.from_bytes(h[:8], "big")
    return len(rows), digest


__all__ = ["apply_batch", "balances", "indicators", "lines", "metadata", "postings", "tracking", "outbox", "upsert"]
