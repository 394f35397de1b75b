"""An indicator (I:<id>): its registration and its books as the ledger posted them — ALC-01, 02, 05,
06, IND-05, USE-01, PRG-01…03, 05, 06.

The ledger books events in the order it receives them, and upstream systems deliver separately:
a payment may reach it before the allocation it draws on. The indicator therefore keeps its own
view of the books in the order the events *happened*: each posting waits until the ledger's
watermark says every posting up to its time has arrived — in a state key of its own per day
(`Q:I:<id>:<day>`), beside the indicator: a replay holds the postings of months — then the postings and the
checkpoints (PRG-01/02/03/05) are taken in time order. A payment is judged against the balance
it met then (USE-01, for the indicator and for the project's share of it), an allocation against
the pending balance then (ALC-02), a checkpoint against the books as they stood on its day."""

from __future__ import annotations

import bisect
import datetime as dt
import functools

import msgspec

from contracts.accounts import CREDIT_ACCOUNTS
from services.alerts import facts as f
from services.alerts.clock import day_key
from services.alerts.entities.base import Ctx, Entity
from services.alerts.findings import Evidence
from services.alerts.model import Account, Allocation, IndicatorDoc, Posting
from services.alerts.rules import allocation as alc
from services.alerts.rules import indicators as ind
from services.alerts.rules import progress as prg
from services.alerts.rules import usage as use

RECENT_SEQS = 32  # journal sequences kept to recognise a posting the ledger's relay sent again (it sends a batch again whole, at once)
_PAY_SOURCES = (Account.own_spending.value, Account.payment_plan.value)
_ALLOCATED_TO = (Account.own_spending.value, Account.lower_transfer.value, Account.horizontal.value)


_checkpoint_date = functools.lru_cache(maxsize=1024)(prg.checkpoint_date)  # (year, MM-DD): read per posting


def _order(post: Posting) -> tuple[str, str, int]:
    return post.order


class Checkpoint(msgspec.Struct, frozen=True, array_like=True):
    rule: str  # PRG-01 | PRG-02 | PRG-03 | PRG-05
    day: str  # ISO date, judged with the books as they stood at its end
    moment: str  # the end of that day, comparable (clock.key)
    since: str | None = None  # PRG-02: the last payment (or first allocation) before it


def checkpoint(rule: str, day: dt.date, since: str | None = None) -> Checkpoint:
    return Checkpoint(rule, day.isoformat(), day_key(day + dt.timedelta(days=1)), since)


