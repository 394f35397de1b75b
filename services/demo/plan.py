"""The plan of one data set: who exists (registry, enterprises, projects), which indicator
chains run (central/province → city → county), how many payments each allocation gets, on
which business days, and how much money every level receives. The plan holds O(indicators
+ projects + registry) state, never the payments themselves: those are produced while
streaming. Injected irregularities are chosen afterwards by `services.demo.scenarios`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cached_property

from services.demo import catalogue as cat
from services.demo import naming as nm
from services.demo.catalogue import Program
from services.demo.chains import LAST_DAY, CountyInd, Node, Slot, build_chains, doc_numbers, select, walk
from services.demo.naming import h64
from services.demo.people import Enterprise, Registry, build_registry, make_enterprise

COUNTY_WEIGHT = {"410324": 10, "410325": 12, "410326": 10, "410423": 14, "411624": 13, "411622": 11,
                 "411603": 13, "411625": 14, "411326": 12}
PAYMENTS_PER_PROJECT = 8
MIN_SIZE = 600  # below this there is no room for two cases of every injected rule (all 47)
SUBSIDY_SHARE = 0.6


def ceil_to(value: int, step: int) -> int:
    return -(-value // step) * step


# ------------------------------------------------------------------ entities


@dataclass
class Project:
    seed: int
    code: str
    county: str
    program: Program
    serial: int
    start: dt.date
    end: dt.date
    base_fen: int
    target: int
    benefit: int
    generic_name: str | None = None  # ALC-03 cases

    @property
    def name(self) -> str:
        if self.generic_name:
            return self.generic_name
        town = nm.pick(cat.township_codes(self.county), "ptown", self.seed, self.code)
        return (f"{cat.YEAR}年{cat.county_name(self.county)}{cat.township_name(town)}"
                f"{nm.village_name(self.seed, self.code)}{nm.pick(self.program.items, 'item', self.seed, self.code)}项目")

    @cached_property
    def enterprise(self) -> Enterprise:
        return make_enterprise(self.seed, self.county, self.program, self.serial)

@dataclass
class Plan:
    size: int
    seed: int
    n_case: int
    registries: dict[str, Registry]
    roots: list[Node]
    county_inds: list[CountyInd]
    slots: list[Slot]
    projects: list[Project]
    extra: dict = field(default_factory=dict)  # scenario state (special persons, accounts, records)

# ------------------------------------------------------------------ sizing


def person_count(size: int) -> int:
    """Registered persons for `size` payments. Nobody gets one subsidy type twice (BEN-04), so the
    registry bounds the subsidy payments: a province-year of 10M events needs about 2.4M persons."""
    return min(max(size // 2, 360), 2_500_000)


def case_count(size: int) -> int:
    return max(2, min(size // 400, 250))


def _spread(total: int, weights: list[float], minimum: int) -> list[int]:
    if not weights:
        return []
    wsum = sum(weights)
    if wsum <= 0:
        return [minimum] * len(weights)
    raw = [total * w / wsum for w in weights]
    counts = [int(r) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: (-(raw[i] - counts[i]), i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return [max(minimum, c) for c in counts]


# ------------------------------------------------------------------ the plan


def _fit_pools(sub: list[CountyInd], registries: dict[str, Registry]) -> None:
    """Nobody gets the same subsidy type twice (that is BEN-04): cap each (county, type) at its
    registry pool and hand what does not fit to per-person programmes that have room."""
    groups: dict[tuple[str, str], list[CountyInd]] = {}
    for ind in sub:
        groups.setdefault((ind.county, ind.program.subsidy.type), []).append(ind)  # type: ignore[union-attr]

    def room(group: list[CountyInd]) -> int:
        reg = registries[group[0].county]
        pool = reg.pool(group[0].program.subsidy)  # type: ignore[arg-type]
        return len(pool) - 1 - sum(i.n for i in group)

    lost = 0
    for group in groups.values():
        over, total = -room(group), sum(i.n for i in group)
        if over > 0:
            for ind in group:
                cut = -(-ind.n * over // total)
                lost += min(cut, ind.n - 1)
                ind.n -= min(cut, ind.n - 1)
    takers = [g for g in groups.values() if not g[0].program.subsidy.per_household]  # type: ignore[union-attr]
    for group, extra in zip(takers, _spread(lost, [max(0, room(g)) for g in takers], 0), strict=True):
        extra = min(extra, max(0, room(group)))
        for ind, n in zip(group, _spread(extra, [i.weight for i in group], 0), strict=True):
            ind.n += n


def _project(seed: int, county: str, program: Program, serial: int) -> Project:
    code = f"XM{county}{cat.YEAR}{program.key}{serial:05d}"
    h = h64(seed, "project", code)
    lo, hi = program.payment_yuan
    _, _, t_lo, t_hi = program.metric
    return Project(
        seed, code, county, program, serial,
        start=dt.date(2025, 9, 1) + dt.timedelta(days=h % 120),
        end=dt.date(2027, 6, 30) if (h >> 8) % 3 == 0 else dt.date(2026, 12, 31),
        base_fen=(lo + (h >> 16) % (hi - lo)) // 100 * 10_000,
        target=t_lo + (h >> 32) % (t_hi - t_lo + 1),
        benefit=30 + (h >> 40) % 370,
    )


def build_plan(size: int, seed: int) -> Plan:
    size = max(size, MIN_SIZE)
    n_case = case_count(size)
    persons = person_count(size)
    wsum = sum(COUNTY_WEIGHT.values())
    registries = {c: build_registry(seed, c, persons * w // wsum) for c, w in COUNTY_WEIGHT.items()}
    picks = [(p, t, c, "") for p, t, c in select(size)]
    dedicated = [(cat.PROGRAM_BY_KEY["C22A"], 2, cat.COUNTY_CODES[i % len(cat.COUNTY_CODES)], f"U{i + 1:03d}")
                 for i in range(n_case)]  # USE-01: one indicator, one project, overpaid
    roots, inds = build_chains(seed, picks + dedicated)

    regular = [i for i in inds if not i.variant]
    n_reg = max(size - 3 * n_case, 3 * len(regular))  # 3 per case: the USE-01 pair and the USE-05 copy
    sub = [i for i in regular if i.program.subsidy]
    proj = [i for i in regular if not i.program.subsidy]
    n_sub = round(n_reg * SUBSIDY_SHARE) if proj else n_reg
    minimum = max(3, min(8, n_reg * 2 // (3 * len(regular))))  # keeps every indicator busy all year
    for group, total in ((sub, n_sub), (proj, n_reg - n_sub)):
        for ind, n in zip(group, _spread(total, [i.weight for i in group], minimum), strict=True):
            ind.n = n
    _fit_pools(sub, registries)

    slots: list[Slot] = []
    projects: list[Project] = []
    serials: dict[tuple[str, str], int] = {}
    for ind in inds:
        start, end = ind.alloc_day + 2, LAST_DAY
        if ind.program.subsidy:
            slots.append(Slot(len(slots), ind, None, n=ind.n, start=start, end=end))
            ind.slots.append(slots[-1])
            continue
        counts = [2] if ind.variant else _spread(ind.n, [1.0] * max(1, round(ind.n / PAYMENTS_PER_PROJECT)), 1)
        for cnt in counts:
            key = (ind.county, ind.program.key)
            serials[key] = serials.get(key, -1) + 1
            project = _project(seed, ind.county, ind.program, serials[key])
            projects.append(project)
            phase = h64(seed, "phase", project.code) % max(1, (end - start) // (2 * cnt))
            slot = Slot(len(slots), ind, project, n=cnt, start=start + phase, end=end)
            if ind.variant:
                slot.days = [start + 1, start + 12]
            slots.append(slot)
            ind.slots.append(slot)
    return Plan(size, seed, n_case, registries, roots, inds, slots, projects)


def regular_amount(plan: Plan, slot: Slot, k: int) -> int:
    h = nm.mix(slot.hash(plan.seed), k)
    sub = slot.ind.program.subsidy
    if sub:
        return nm.choose(sub.amounts, h) * 100
    assert slot.project is not None
    return slot.project.base_fen * (85 + h % 31) // 10_000 * 100 + (h >> 16) % 100 * ((h >> 24) % 2)


def draw_amount(plan: Plan, slot: Slot, k: int) -> int:
    spec = slot.overrides.get(k)
    if spec and "amount" in spec:
        return spec["amount"]
    return regular_amount(plan, slot, k)


def finalize(plan: Plan) -> None:
    """Totals, allocations, indicator amounts up the chain, document numbers."""
    for slot in plan.slots:
        if slot.ind.variant:  # USE-01: the second payment overdraws the indicator
            first = regular_amount(plan, slot, 0)
            slot.alloc = ceil_to(first * 100 // 55, 10_000)
            second = slot.alloc - first + ceil_to(slot.alloc * 15 // 100, 100)
            slot.overrides[1] = {"rule": "USE-01", "amount": second}
            slot.total = first + second
        else:
            slot.total = sum(draw_amount(plan, slot, k) * (2 if slot.overrides.get(k, {}).get("dup") else 1)
                             for k in range(slot.n))
            ratio = slot.ind.alloc_ratio or 94 + h64(plan.seed, "ratio", slot.key) % 5
            slot.alloc = ceil_to(slot.total * 100 // ratio, 10_000)
    for ind in plan.county_inds:
        for i, slot in enumerate(ind.slots, start=1):
            slot.alloc_id = f"FP-{ind.ind_id[4:]}-{i:04d}"
        ind.amount = sum(s.alloc for s in ind.slots) + (ind.bogus["amount"] if ind.bogus else 0)
        if "PRG-05" in ind.cases:
            ind.held = ceil_to(ind.amount * 25 // 100, 10_000)
            ind.amount += ind.held
        ind.inflate = ceil_to(ind.amount * ind.inflate_pct // 100, 10_000)
        assert ind.issue is not None
        ind.issue.amount = ind.amount + ind.short
    nodes = list(walk(plan.roots))
    for node in reversed(nodes):
        node.amount = sum(i.amount for i in node.issues)
        if node.upper:
            node.upper.amount = node.amount
    doc_numbers(plan.seed, nodes)
