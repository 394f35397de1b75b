"""Tamper evidence and comparison of ledger stores.

The journal is a hash chain: each row's hash is SHA-256 over the previous row's hash and the
row's canonical form, in `seq` order; `ledger_chain` holds the head. Rewriting, inserting or
deleting any row breaks every link after it (and the triggers of the migration refuse UPDATE
and DELETE in the first place). `verify` recomputes the chain and names the first broken link.

`balance_checksum` is an order-independent digest of every non-zero balance (indicator and
project level): two stores that applied the same events have the same checksum, whatever the
order their partitions interleaved in."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.ledger import schema as s
from services.ledger.postings import CHART

GENESIS = "0" * 64
_MASK = (1 << 64) - 1


def canonical(row: Mapping[str, Any]) -> bytes:
    booked = row["booked_on"]
    return "|".join((
        str(row["seq"]), row["posting_id"], str(row["move_no"]), row["event_id"], row["kind"], row["region"],
        row["indicator_id"], row["project_code"] or "", row["debit"], row["credit"], str(row["amount_fen"]),
        booked.isoformat() if isinstance(booked, dt.date) else str(booked), "1" if row["red_ink"] else "0",
        row["reverses"] or "",
    )).encode()


def link(prev_hash: str, row: Mapping[Any, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + b"|" + canonical(row)).hexdigest()


@dataclass(frozen=True)
class Verification:
    ok: bool
    rows: int
    first_broken_seq: int | None = None
    reason: str = ""


async def verify(conn: AsyncConnection, chunk: int = 20_000) -> Verification:
    """Recompute the hash chain over the journal in seq order; report the first broken link."""
    prev, expected_seq, rows = GENESIS, 1, 0
    last = 0
    while True:
        batch = (await conn.execute(
            select(s.journal).where(s.journal.c.seq > last).order_by(s.journal.c.seq).limit(chunk))).mappings().all()
        if not batch:
            break
        for row in batch:
            if row["seq"] != expected_seq:
                return Verification(False, rows, expected_seq, f"journal row {expected_seq} is missing")
            computed = link(prev, row)
            if computed != row["hash"]:
                return Verification(False, rows, row["seq"], f"row {row['seq']} ({row['posting_id']}) does not match "
                                                             "its hash: it was altered, or an earlier row was")
            prev, expected_seq, rows = computed, expected_seq + 1, rows + 1
        last = batch[-1]["seq"]
    head = (await conn.execute(select(s.chain.c.last_seq, s.chain.c.last_hash))).one_or_none()
    if head is None:
        return Verification(False, rows, None, "the chain head row is missing")
    if head.last_seq != rows or head.last_hash != prev:
        return Verification(False, rows, rows + 1 if head.last_seq > rows else head.last_seq,
                            f"the chain head says {head.last_seq} rows ending {head.last_hash[:12]}…, the journal "
                            f"has {rows} ending {prev[:12]}…: rows were removed from the end")
    return Verification(True, rows)


@dataclass(frozen=True)
class Checksum:
    rows: int
    digest: int

    def __str__(self) -> str:
        return f"{self.rows} balances, digest {self.digest:016x}"


def _entry_hash(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:8], "big")


async def balance_checksum(conn: AsyncConnection) -> Checksum:
    """(non-zero balances, order-independent digest) over indicator and project balances."""
    rows, digest = 0, 0
    cols = [s.column_of(a) for a in CHART]
    for table, key in ((s.indicators, ("indicator_id",)), (s.project_balances, ("indicator_id", "project_code"))):
        result = await conn.stream(select(*(table.c[k] for k in key), table.c.region, *(table.c[c] for c in cols)))
        async for r in result:
            ident = "/".join(r[i] for i in range(len(key)))
            region = r[len(key)]
            for account, value in zip(CHART, r[len(key) + 1:], strict=True):
                if value:
                    rows += 1
                    digest = (digest + _entry_hash(region, ident, account, value)) & _MASK
    return Checksum(rows, digest)


COUNTED_TABLES = (s.applied, s.journal, s.indicators, s.transfers, s.allocations, s.plans, s.payments, s.returns,
                  s.project_balances, s.regions, s.funds, s.fund_links, s.projects, s.groups, s.accounts, s.parked)


async def row_counts(conn: AsyncConnection) -> dict[str, int]:
    return {t.name: int((await conn.execute(select(func.count()).select_from(t))).scalar_one()) for t in COUNTED_TABLES}
