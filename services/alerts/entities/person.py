"""A person (P:<hash>): registry entries, external records, the subsidies paid to them — BEN-01…04, 09.

Everything about one person meets here, whichever county paid (BEN-04 across regions)."""

from __future__ import annotations

import msgspec

from services.alerts import facts as f
from services.alerts.entities.base import HISTORY, Ctx, Entity
from services.alerts.findings import Evidence
from services.alerts.model import Line, Pay, Record
from services.alerts.rules import recipients as ben


class Person(Entity):
    registry: list[f.PersonRegistered] = msgspec.field(default_factory=list)  # by `since`
    records: list[Record] = msgspec.field(default_factory=list)
    units: dict[str, Evidence] = msgspec.field(default_factory=dict)  # units the person works for (public employee)
    representative_of: dict[str, Evidence] = msgspec.field(default_factory=dict)  # enterprise → evidence
    history: list[tuple[Pay, Line]] = msgspec.field(default_factory=list)  # subsidies paid, in business order

    def entry_on(self, day: str) -> f.PersonRegistered | None:
        """The registry entry in force on `day`: the latest one whose `since` is not after it."""
        found = None
        for entry in self.registry:
            if entry.since <= day:
                found = entry
        return found

    # ------------------------------------------------------------------ handlers

    def registered(self, key: str, fact: f.PersonRegistered, ctx: Ctx) -> bool:
        if any(e.event_id == fact.event_id for e in self.registry):
            return False
        self.registry.append(fact)
        self.registry.sort(key=lambda e: (e.since, e.at, e.event_id))
        for p, line in self.history:  # what the registry now says about subsidies already paid
            self._registry_checks(p, line, ctx, final=False)
        self.release(key, ctx, force=lambda x: self._known(x.fact))
        return True

    def recorded(self, key: str, fact: f.PersonRecorded, ctx: Ctx) -> bool:
        rec = fact.record
        if any(r.record_id == rec.record_id for r in self.records):
            return False
        self.records.append(rec)
        for p, line in self.history:  # a record that arrives after the payment still counts
            self._record_checks(p, line, [rec], ctx)
        if rec.kind == "public_employee" and rec.unit:
            self.units[rec.unit] = rec.ev
            for enterprise in self.representative_of:
                ctx.derived.append(f.RepresentativeEmployed(key=f"E:{enterprise}", unit=rec.unit, ev=rec.ev))
        return True

    def represents(self, key: str, fact: f.RepresentativeNamed, ctx: Ctx) -> bool:
        if fact.enterprise in self.representative_of:
            return False
        self.representative_of[fact.enterprise] = fact.ev
        for unit, ev in self.units.items():
            ctx.derived.append(f.RepresentativeEmployed(key=f"E:{fact.enterprise}", unit=unit, ev=ev))
        return True

    def paid(self, key: str, fact: f.BeneficiaryPaid, ctx: Ctx) -> bool:
        p, line = fact.pay, fact.line
        if any(q.pid == p.pid for q, _ in self.history) or any(
                isinstance(x.fact, f.BeneficiaryPaid) and x.fact.pay.pid == p.pid for x in self.parked):
            return False  # decided already (a redelivery)
        if p.lines == 0:
            fund = ctx.fund_of_indicator(p.ind)
            if fund is None and not ctx.complete_up_to("reference", p.at):
                self.park("reference", p.at, fact)  # a payment to a person: a subsidy only from a household fund
                return True
            if fund is None or not fund.for_households:
                return False  # not a per-person subsidy (到人到户): the beneficiary rules do not apply
        self._take(p, line, ctx)
        return True

    def decide(self, key: str, fact: f.Fact, ctx: Ctx) -> None:
        if isinstance(fact, f.BeneficiaryPaid):
            p, line = fact.pay, fact.line
            if any(q.pid == p.pid for q, _ in self.history):
                self._registry_checks(p, line, ctx, final=True)  # the absence check it waited for
                return
            if p.lines == 0:
                fund = ctx.fund_of_indicator(p.ind)
                if fund is None or not fund.for_households:
                    return
            self._take(p, line, ctx)

    def _known(self, fact: f.Fact) -> bool:
        """A parked payment the registry now covers can be decided before its family is complete."""
        return isinstance(fact, f.BeneficiaryPaid) and self.entry_on(fact.pay.day.isoformat()) is not None \
            and fact.pay.lines > 0

    # ------------------------------------------------------------------ checks

    def _take(self, p: Pay, line: Line, ctx: Ctx) -> None:
        """A subsidy reached this person: check it against what is known, keep it for what comes later."""
        year = p.day.year
        ctx.rules.run(ben.ben04_twice, year, p.region, p, line, self.history)
        self._record_checks(p, line, self.records, ctx)
        self.history.append((p, line))
        self.history.sort(key=lambda h: h[0].key)
        del self.history[:-HISTORY]
        final = ctx.complete_up_to("reference", p.at)
        self._registry_checks(p, line, ctx, final=final)
        if not final and self.entry_on(p.day.isoformat()) is None:
            self.park("reference", p.at, f.BeneficiaryPaid(key=f"P:{line.person}", pay=p, line=line))

    def _registry_checks(self, p: Pay, line: Line, ctx: Ctx, *, final: bool) -> None:
        """BEN-09 and a removal are positive (decided whenever the entry is known); "not in the
        registry" only once the registry is complete up to the payment (`final`)."""
        entry = self.entry_on(p.day.isoformat())
        status = entry.status if entry else None
        year = p.day.year
        if status is not None or final:
            ctx.rules.run(ben.ben01_not_in_registry, year, p.region, p, line, status)
        if entry is not None:
            ctx.rules.run(ben.ben09_stable, year, p.region, p, line, entry.status, entry.since, entry.household)

    def _record_checks(self, p: Pay, line: Line, records: list[Record], ctx: Ctx) -> None:
        year = p.day.year
        ctx.rules.run(ben.ben02_disqualifying_record, year, p.region, p, line, records)
        ctx.rules.run(ben.ben03_deceased, year, p.region, p, line, records)


Person.HANDLERS = {
    f.PersonRegistered: Person.registered,
    f.PersonRecorded: Person.recorded,
    f.RepresentativeNamed: Person.represents,
    f.BeneficiaryPaid: Person.paid,
}