class Indicator(Entity):
    doc: IndicatorDoc | None = None
    level: str = "county"
    region: str | None = None
    books: dict[str, int] = msgspec.field(default_factory=dict)  # natural-side balances (fen), in business order
    projects: dict[str, int] = msgspec.field(default_factory=dict)  # own-spending balance allocated per project
    pending_days: list[str] = msgspec.field(default_factory=list)  # UTC days with postings not yet in time order
    pending_head: str = ""  # the first of them (its at_key; "": none)
    pending: list[Posting] = msgspec.field(default_factory=list)  # before the day keys: moved to them when read
    settled: str = ""  # moment up to which the books are in time order
    seqs: list[int] = msgspec.field(default_factory=list)
    checkpoints: list[Checkpoint] = msgspec.field(default_factory=list)
    received_on: str | None = None
    first_allocation: str | None = None
    last_payment: str | None = None
    compiled: str | None = None
    window_base: int | None = None  # PRG-06: paid before the year-end window
    surged: bool = False
    last: Posting | None = None  # the last posting taken (its evidence is built when a finding needs it)
    last_books: dict[str, int] = msgspec.field(default_factory=dict)  # the books after it
    correcting: Posting | None = None  # the red-ink posting of a correction whose postings are being booked

    # ------------------------------------------------------------------ handlers

    def registered(self, key: str, fact: f.IndicatorRegistered, ctx: Ctx) -> bool:
        if self.doc is not None:
            return False
        doc = self.doc = fact.doc
        self.level, self.region = fact.level, fact.doc.region
        if doc.fund in ctx.funds or ctx.complete_up_to("reference", doc.at):
            self._self_entered(doc, ctx)
        else:
            self.park("reference", doc.at, fact)
        if not doc.advance:
            self._becomes_pending(dt.date.fromisoformat(doc.on), ctx)
        elif c := ctx.rules.config("ALC-06", doc.budget_year, doc.region):
            self.open_deadline("ALC-06", alc.alc06_deadline(c, doc))
            if self.compiled:
                self.complete_deadline("ALC-06", dt.date.fromisoformat(self.compiled), ctx)
        return True

    def allocated(self, key: str, fact: f.IndicatorAllocated, ctx: Ctx) -> bool:
        """ALC-05 reads the indicator's fund and the fund catalogue: wait for them if they are not here yet."""
        if (self.doc is None or self.doc.fund not in ctx.funds) and not ctx.complete_up_to("reference", fact.allocation.at):
            self.park("reference", fact.allocation.at, fact)
            return True
        self._scope(fact.allocation, ctx)
        return False

    def compiled_into_budget(self, key: str, fact: f.IndicatorCompiled, ctx: Ctx) -> bool:
        if self.compiled is not None and self.compiled <= fact.on:
            return False
        self.compiled = fact.on
        on = dt.date.fromisoformat(fact.on)
        self.complete_deadline("ALC-06", on, ctx, (fact.ev,))
        if self.doc is not None and self.doc.advance:
            self._becomes_pending(on, ctx)
        return True

    def booked(self, key: str, fact: f.PostingBooked, ctx: Ctx) -> bool:
        post = fact.posting
        adopted = self._adopt(ctx)
        if post.seq in self.seqs:
            return adopted  # the same posting again
        late = post.at_key <= self.settled  # later than the ledger's lateness allows: taken as it comes
        if not late and not self._wait(post, ctx):
            return adopted  # the same posting again, still waiting
        self.seqs = [*self.seqs[-RECENT_SEQS + 1:], post.seq]
        self.region = self.region or post.region
        if late:
            self._take(post, ctx)
        self._settle(ctx)
        return True

    def decide(self, key: str, fact: f.Fact, ctx: Ctx) -> None:
        if isinstance(fact, f.IndicatorRegistered):
            self._self_entered(fact.doc, ctx)
        elif isinstance(fact, f.IndicatorAllocated):
            self._scope(fact.allocation, ctx)

    # ------------------------------------------------------------------ time

    def on_time(self, key: str, ctx: Ctx) -> bool:
        changed = self._adopt(ctx)
        changed = self._settle(ctx) or changed  # the books up to the watermark first: a deadline they complete is not missed
        return super().on_time(key, ctx) or changed

    def wakeups(self) -> list[tuple[str, str]]:
        out = super().wakeups()
        head = self.pending[0].at_key if self.pending else self.pending_head
        moments = [head] if head else []
        moments += [cp.moment for cp in self.checkpoints]
        if moments:
            out.append(("ledger", min(moments)))
        return out

    def _settle(self, ctx: Ctx) -> bool:
        """Take the postings and checkpoints the ledger's watermark has passed, in time order (one at a
        time: a posting may schedule a checkpoint that comes before the next posting)."""
        mark = ctx.now.marks.get("ledger", "")
        if not mark:
            return False
        changed = False
        while True:
            post = self._first(ctx) if self.pending_head and self.pending_head <= mark else None
            cp = min(self.checkpoints, key=lambda c: (c.moment, c.rule), default=None)
            if cp is not None and cp.moment > mark:
                cp = None
            if post is None and cp is None:
                break
            if cp is not None and (post is None or cp.moment < post.at_key):
                self.checkpoints.remove(cp)
                self._checkpoint(cp, ctx)
            else:
                assert post is not None
                following = self._pop_first(ctx)
                whole = following is None or following.source_event_id != post.source_event_id \
                    or following.at_key > mark
                self._take(post, ctx, event_done=whole)
            changed = True
        if self.settled < mark:
            self.settled = mark
            changed = True
        return changed

    # ------------------------------------------------------------------ postings waiting, one state key per day

    def _day_key(self, day: str) -> str:
        return f"Q:{self.ident}:{day}"

    def _wait(self, post: Posting, ctx: Ctx) -> bool:
        """Keep a posting until the ledger's watermark passes it; False: it is waiting already. Only the
        day it happened on is read and written: a year of postings is not carried on every message."""
        day = post.at_key[:10]
        state_key = self._day_key(day)
        waiting: list[Posting] = ctx.state.get(state_key) or []
        if any(p.seq == post.seq for p in waiting):
            return False
        bisect.insort(waiting, post, key=_order)  # after equal keys: as append + stable sort
        ctx.state.put(state_key, waiting)
        if day not in self.pending_days:
            bisect.insort(self.pending_days, day)
        if not self.pending_head or post.at_key < self.pending_head:
            self.pending_head = post.at_key
        return True

    def _first(self, ctx: Ctx) -> Posting | None:
        while self.pending_days:
            waiting = ctx.state.get(self._day_key(self.pending_days[0]))
            if waiting:
                return waiting[0]
            self.pending_days.pop(0)
        return None

    def _pop_first(self, ctx: Ctx) -> Posting | None:
        """Take the first waiting posting off; returns the one after it (None: no more)."""
        state_key = self._day_key(self.pending_days[0])
        waiting = ctx.state.get(state_key)
        waiting.pop(0)
        if waiting:
            ctx.state.put(state_key, waiting)
        else:
            ctx.state.put(state_key, None)
            self.pending_days.pop(0)
        following = self._first(ctx)
        self.pending_head = following.at_key if following is not None else ""
        return following

    def _adopt(self, ctx: Ctx) -> bool:
        """A state written before postings waited in day keys: its list moves to them, once."""
        if not self.pending:
            return False
        old, self.pending = self.pending, []
        for post in old:
            self._wait(post, ctx)
        return True

    # ------------------------------------------------------------------ the books in business order

    def _take(self, post: Posting, ctx: Ctx, *, event_done: bool = True) -> None:
        """Book one posting in business order. A red-ink correction is judged once all the postings of its
        event are booked (the reversal and the re-post: a lowered allocation is only overdrawn if what
        remains is less than what was paid)."""
        fund = self._fund(ctx)
        year, region = int(post.on[:4]), post.region
        if post.kind == "payment.made" and not post.red_ink:
            for m in post.moves:
                if m.debit != Account.paid or m.credit not in _PAY_SOURCES:
                    continue
                available = self.books.get(m.credit, 0)
                project = self.projects.get(m.project) if m.project and m.credit == Account.own_spending else None
                if m.fen <= available and (project is None or m.fen <= project):
                    continue  # within both balances: nothing to judge (the evidence is not built for nothing)
                ev = (*self._evidence(), post.evidence(self.books))
                what = "the payment plan" if m.credit == Account.payment_plan else "the available balance"
                found = ctx.rules.run(use.use01_beyond_balance, year, region, post, what, available, m.fen, fund, ev)
                if not found and project is not None:
                    ctx.rules.run(use.use01_beyond_balance, year, region, post,
                                  f"the remaining allocation of project {m.project}", project, m.fen, fund, ev)
        elif not post.red_ink:
            for m in post.moves:
                pending = self.books.get(Account.pending, 0)
                if m.credit == Account.pending and m.debit in _ALLOCATED_TO and m.fen > pending:
                    ev = (*self._evidence(), post.evidence(self.books))
                    ctx.rules.run(alc.alc02_beyond_pending, year, region, post, pending, m.fen, fund, ev)
        for m in post.moves:
            self._move(m.debit, m.fen, m.project)
            self._move(m.credit, -m.fen, m.project)
        self.last, self.last_books = post, dict(self.books)
        if post.red_ink and self.correcting is None:
            self.correcting = post
        if event_done and self.correcting is not None:
            corrected, self.correcting = self.correcting, None
            ev = (*self._evidence(),)
            ctx.rules.run(use.use01_overdrawn, year, region, corrected, self.books.get(Account.own_spending, 0), fund,
                          ev)
            if self.books.get(Account.pending, 0) < 0:
                ctx.rules.run(alc.alc02_beyond_pending, year, region, corrected, self.books.get(Account.pending, 0), 0,
                              fund, ev)
        on = dt.date.fromisoformat(post.on)
        if post.allocated_fen > 0 and (self.first_allocation is None or post.on < self.first_allocation):
            self.first_allocation = post.on
            self.complete_deadline("ALC-01", on, ctx, (post.evidence(self.books),))
            if self.last_payment is None:
                self._schedule_idle(on, ctx)
        if post.paid_fen > 0 and post.kind == "payment.made":
            if self.last_payment is None or post.on > self.last_payment:
                self.last_payment = post.on
                self._schedule_idle(on, ctx)
            self._surge(post, ctx)

    def _move(self, account: str, debit_fen: int, project: str | None) -> None:
        self.books[account] = self.books.get(account, 0) + (-debit_fen if account in CREDIT_ACCOUNTS else debit_fen)
        if project and account == Account.own_spending:
            self.projects[project] = self.projects.get(project, 0) + debit_fen

    def _checkpoint(self, cp: Checkpoint, ctx: Ctx) -> None:
        day = dt.date.fromisoformat(cp.day)
        fund, ev = self._fund(ctx), self._evidence()
        region = self.region or (self.doc.region if self.doc else "")
        iid = self.ident[2:]
        if cp.rule == "PRG-02":
            ctx.rules.run(prg.prg02_idle, day.year, region, iid, region, dt.date.fromisoformat(cp.since or cp.day),
                          day, self.books, ev, fund)
            return
        if self.doc is None:
            return
        received = dt.date.fromisoformat(self.received_on or self.doc.on)
        if cp.rule == "PRG-01":
            ctx.rules.run(prg.prg01_behind_schedule, day.year, region, iid, region, received, day, self.books, ev, fund)
        elif cp.rule == "PRG-03":
            ctx.rules.run(prg.prg03_unspent, day.year, region, iid, region, day, self.books, ev, fund)
        elif cp.rule == "PRG-05":
            ctx.rules.run(prg.prg05_held_up, day.year, region, iid, region, received, day, self.books, ev, fund)

    def _schedule_idle(self, since: dt.date, ctx: Ctx) -> None:
        self.checkpoints = [cp for cp in self.checkpoints if cp.rule != "PRG-02"]
        c = ctx.rules.config("PRG-02", since.year, self.region or "")
        if c is not None:
            day = since + dt.timedelta(days=c.int("idle_days"))
            self.checkpoints.append(checkpoint("PRG-02", day, since.isoformat()))

    def _surge(self, post: Posting, ctx: Ctx) -> None:
        on = dt.date.fromisoformat(post.on)
        c = ctx.rules.config("PRG-06", on.year, post.region)
        if c is None or self.doc is None or self.surged:
            return
        if on < _checkpoint_date(on.year, c.text("window_start")):
            return
        paid = self.books.get(Account.paid, 0)
        if self.window_base is None:
            self.window_base = paid - post.paid_fen
        found = ctx.rules.run(prg.prg06_surge, on.year, post.region, self.doc.indicator_id, self.doc.region, on, paid,
                              paid - self.window_base, (*self._evidence(),), self.doc.fund)
        if found:
            self.surged = True

    # ------------------------------------------------------------------ registration

    def _becomes_pending(self, on: dt.date, ctx: Ctx) -> None:
        """The money is available to allocate from `on` (registration, or an advance issue's compilation):
        ALC-01's thirty days and the progress checkpoints run from then."""
        doc = self.doc
        assert doc is not None
        self.received_on = on.isoformat()
        year, region = doc.budget_year, doc.region
        if c := ctx.rules.config("ALC-01", year, region):
            self.open_deadline("ALC-01", alc.alc01_deadline(c, doc, on))
            if self.first_allocation:
                self.complete_deadline("ALC-01", dt.date.fromisoformat(self.first_allocation), ctx)
        for rule in ("PRG-01", "PRG-03"):
            if c := ctx.rules.config(rule, year, region):
                for mmdd in c.checkpoints:
                    day = _checkpoint_date(year, mmdd)
                    if day > on:
                        self.checkpoints.append(checkpoint(rule, day))
        if c := ctx.rules.config("PRG-05", year, region):
            self.checkpoints.append(checkpoint("PRG-05", on + dt.timedelta(days=c.int("held_days"))))

    def _self_entered(self, doc: IndicatorDoc, ctx: Ctx) -> None:
        ctx.rules.run(ind.ind05_self_entered, doc.budget_year, doc.region, doc, ctx.funds, self.level)

    def _scope(self, a: Allocation, ctx: Ctx) -> None:
        doc = self.doc
        fund = ctx.funds.get(doc.fund) if doc else ctx.fund_of_indicator(a.indicator_id)
        ctx.rules.run(alc.alc05_outside_scope, int(a.on[:4]), a.region, a, fund, doc.functional_class if doc else None)

    def _fund(self, ctx: Ctx) -> str | None:
        if self.doc is not None:
            return self.doc.fund
        meta = ctx.imeta(self.ident[2:])
        return meta.fund if meta else None

    def _evidence(self) -> tuple[Evidence, ...]:
        out = []
        if self.doc is not None:
            out.append(self.doc.evidence())
        if self.last is not None:
            out.append(self.last.evidence(self.last_books))
        return tuple(out)


Indicator.HANDLERS = {
    f.IndicatorRegistered: Indicator.registered,
    f.IndicatorAllocated: Indicator.allocated,
    f.IndicatorCompiled: Indicator.compiled_into_budget,
    f.PostingBooked: Indicator.booked,
}
