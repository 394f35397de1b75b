"""An enterprise (E:<统一社会信用代码>): its business records and the payments to it — BEN-06, 07, 08.

Every check is positive (a bad status before the payment, a founding date shortly before it, a
representative on the payer's staff), so each is made when the payment arrives and again when a
record it looks for arrives later."""

from __future__ import annotations

import msgspec

from services.alerts import facts as f
from services.alerts.entities.base import HISTORY, Ctx, Entity
from services.alerts.findings import Evidence
from services.alerts.model import Pay, Record
from services.alerts.rules import recipients as ben


class Enterprise(Entity):
    registration: Record | None = None
    statuses: list[Record] = msgspec.field(default_factory=list)
    related: dict[str, Evidence] = msgspec.field(default_factory=dict)  # paying units its representative works for
    pays: list[Pay] = msgspec.field(default_factory=list)

    def registered(self, key: str, fact: f.BusinessRegistered, ctx: Ctx) -> bool:
        if self.registration is not None and self.registration.record_id == fact.record.record_id:
            return False
        self.registration = fact.record
        for p in self.pays:
            ctx.rules.run(ben.ben07_young_enterprise, p.day.year, p.region, p, self.registration)
        return True

    def status_recorded(self, key: str, fact: f.BusinessStatusRecorded, ctx: Ctx) -> bool:
        if any(r.record_id == fact.record.record_id for r in self.statuses):
            return False
        self.statuses.append(fact.record)
        for p in self.pays:
            ctx.rules.run(ben.ben06_bad_status, p.day.year, p.region, p, self.statuses)
        return True

    def representative_employed(self, key: str, fact: f.RepresentativeEmployed, ctx: Ctx) -> bool:
        if fact.unit in self.related:
            return False
        self.related[fact.unit] = fact.ev
        for p in self.pays:
            if p.payer_unit == fact.unit:
                ctx.rules.run(ben.ben08_related_party, p.day.year, p.region, p, self.related)
        return True

    def paid(self, key: str, fact: f.EnterprisePaid, ctx: Ctx) -> bool:
        p = fact.pay
        if any(q.pid == p.pid for q in self.pays):
            return False
        year, region = p.day.year, p.region
        ctx.rules.run(ben.ben06_bad_status, year, region, p, self.statuses)
        ctx.rules.run(ben.ben07_young_enterprise, year, region, p, self.registration)
        ctx.rules.run(ben.ben08_related_party, year, region, p, self.related)
        kept = [q for q in self.pays if not ctx.complete_up_to("reference", q.at)]
        if ctx.complete_up_to("reference", p.at):
            if len(kept) == len(self.pays):
                return False  # judged with every record up to it: nothing to keep
            self.pays = kept
            return True
        kept.append(p)  # a record arriving within the lateness judges it again
        kept.sort(key=lambda q: q.key)
        self.pays = kept[-HISTORY:]
        return True


Enterprise.HANDLERS = {
    f.BusinessRegistered: Enterprise.registered,
    f.BusinessStatusRecorded: Enterprise.status_recorded,
    f.RepresentativeEmployed: Enterprise.representative_employed,
    f.EnterprisePaid: Enterprise.paid,
}
