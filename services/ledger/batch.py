"""State of one batch: the chain lock, de-duplication, the keyed loads before the events are
applied, and the writes after. The handlers that change this state are in `recorder.py`."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any, cast

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from contracts import Envelope, parse_event
from services.ledger import bulk, derived
from services.ledger import schema as s
from services.ledger.audit import link
from services.ledger.postings import CHART, PaymentStatus, Posting, post, snapshot
from services.ledger.workingset import (
    Rows,
    balances_of,
    journal_range,
    new_fund,
    new_indicator,
    new_transfer,
    postings_from_journal,
    present,
    select_in,
)
from services.runtime.projection import Outgoing

LEDGER_FAMILIES = ("indicator", "payment")
COLUMN = {a: s.column_of(a) for a in CHART}  # account → balance column
REFERENCE_TYPES = frozenset({"region.registered", "fund.registered", "fund.linked", "project.registered",
                             "group.assigned", "account.registered"})


def consumed(event_type: str) -> bool:
    """Event types the ledger applies (households and external records it leaves to alerts)."""
    return event_type.split(".", 1)[0] in LEDGER_FAMILIES or event_type in REFERENCE_TYPES


def expected_counters(event_types: Iterable[str]) -> dict[str, int]:
    """The ledger's status counters once every event of these types (one per event) is applied: what a
    wait for the ledger compares with, besides `parked == 0` (a count of events alone misses the
    reference data that still changes balances: a special account's registration takes payments
    into it back out of spending)."""
    out = {"events_applied": 0, "reference_applied": 0}
    for t in event_types:
        if consumed(t):
            out["reference_applied" if t in REFERENCE_TYPES else "events_applied"] += 1
    return out


def caught_up(status: Mapping[str, Any], expected: Mapping[str, int]) -> bool:
    """Has the ledger (its /v1/status) applied every event `expected` counts, with nothing parked?"""
    return all(status.get(k, -1) >= v for k, v in expected.items()) and status.get("parked", 1) == 0


def unlocks(e: Envelope) -> tuple[str, ...]:
    """What a parked event may wait for (`Batch.awaits`) that this event, once applied, provides."""
    if e.type == "payment.made":
        return (f"event:{e.id}", f"payment:{cast(Any, e.data).payment_id}")
    return (f"event:{e.id}",)


class BatchState:
    def __init__(self, conn: AsyncConnection, topic: str | None, *, write_outbox: bool = True) -> None:
        self.conn = conn
        self.topic = topic or ""
        self.publish = topic is not None
        self.write_outbox = write_outbox
        self.outgoing: list[Outgoing] = []
        self.now = dt.datetime.now(dt.UTC)
        self.indicators = Rows(s.indicators, "indicator_id", new_indicator)
        self.balances: dict[str, dict[str, int]] = {}
        self.project_deltas: dict[tuple[str, str], dict[str, Any]] = {}
        self.transfers = Rows(s.transfers, "transfer_id", new_transfer)
        self.receipts: dict[str, set[str]] = {}
        self.unfunded: dict[str, set[str]] = {}  # giver's indicator → horizontal transfers booked before it
        self.payments = Rows(s.payments, "payment_id")
        self.allocations = Rows(s.allocations, "allocation_id")
        self.plans = Rows(s.plans, "plan_id")
        self.returns = Rows(s.returns, "return_id")
        self.applied = Rows(s.applied, "event_id")
        self.funds = Rows(s.funds, "fund_code", new_fund)
        self.links: dict[str, dict[str, dt.datetime | None]] = {}  # fund → upper fund → when linked
        self.new_links: list[dict] = []
        self.special: set[str] = set()
        self.new_special: list[tuple[str, Envelope]] = []
        self.regions: dict[str, dict] = {}
        self.projects: dict[str, dict] = {}
        self.project_stubs: dict[str, dict] = {}
        self.groups: dict[str, dict] = {}
        self.accounts: dict[str, dict] = {}
        self.waiting: dict[str, list[Envelope]] = {}  # what a parked event waits for (`awaits`) → the events
        self.unparked: set[str] = set()  # parked events loaded from the store (released, or still waiting)
        self.any_parked = False  # the store holds parked events (else nothing to look up per event)
        self.journal: list[dict] = []
        self.own_postings: dict[str, list[Posting]] = {}
        self.corrected_registrations: set[str] = set()
        self.counts: Counter[str] = Counter()
        self.head_seq = 0
        self.head_hash = ""
        self.time_iso = ""  # wire form of the current event's time

    # ------------------------------------------------------------------ lock and de-duplication

    async def lock(self) -> None:
        """Serialise ledger writers on the chain head (also the first statement of the transaction,
        so bulk COPYs run inside it)."""
        q = select(s.chain.c.last_seq, s.chain.c.last_hash).where(s.chain.c.id == 1)
        if bulk.is_postgres(self.conn):
            q = q.with_for_update()
        else:  # take SQLite's write lock before reading anything
            await self.conn.execute(update(s.chain).where(s.chain.c.id == 1).values(id=1))
        self.head_seq, self.head_hash = (await self.conn.execute(q)).one()

    async def fresh(self, events: list[Envelope]) -> list[Envelope]:
        unique: dict[str, Envelope] = {}
        for e in events:
            if e.id not in unique and consumed(e.type):
                unique[e.id] = e
        if not unique:
            return []
        done = await present(self.conn, s.applied.c.event_id, unique)
        self.any_parked = (await self.conn.execute(select(s.parked.c.event_id).limit(1))).first() is not None
        if self.any_parked:
            done |= await present(self.conn, s.parked.c.event_id, unique)  # delivered again while it waits
        return [e for e in unique.values() if e.id not in done] if done else list(unique.values())

    async def load_parked(self, events: list[Envelope]) -> list[Envelope]:
        """The parked events that `events` release (and those they release in turn: a correction of a
        correction), put in `waiting` to be booked right after what they wait for."""
        out: list[Envelope] = []
        if not self.any_parked:
            return out
        keys = {k for e in events for k in unlocks(e)}
        for _ in range(8):
            rows = await select_in(self.conn, s.parked, "waits_for", keys)
            rows = [r for r in rows if r["event_id"] not in self.unparked]
            if not rows:
                break
            keys = set()
            for r in sorted(rows, key=lambda r: (r["event_time"], r["event_id"])):
                e = parse_event(r["body"])
                self.unparked.add(e.id)
                self.waiting.setdefault(r["waits_for"], []).append(e)
                out.append(e)
                keys |= set(unlocks(e))
        return out

    # ------------------------------------------------------------------ loading

    async def load(self, events: list[Envelope]) -> None:
        ind: set[str] = set()
        trf: set[str] = set()
        pay: set[str] = set()
        targets: set[str] = set()
        funds: set[str] = set()
        givers: set[str] = set()
        for e in events:  # dispatch on the type string: isinstance on pydantic models is slow
            d: Any = e.data  # the payload of the type `kind` names
            kind = e.type
            if kind == "payment.made" or kind == "payment.returned":
                ind.add(d.indicator_id)
                pay.add(d.payment_id)
            elif kind == "indicator.registered":
                ind.add(d.indicator_id)
                givers.add(d.indicator_id)
                if d.upper_indicator_id:
                    trf.add(d.upper_indicator_id)
            elif kind == "indicator.issued":
                ind.add(d.from_indicator_id)
                trf.add(d.indicator_id)
            elif kind in ("indicator.allocated", "indicator.compiled", "payment.planned"):
                ind.add(d.indicator_id)
                if kind == "indicator.allocated" and d.kind == "horizontal":
                    trf.add(d.allocation_id)
            elif kind == "indicator.corrected":
                targets.add(d.corrects_event_id)
            elif kind in ("fund.registered", "fund.linked"):
                funds.add(d.fund_code)
        if targets:
            await self._load_corrections(targets, ind, trf, pay)
        await self.payments.load(self.conn, pay)
        ind |= {self.payments.rows[p]["indicator_id"] for p in pay if p in self.payments}
        await self.indicators.load(self.conn, ind)
        trf |= {r["upper_indicator_id"] for k in self.corrected_registrations
                if (r := self.indicators.get(k)) and r["upper_indicator_id"]}
        await self.transfers.load(self.conn, trf)
        if givers:  # horizontal transfers booked before their giver's registration get its fund and year
            unfunded = s.transfers.c.fund_code.is_(None)
            for r in await select_in(self.conn, s.transfers, "from_indicator_id", givers, unfunded):
                self.transfers.rows.setdefault(r["transfer_id"], r)
                self.unfunded.setdefault(r["from_indicator_id"], set()).add(r["transfer_id"])
        for r in await select_in(self.conn, s.indicators, "upper_indicator_id", trf):
            self.receipts.setdefault(r["upper_indicator_id"], set()).add(r["indicator_id"])
        if funds:
            await self.funds.load(self.conn, funds)
            for r in await select_in(self.conn, s.fund_links, "fund_code", funds):
                at = r["linked_at"]  # SQLite gives it back naive (it was stored in UTC)
                self.links.setdefault(r["fund_code"], {})[r["upper_fund_code"]] = \
                    at.replace(tzinfo=dt.UTC) if at is not None and at.tzinfo is None else at
        q = select(s.accounts.c.account_hash).where(s.accounts.c.was_special.is_(True))
        self.special = set((await self.conn.execute(q)).scalars())

    async def _load_corrections(self, targets: set[str], ind: set[str], trf: set[str], pay: set[str]) -> None:
        pending = set(targets)
        for _ in range(8):  # corrections of corrections lead back to the original
            await self.applied.load(self.conn, pending)
            pending = {r["corrects"] for k in pending if (r := self.applied.get(k)) and r["corrects"]}
            pending -= self.applied.rows.keys()
            if not pending:
                break
        originals = [self.applied.get(o) for t in targets if (o := self.original_of(t))]
        effective = {a["effective"] or a["event_id"] for a in originals if a}
        await self.applied.load(self.conn, effective)
        rows: list[dict] = []
        for eid in effective:
            a = self.applied.get(eid)
            if a and a["journal_n"]:
                rows += await journal_range(self.conn, a["journal_from"], a["journal_n"])
        for event_id, postings in postings_from_journal(rows).items():
            self.own_postings[event_id] = [p for p in postings if not p.red_ink]
        ind |= {r["indicator_id"] for r in rows}
        by_type: dict[str, set[str]] = {}
        for a in originals:
            if a and a["subject"]:
                by_type.setdefault(a["event_type"], set()).add(a["subject"])
        await self.returns.load(self.conn, by_type.get("payment.returned", ()))
        await self.allocations.load(self.conn, by_type.get("indicator.allocated", ()))
        await self.plans.load(self.conn, by_type.get("payment.planned", ()))
        pay |= by_type.get("payment.made", set()) | {r["payment_id"] for r in self.returns.rows.values()}
        self.corrected_registrations = by_type.get("indicator.registered", set())
        ind |= self.corrected_registrations | by_type.get("indicator.compiled", set())
        trf |= by_type.get("indicator.issued", set()) | by_type.get("indicator.allocated", set())

    def original_of(self, event_id: str) -> str | None:
        seen: set[str] = set()
        while event_id not in seen:
            seen.add(event_id)
            row = self.applied.get(event_id)
            if row is None:
                return None
            if not row["corrects"]:
                return event_id
            event_id = row["corrects"]
        return None

    async def load_payments_to(self, account_hash: str) -> list[dict]:
        """Counted payments into an account (committed ones and this batch's)."""
        q = (s.payments.c.status == PaymentStatus.counted,)
        for row in await select_in(self.conn, s.payments, "payee_account_hash", [account_hash], *q):
            self.payments.rows.setdefault(row["payment_id"], row)
        found = [r for r in self.payments.rows.values()
                 if r["payee_account_hash"] == account_hash and r["status"] == PaymentStatus.counted]
        await self.indicators.load(self.conn, {r["indicator_id"] for r in found})
        return sorted(found, key=lambda r: r["payment_id"])

    # ------------------------------------------------------------------ booking

    def indicator(self, indicator_id: str, region: str) -> dict:
        row = self.indicators.get(indicator_id) or self.indicators.create(indicator_id=indicator_id, region=region)
        if indicator_id not in self.balances:
            self.balances[indicator_id] = balances_of(row)
        return row

    def book(self, e: Envelope, p: Posting) -> None:
        """Post to the indicator's balances, journal the moves, publish the posting with the balances."""
        indicator_id = p.indicator_id
        row = self.indicator(indicator_id, e.region)
        bal = self.balances[indicator_id]
        post(bal, p.moves)
        self.indicators.touch(indicator_id)
        applied = self.applied.rows[e.id]
        region, fund_code, budget_year = row["region"], row["fund_code"], row["budget_year"]
        pid, seq = p.posting_id, self.head_seq
        if applied["journal_from"] is None:
            applied["journal_from"] = seq + 1
        applied["journal_n"] += len(p.moves)
        for n, m in enumerate(p.moves):
            if m.project_code:
                key = (indicator_id, m.project_code)
                delta = self.project_deltas.get(key)
                if delta is None:
                    delta = self.project_deltas[key] = {"indicator_id": indicator_id, "project_code": m.project_code,
                                                        "region": region, **dict.fromkeys(s.BALANCE_COLUMNS, 0)}
                delta[COLUMN[m.debit]] += m.fen
                delta[COLUMN[m.credit]] -= m.fen
            seq += 1
            self.journal.append({
                "seq": seq, "posting_id": pid, "move_no": n, "event_id": p.event_id, "kind": p.kind,
                "region": region, "indicator_id": indicator_id, "project_code": m.project_code,
                "fund_code": fund_code, "budget_year": budget_year, "debit": m.debit, "credit": m.credit,
                "amount_fen": m.fen, "booked_on": p.booked_on, "red_ink": p.red_ink, "reverses": p.reverses, "hash": "",
            })
        self.head_seq = seq
        if not p.red_ink:
            self.own_postings.setdefault(p.event_id, []).append(p)
        if self.publish:
            self.outgoing.append(derived.posting_applied(
                self.topic, p, journal_seq=seq, region=region, fund_code=fund_code, budget_year=budget_year,
                source_event_id=e.id, source_event_type=e.type, time_iso=self.time_iso,
                balances=snapshot(bal, p.touched()), source_subject=self.applied.rows[e.id]["subject"]))

    # ------------------------------------------------------------------ writing

    async def flush_parked(self) -> None:
        still = {e.id for waiting in self.waiting.values() for e in waiting}
        if gone := sorted(self.unparked - still):
            await self.conn.execute(delete(s.parked).where(s.parked.c.event_id.in_(gone)))
        new = [{"event_id": e.id, "waits_for": key, "event_type": e.type, "region": e.region,
                "event_time": e.time.astimezone(dt.UTC),
                "body": e.to_json(), "parked_at": self.now}
               for key, waiting in self.waiting.items() for e in waiting if e.id not in self.unparked]
        if new:
            await self.conn.execute(s.parked.insert(), new)

    async def flush_payment_months(self) -> None:
        """The payments' changes in this batch as deltas of `ledger_payment_months`: a new payment
        adds its contribution, a changed one (a return, a correction, a special account) swaps its
        stored contribution for the new one."""
        deltas: dict[tuple[str, str, str], dict[str, Any]] = {}

        def add(row: Mapping[str, Any], sign: int) -> None:
            if row["status"] != PaymentStatus.counted or row["payment_date"] is None:
                return
            k = (row["indicator_id"], row["region"], row["payment_date"].strftime("%Y-%m"))
            d = deltas.setdefault(k, {"indicator_id": k[0], "region": k[1], "month": k[2], "payments": 0,
                                      "paid_fen": 0})
            d["payments"] += sign
            d["paid_fen"] += sign * (row["amount_fen"] - row["returned_fen"])

        if self.payments.dirty:
            for old in await select_in(self.conn, s.payments, "payment_id", self.payments.dirty):
                add(old, -1)
        for k in (*self.payments.new, *self.payments.dirty):
            add(self.payments.rows[k], 1)
        rows = [d for _, d in sorted(deltas.items()) if d["payments"] or d["paid_fen"]]
        await bulk.upsert(self.conn, s.payment_months, ("indicator_id", "region", "month"), rows,
                          add=("payments", "paid_fen"))

    async def flush(self) -> None:
        for k, bal in self.balances.items():
            if k in self.indicators.new or k in self.indicators.dirty:
                self.indicators.rows[k].update({COLUMN[a]: bal[a] for a in CHART})
        prev = self.head_hash
        for row in self.journal:
            prev = row["hash"] = link(prev, row)
        conn = self.conn
        await bulk.insert(conn, s.journal, self.journal)
        await self.flush_payment_months()  # before the payments: the stored rows are the old state
        for rows in (self.applied, self.indicators, self.transfers, self.payments, self.allocations, self.plans,
                     self.returns, self.funds):
            await rows.flush(conn)
        await bulk.upsert(conn, s.project_balances, ("indicator_id", "project_code"),
                          list(self.project_deltas.values()), add=s.BALANCE_COLUMNS, keep=("region",))
        await bulk.upsert(conn, s.regions, ("code",), list(self.regions.values()))
        await bulk.upsert(conn, s.projects, ("project_code",), list(self.projects.values()))
        await bulk.insert_ignore(conn, s.projects, ("project_code",), list(self.project_stubs.values()))
        await bulk.upsert(conn, s.groups, ("group_code",), list(self.groups.values()))
        await bulk.upsert(conn, s.accounts, ("account_hash",), list(self.accounts.values()))
        await bulk.insert_ignore(conn, s.fund_links, ("fund_code", "upper_fund_code"), self.new_links)
        await self.flush_parked()
        if self.journal:
            await conn.execute(update(s.chain).where(s.chain.c.id == 1).values(last_seq=self.head_seq, last_hash=prev))
        counts = [{"name": k, "value": v} for k, v in sorted(self.counts.items()) if v]
        await bulk.upsert(conn, s.counters, ("name",), counts, add=("value",))
        if self.write_outbox and len(self.outgoing) > 1:
            # The derived stream goes to the outbox in this transaction. The projection's own outbox
            # insert is an executemany (~16 µs a row on PostgreSQL, COPY ~4 µs): every event but the
            # last is copied here, in order; the last is returned to the projection, whose insert
            # follows ours (so the outbox order is kept) and which wakes the relay after commit.
            head, self.outgoing = self.outgoing[:-1], self.outgoing[-1:]
            await bulk.insert(conn, s.outbox, [{"topic": o.topic, "key": o.key, "value": o.value} for o in head])

