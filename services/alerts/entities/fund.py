"""A fund (F:<code>) of the catalogue: its designated upper fund and every link made later — IND-07.

A local fund designates exactly one upper fund (指定关联, seed 004); the designation of its
registration and any later link together name its upper funds, in whatever order they came."""

from __future__ import annotations

import msgspec

from services.alerts import facts as f
from services.alerts.entities.base import Ctx, Entity
from services.alerts.findings import Evidence
from services.alerts.rules import indicators as ind


class FundLinks(Entity):
    designated: str | None = None
    links: list[str] = msgspec.field(default_factory=list)
    last: Evidence | None = None
    region: str | None = None

    def designated_by(self, key: str, fact: f.FundDesignated, ctx: Ctx) -> bool:
        if self.designated == fact.upper and self.region is not None:
            return False
        self.designated, self.region = fact.upper, self.region or fact.region
        self._check(key, fact.ev, ctx)
        return True

    def linked(self, key: str, fact: f.FundLinked, ctx: Ctx) -> bool:
        if fact.upper in self.links:
            return False
        self.links.append(fact.upper)
        self.region = self.region or fact.region
        self._check(key, fact.ev, ctx)
        return True

    def _check(self, key: str, ev: Evidence, ctx: Ctx) -> None:
        uppers = sorted({u for u in (self.designated, *self.links) if u})
        if len(uppers) < 2:
            return
        year = int(ev.time[:4]) if ev.time else None
        region = self.region or ev.region or "000000"
        ctx.rules.run(ind.ind07_several_uppers, year, region, key[2:], uppers, ev, region)


FundLinks.HANDLERS = {
    f.FundDesignated: FundLinks.designated_by,
    f.FundLinked: FundLinks.linked,
}
