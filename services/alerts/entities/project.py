"""A project (J:<code>): its place in the project library, the money allocated and paid to it, its
performance targets and reports — ALC-04, USE-08, PERF-01…03.

"Not in the project library" (ALC-04) is an absence: it is decided once the reference family is
complete up to the allocation. Performance management (PERF-01, PERF-03) applies to projects of
the library, from their first allocation on."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import msgspec

from services.alerts import facts as f
from services.alerts.entities.base import HISTORY, Ctx, Entity
from services.alerts.model import Allocation, Pay
from services.alerts.rules import allocation as alc
from services.alerts.rules import performance as perf
from services.alerts.rules import progress as prg
from services.alerts.rules import usage as use


class Library(msgspec.Struct, frozen=True, array_like=True):
    start: str
    end: str
    fund: str | None = None


class Project(Entity):
    library: Library | None = None
    allocations: list[Allocation] = msgspec.field(default_factory=list)
    pays: list[Pay] = msgspec.field(default_factory=list)
    region: str | None = None
    targets_on: str | None = None
    targets: dict[str, f.Target] = msgspec.field(default_factory=dict)
    reported: dict[str, str] = msgspec.field(default_factory=dict)  # period end → first report date
    progress: list[f.ProgressReported] = msgspec.field(default_factory=list)  # reports waiting for targets

    @property
    def first_allocation(self) -> Allocation | None:
        return min(self.allocations, key=lambda a: (a.on, a.allocation_id)) if self.allocations else None

    # ------------------------------------------------------------------ handlers

    def registered(self, key: str, fact: f.ProjectRegistered, ctx: Ctx) -> bool:
        library = Library(fact.start, fact.end, fact.fund)
        if self.library == library:
            return False
        self.library = library
        self.release(key, ctx, force=lambda x: isinstance(x.fact, f.ProjectAllocated))
        for p in self.pays:
            ctx.rules.run(use.use08_outside_period, p.day.year, p.region, p, library.start, library.end)
        self.pays = []
        self._open_performance(key, ctx)
        return True

    def allocated(self, key: str, fact: f.ProjectAllocated, ctx: Ctx) -> bool:
        a = fact.allocation
        if any(x.allocation_id == a.allocation_id for x in self.allocations):
            return False
        self.allocations.append(a)
        self.region = self.region or a.region
        if self.library is not None or ctx.complete_up_to("reference", a.at):
            self._library_check(a, ctx)
        else:
            self.park("reference", a.at, fact)
        self._open_performance(key, ctx)
        return True

    def decide(self, key: str, fact: f.Fact, ctx: Ctx) -> None:
        if isinstance(fact, f.ProjectAllocated):
            self._library_check(fact.allocation, ctx)

    def paid(self, key: str, fact: f.ProjectPaid, ctx: Ctx) -> bool:
        p = fact.pay
        if self.library is not None:
            ctx.rules.run(use.use08_outside_period, p.day.year, p.region, p, self.library.start, self.library.end)
            return False  # judged: nothing to keep
        if any(q.pid == p.pid for q in self.pays) or ctx.complete_up_to("reference", p.at):
            return False  # a project the library does not have by then: ALC-04 said so at allocation
        self.pays.append(p)  # the project's registration may still come (within the lateness): judged then
        self.pays.sort(key=lambda q: q.key)
        del self.pays[:-HISTORY]
        return True

    def targets_set(self, key: str, fact: f.TargetsSet, ctx: Ctx) -> bool:
        if self.targets_on is None or fact.on < self.targets_on:
            self.targets_on = fact.on
        self.region = self.region or fact.region
        self.targets.update({t.metric: t for t in fact.targets})
        self.complete_deadline("PERF-01", dt.date.fromisoformat(self.targets_on), ctx, (fact.ev,))
        waiting, self.progress = self.progress, []
        for report in waiting:
            self._behind(key, report, ctx)
        return True

    def reported_progress(self, key: str, fact: f.ProgressReported, ctx: Ctx) -> bool:
        pe = fact.period_end
        if pe not in self.reported or fact.on < self.reported[pe]:
            self.reported[pe] = fact.on
        self.complete_deadline(f"PERF-03@{pe}", dt.date.fromisoformat(fact.on), ctx, (fact.ev,))
        if self.targets:
            self._behind(key, fact, ctx)
        elif all(r.report_id != fact.report_id for r in self.progress):
            self.progress.append(fact)
        return True

    # ------------------------------------------------------------------ checks

    def _library_check(self, a: Allocation, ctx: Ctx) -> None:
        ctx.rules.run(alc.alc04_not_in_library, int(a.on[:4]), a.region, a, self.library is not None)

    def _open_performance(self, key: str, ctx: Ctx) -> None:
        """Open PERF-01 and PERF-03 from the first allocation (an earlier allocation that arrives
        later moves a deadline that has not acted yet)."""
        first = self.first_allocation
        if self.library is None or first is None:
            return
        code, on = key[2:], dt.date.fromisoformat(first.on)
        fund = ctx.fund_of_indicator(first.indicator_id)
        ev = (first.evidence(),)
        if c := ctx.rules.config("PERF-01", on.year, first.region):
            item = self.deadlines.get("PERF-01")
            if item is None or (item.start > first.on and not item.belled and item.done is None):
                self.deadlines["PERF-01"] = perf.perf01_deadline(c, code, first.region, on, ev,
                                                                 fund.code if fund else None)
                if self.targets_on:
                    self.complete_deadline("PERF-01", dt.date.fromisoformat(self.targets_on), ctx)
        if c := ctx.rules.config("PERF-03", on.year, first.region):
            for mmdd in c.checkpoints:
                pe = prg.checkpoint_date(on.year, mmdd)
                name = f"PERF-03@{pe.isoformat()}"
                if name in self.deadlines or not perf.perf03_applies(c, on, pe):
                    continue
                self.deadlines[name] = perf.perf03_deadline(c, code, first.region, pe, ev, fund.code if fund else None)
                done = self.reported.get(pe.isoformat())
                if done:
                    self.complete_deadline(name, dt.date.fromisoformat(done), ctx)

    def _behind(self, key: str, report: f.ProgressReported, ctx: Ctx) -> None:
        target = self.targets.get(report.metric)
        start = self.targets_on or (self.first_allocation.on if self.first_allocation else None)
        if target is None or start is None:
            return
        pe = dt.date.fromisoformat(report.period_end)
        ctx.rules.run(perf.perf02_behind, pe.year, report.region, key[2:], report.region, report.at, report.metric,
                      target.name, Decimal(target.value), Decimal(report.value), dt.date.fromisoformat(start),
                      dt.date.fromisoformat(target.deadline), pe, (report.ev,))


Project.HANDLERS = {
    f.ProjectRegistered: Project.registered,
    f.ProjectAllocated: Project.allocated,
    f.ProjectPaid: Project.paid,
    f.TargetsSet: Project.targets_set,
    f.ProgressReported: Project.reported_progress,
}
