"""Counters of what the ledger applied (for /v1/status and `fundwatch ledger` commands)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.ledger import schema as s


async def counters(conn: AsyncConnection) -> dict[str, int]:
    out = {r.name: int(r.value) for r in (await conn.execute(select(s.counters))).all()}
    out["journal_rows"] = int((await conn.execute(select(s.chain.c.last_seq))).scalar_one_or_none() or 0)
    out["parked"] = int((await conn.execute(select(func.count()).select_from(s.parked))).scalar_one())
    return out
