"""Who exists: the household structure of the poor-household registry per county and the
enterprises (companies and farmers' cooperatives) that carry out projects. Both are
prefix-stable: member j of a county or the n-th enterprise of a programme is the same
whatever the size of the data set."""

from __future__ import annotations

import datetime as dt
import random
from array import array
from dataclasses import dataclass, field

from services.demo import catalogue as cat
from services.demo import naming as nm
from services.demo.catalogue import Program
from services.demo.naming import h64

_SIZES = (1, 2, 2, 2, 3, 3, 3, 4, 4, 5)  # members per household


@dataclass
class Registry:
    """Household structure of one county: member j belongs to household hh[j]."""

    county: str
    hh: array  # household index per member
    first: array  # first member index per household
    status: list[str]  # per household
    township: list[str]  # per household
    poor: array = field(default_factory=lambda: array("l"))  # members of poor households
    poor_heads: array = field(default_factory=lambda: array("l"))
    _pools: dict = field(default_factory=dict)

    def household_id(self, j: int) -> str:
        return f"HH{self.county}{self.hh[j]:06d}"

    def pool(self, sub: cat.Subsidy) -> array:
        """Members of poor households eligible for a subsidy: household heads for household
        subsidies (到户), else members whose birth year fits (students, working age …)."""
        key = (sub.per_household, sub.born)
        if key not in self._pools:
            lo, hi = sub.born
            members = self.poor_heads if sub.per_household else self.poor
            self._pools[key] = array("l", (j for j in members if lo <= nm.birth_year(self.county, j) <= hi))
        return self._pools[key]


def build_registry(seed: int, county: str, members: int) -> Registry:
    rng = random.Random(f"{seed}:registry:{county}")  # fixed consumption per household: prefix-stable
    towns = cat.township_codes(county)
    hh, first = array("l"), array("l")
    status: list = []
    township: list = []
    reg = Registry(county, hh, first, status, township)
    j = h = 0
    while j < members:
        size = min(_SIZES[rng.randrange(len(_SIZES))], members - j)
        town = towns[rng.randrange(len(towns))]
        state = "stable" if h % 20 == 7 else "removed" if h % 20 == 13 else "poor"
        first.append(j)
        status.append(state)
        township.append(town)
        hh.extend([h] * size)
        if state == "poor":
            reg.poor.extend(range(j, j + size))
            reg.poor_heads.append(j)
        j += size
        h += 1
    return reg


@dataclass
class Enterprise:
    county: str
    serial: int
    coop: bool
    code: str
    name: str
    account: str
    rep_index: int
    founded: dt.date
    old_account: str | None = None  # a closed account (ACC-05 cases only)


def make_enterprise(seed: int, county: str, program: Program, serial: int) -> Enterprise:
    ent = cat.PROGRAMS.index(program) * 100_000 + serial
    coop = program.cooperative
    name = nm.cooperative_name(county, ent) if coop else nm.company_name(county, ent)
    founded = dt.date(2008, 1, 1) + dt.timedelta(days=h64(seed, "founded", county, ent) % 4_300)
    return Enterprise(county, ent, coop, nm.uscc("93" if coop else "91", county, ent), name,
                      nm.enterprise_account(county, ent), nm.LEGAL_REP + ent, founded)
