"""The rows one batch touches: loaded once at the start (a handful of keyed SELECTs), changed in
memory while the events are applied in order, written once at the end (COPY / executemany)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Column, String, Table, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from services.ledger import bulk
from services.ledger import schema as s
from services.ledger.postings import CHART, Move, Posting

CHUNK = 2000


async def select_in(conn: AsyncConnection, table: Table, column: str, keys: Iterable[str], *where) -> list[dict]:
    """Rows whose `column` is one of `keys` (`= ANY($1)` with one array on PostgreSQL: no
    statement with thousands of parameters to render per batch)."""
    keys = list(keys)
    if not keys:
        return []
    if bulk.is_postgres(conn):
        q = select(table).where(table.c[column] == any_(bindparam("keys", type_=ARRAY(String))), *where)
        return [dict(r) for r in (await conn.execute(q, {"keys": keys})).mappings()]
    out: list[dict] = []
    for i in range(0, len(keys), CHUNK):
        q = select(table).where(table.c[column].in_(keys[i:i + CHUNK]), *where)
        out.extend(dict(r) for r in (await conn.execute(q)).mappings())
    return out


async def present(conn: AsyncConnection, column: Column, keys: Iterable[str]) -> set[str]:
    """Which of `keys` are stored in `column` (one column read, not whole rows)."""
    keys = list(keys)
    if not keys:
        return set()
    if bulk.is_postgres(conn):
        q = select(column).where(column == any_(bindparam("keys", type_=ARRAY(String))))
        return set((await conn.execute(q, {"keys": keys})).scalars())
    out: set[str] = set()
    for i in range(0, len(keys), CHUNK):
        out.update((await conn.execute(select(column).where(column.in_(keys[i:i + CHUNK])))).scalars())
    return out


class Rows:
    """Rows of one table keyed by one column: loaded rows are updated at flush when touched,
    new rows are inserted."""

    def __init__(self, table: Table, key: str, new_row: Callable[..., dict] | None = None) -> None:
        self.table = table
        self.key = key
        self.rows: dict[str, dict] = {}
        self.new: dict[str, None] = {}  # insertion-ordered set
        self.dirty: set[str] = set()
        self.missing: set[str] = set()
        self._new_row = new_row

    def __contains__(self, k: str) -> bool:
        return k in self.rows

    def get(self, k: str | None) -> dict | None:
        return self.rows.get(k) if k is not None else None

    def add(self, row: dict) -> dict:
        k = row[self.key]
        self.rows[k] = row
        self.new[k] = None
        return row

    def create(self, **values: Any) -> dict:
        """A new row: from the table's factory (which fills every column), else `values` as given."""
        return self.add(self._new_row(**values) if self._new_row else values)

    def touch(self, k: str) -> None:
        if k not in self.new:
            self.dirty.add(k)

    async def load(self, conn: AsyncConnection, keys: Iterable[str | None]) -> None:
        wanted = {k for k in keys if k is not None and k not in self.rows and k not in self.missing}
        if not wanted:
            return
        for row in await select_in(conn, self.table, self.key, wanted):
            self.rows[row[self.key]] = row
        self.missing |= wanted - self.rows.keys()

    async def flush(self, conn: AsyncConnection) -> None:
        await bulk.insert(conn, self.table, [self.rows[k] for k in self.new])
        await bulk.update_rows(conn, self.table, (self.key,), [self.rows[k] for k in sorted(self.dirty)])


# ------------------------------------------------------------------ new-row factories (every column, for COPY)


def _zero_balances() -> dict[str, int]:
    return dict.fromkeys(s.BALANCE_COLUMNS, 0)


def new_indicator(indicator_id: str, region: str) -> dict:
    return {"indicator_id": indicator_id, "region": region, "registered": False, "fund_code": None,
            "budget_year": None, "compiled_year": None, "doc_no": None, "doc_date": None, "registered_on": None,
            "functional_class": None, "economic_class": None, "budget_project": None, "source": None,
            "upper_indicator_id": None, "upper_region": None, "advance_issue": False, "amount_fen": 0,
            "event_id": None, **_zero_balances()}


def new_transfer(transfer_id: str, to_region: str) -> dict:
    return {"transfer_id": transfer_id, "issuer_region": None, "from_indicator_id": None, "to_region": to_region,
            "fund_code": None, "budget_year": None, "doc_no": None, "doc_date": None, "issued_on": None,
            "advance_issue": False, "issued_fen": None, "received_fen": 0, "receipts": 0, "first_received_on": None,
            "state": None, "event_id": None}


def new_fund(fund_code: str, region: str) -> dict:
    return {"fund_code": fund_code, "name": fund_code, "level": "unknown", "region": region, "upper_fund_code": None,
            "group_code": None, "for_households": False, "functional_classes": "[]"}


def balances_of(row: dict) -> dict[str, int]:
    return {a: row[s.column_of(a)] for a in CHART}


def postings_from_journal(rows: list[dict]) -> dict[str, list[Posting]]:
    """Journal rows (one per move) → postings, grouped by the event that wrote them."""
    by_posting: dict[str, list[dict]] = {}
    for r in sorted(rows, key=lambda r: r["seq"]):
        by_posting.setdefault(r["posting_id"], []).append(r)
    out: dict[str, list[Posting]] = {}
    for pid, moves in by_posting.items():
        head = moves[0]
        posting = Posting(
            head["event_id"], int(pid.rsplit(":", 1)[1]), head["kind"], head["indicator_id"], head["booked_on"],
            tuple(Move(m["debit"], m["credit"], m["amount_fen"], m["project_code"]) for m in moves),
            red_ink=head["red_ink"], reverses=head["reverses"],
        )
        out.setdefault(head["event_id"], []).append(posting)
    return out


async def journal_range(conn: AsyncConnection, first: int, n: int) -> list[dict]:
    q = select(s.journal).where(s.journal.c.seq >= first, s.journal.c.seq < first + n).order_by(s.journal.c.seq)
    return [dict(r) for r in (await conn.execute(q)).mappings()]
