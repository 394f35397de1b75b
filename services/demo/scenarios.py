"""Injected irregularities: which payments, allocations and registrations break which rule
of DESIGN §6. Everything not chosen here is clean. Each case is isolated: it uses its own
special registry member, account or indicator, so it shows exactly the rule it is made for."""

from __future__ import annotations

import datetime as dt
import random

from services.demo import cases
from services.demo import catalogue as cat
from services.demo import naming as nm
from services.demo.naming import h64
from services.demo.plan import Plan, Slot, regular_amount

RULES = (  # what the ground truth covers, at least twice each: every rule of DESIGN §6
    "IND-01", "IND-02", "IND-03", "IND-04", "IND-05", "IND-06", "IND-07",
    "ALC-01", "ALC-02", "ALC-03", "ALC-04", "ALC-05", "ALC-06",
    "PRG-01", "PRG-02", "PRG-03", "PRG-04", "PRG-05", "PRG-06",
    "USE-01", "USE-02", "USE-03", "USE-04", "USE-05", "USE-06", "USE-07", "USE-08", "USE-09",
    "ACC-01", "ACC-02", "ACC-03", "ACC-04", "ACC-05", "ACC-06",
    "BEN-01", "BEN-02", "BEN-03", "BEN-04", "BEN-05", "BEN-06", "BEN-07", "BEN-08", "BEN-09",
    "PERF-01", "PERF-02", "PERF-03", "PERF-04",
)
GENERIC_NAMES = ("水利专项", "扶贫项目", "基础设施建设", "产业项目")


class _Picker:
    def __init__(self, plan: Plan, rng: random.Random) -> None:
        self.plan, self.rng = plan, rng
        self.used: set[tuple[int, int]] = set()

    def draw(self, slots: list[Slot], lo: float = 0.1, hi: float = 0.9) -> tuple[Slot, int]:
        for _ in range(200):
            slot = self.rng.choice(slots)
            k = self.rng.randrange(int(lo * slot.n), max(int(lo * slot.n) + 1, int(hi * slot.n)))
            if (slot.idx, k) not in self.used and k < slot.n:
                self.used.add((slot.idx, k))
                return slot, k
        raise RuntimeError("no free payment draw left for an injected case")


def _subsidy_of(slot: Slot) -> cat.Subsidy:
    """The subsidy of a slot drawn from the subsidy programmes (set on every one of them)."""
    assert slot.ind.program.subsidy is not None
    return slot.ind.program.subsidy


def _special(plan: Plan, slot: Slot, status: str, record: dict | None = None) -> dict:
    """A registry member made for one injected case, of an age that fits the subsidy."""
    specials = plan.extra.setdefault("special", [])
    k = len(specials)
    county = slot.ind.county
    person = {
        "k": k, "county": county, "index": nm.index_born(nm.SPECIAL + 1_000 * k, _subsidy_of(slot).born),
        "status": status,
        "household_id": f"HH{county}S{k:05d}", "township": cat.township_codes(county)[k % 3],
        "record": record,
    }
    specials.append(person)  # special members live outside the regular pools
    return person


def inject(plan: Plan) -> None:
    rng = random.Random(f"{plan.seed}:scenarios")
    pick = _Picker(plan, rng)
    pick.used |= cases.inject_timing(plan, random.Random(f"{plan.seed}:timing"))
    cases.inject_slots(plan, random.Random(f"{plan.seed}:slots"))
    taken = plan.extra["protected"]
    n = plan.n_case
    seed = plan.seed
    subsidy = [s for s in plan.slots if s.ind.program.subsidy and s.n >= 3 and s.ind.ind_id not in taken]
    projects = [s for s in plan.slots if s.project and not s.ind.variant and s.n >= 2 and s.ind.ind_id not in taken]
    if not projects:
        projects = [s for s in plan.slots if s.project and not s.ind.variant and s.ind.ind_id not in taken]
    by_type: dict[str, list[Slot]] = {}
    for s in subsidy:
        by_type.setdefault(s.ind.program.subsidy.type, []).append(s)  # type: ignore[union-attr]
    cases.inject_enterprises(plan, pick, projects)
    household_slots = by_type.get("到户增收") or [s for s in subsidy if _subsidy_of(s).per_household] or subsidy
    card_slots = [s for s in subsidy if cat.FUNDS[s.ind.program.fund].for_households] or subsidy

    for i in range(n):
        # ---- recipients
        slot, k = pick.draw(subsidy)
        ghost = {"county": slot.ind.county, "index": nm.index_born(nm.GHOST + 1_000 * i, _subsidy_of(slot).born),
                 "status": None, "household_id": None}
        slot.overrides[k] = {"rule": "BEN-01", "person": ghost}

        slot, k = pick.draw(household_slots)
        rec_date = dt.date(2025, 3, 1) + dt.timedelta(days=h64(seed, "deed", i) % 200)
        tax = 150_000 + h64(seed, "deedtax", i) % 900_000
        person = _special(plan, slot, "poor", {"kind": "deed_tax", "date": rec_date, "amount": tax,
                                                          "details": "购买商品住房缴纳契税"})
        slot.overrides[k] = {"rule": "BEN-02", "person": person, "amount": 800_000}

        slot, k = pick.draw(subsidy)
        died = dt.date(2025, 10, 1) + dt.timedelta(days=h64(seed, "death", i) % 80)
        person = _special(plan, slot, "poor", {"kind": "death", "date": died, "details": "死亡注销户籍"})
        slot.overrides[k] = {"rule": "BEN-03", "person": person}

        _twice(plan, pick, by_type, i)

        slot, k = pick.draw(subsidy)
        regular = regular_amount(plan, slot, k)
        slot.overrides[k] = {"rule": "BEN-05", "payable": regular + max(5_000, regular // 10 // 100 * 100)}

        slot, k = pick.draw(subsidy)
        person = _special(plan, slot, "stable")
        slot.overrides[k] = {"rule": "BEN-09", "person": person}

        # ---- usage
        # an undated payment is not spending (seed 002): late in the year, and on a large indicator,
        # so that it does not also put the indicator behind schedule
        slot, k = pick.draw(subsidy if i % 2 else cases.pools(plan, projects)["large"], 0.7, 1.0)
        slot.overrides[k] = {"rule": "USE-02", "no_date": True}

        slot, k = pick.draw(projects)
        slot.overrides[k] = {"rule": "USE-04", "cash": True,
                             "amount": (52_000 + h64(seed, "cash", i) % 46_000) * 100}

        slot, k = pick.draw(projects)
        slot.overrides[k] = {"rule": "USE-05", "dup": True}

        slot, k = pick.draw(card_slots)
        slot.overrides[k] = {"rule": "USE-07", "channel": "direct"}

        # ---- accounts
        slot, k = pick.draw(projects)
        unit = slot.ind.program.unit
        slot.overrides[k] = {"rule": "ACC-01", "payer_account": nm.unit_account(slot.ind.county, unit, 9)}

        slot, k = pick.draw(projects)
        if i % 2 == 0:
            account = nm.unit_account(slot.ind.county, slot.ind.program.unit, 8)
            plan.extra.setdefault("frozen", []).append((slot.ind.county, slot.ind.program.unit, account))
            slot.overrides[k] = {"rule": "ACC-05", "payer_account": account, "status": "frozen"}
        else:
            ent = slot.project.enterprise  # type: ignore[union-attr]
            ent.old_account = nm.enterprise_account(ent.county, ent.serial, old=True)
            plan.extra.setdefault("closed", []).append(ent.old_account)
            slot.overrides[k] = {"rule": "ACC-05", "payee_account": ent.old_account, "status": "closed"}

        cases.inject_payments(plan, pick, subsidy, projects, i)

    _indicator_cases(plan, rng)
    n_returns = max(2, plan.size // 400)
    for r in range(n_returns):
        slot, k = pick.draw(subsidy, 0.05, 0.8)
        slot.overrides[k] = {"rule": None, "return_after": 3 + r % 4}


def _twice(plan: Plan, pick: _Picker, by_type: dict[str, list[Slot]], i: int) -> None:
    """BEN-04: one person gets the same subsidy type twice; odd cases across two counties."""
    types = sorted(t for t, slots in by_type.items() if slots)
    for attempt in range(100):
        typ = types[(i + attempt) % len(types)]
        first_slot, k1 = pick.draw(by_type[typ], 0.05, 0.4)
        others = [s for s in by_type[typ] if (s.ind.county != first_slot.ind.county) == (i % 2 == 1)]
        others = [s for s in others if s.day(s.n - 1) > first_slot.day(k1) + 5] or [
            s for s in by_type[typ] if s.day(s.n - 1) > first_slot.day(k1) + 5]
        if not others:
            pick.used.discard((first_slot.idx, k1))
            continue
        second_slot, k2 = pick.draw(others, 0.6, 1.0)
        if second_slot.day(k2) <= first_slot.day(k1) + 5:
            pick.used.discard((first_slot.idx, k1))
            pick.used.discard((second_slot.idx, k2))
            continue
        person = _special(plan, first_slot, "poor")
        first_slot.overrides[k1] = {"rule": None, "person": person}
        second_slot.overrides[k2] = {"rule": "BEN-04", "person": person, "first": (first_slot.idx, k1)}
        return
    raise RuntimeError("could not place a BEN-04 case")


def _indicator_cases(plan: Plan, rng: random.Random) -> None:
    regular = [ind for ind in plan.county_inds if not ind.variant]
    with_projects = [ind for ind in regular if not ind.program.subsidy]
    order = regular[:]
    rng.shuffle(order)
    proj_order = with_projects[:]
    rng.shuffle(proj_order)
    taken: set[str] = set(plan.extra.get("protected", ()))

    def take(pool):
        """A fresh indicator for each case: at large sizes the indicators run out before n_case."""
        for ind in pool:
            if ind.ind_id not in taken:
                taken.add(ind.ind_id)
                return ind
        return None

    seed = plan.seed
    big = [ind for ind in proj_order if cases._volume(plan, ind) >= 100_000_000]  # the bogus part stays small
    for i in range(plan.n_case):
        if ind := take(big or proj_order):
            ind.bogus = {"index": i}  # ALC-04 (amount below)
        if ind := take(proj_order):
            ind.inflate_pct = 15 + i % 4 * 5  # ALC-02
        if ind := take(order):
            ind.short = (1 + h64(seed, "short", i) % 5) * 1_000_000  # IND-02: 1万–5万元 less than issued
        if ind := take(order):  # IND-03
            if i % 2:
                ind.scan = False
            else:
                assert ind.issue is not None
                ind.issue.scan = False
        if ind := take(order):  # IND-04
            if i % 2 == 0:
                bureau = cat.UNITS[ind.program.unit]
                ind.doc_no = f"{cat.county_name(ind.county)}{bureau}关于申请{cat.YEAR}年{ind.program.title}资金的请示"
            else:
                h = h64(seed, "bare", i)
                ind.doc_no = f"{1 + h % 9}-{10 + (h >> 8) % 20}-{10 + (h >> 16) % 90}"
    for ind in plan.county_inds:
        if ind.bogus is not None:
            i = ind.bogus["index"]
            code = f"XM{ind.county}{cat.YEAR}ZZ{i:05d}"
            town = cat.township_codes(ind.county)[i % 4]
            ind.bogus.update(code=code, amount=(30_000 + h64(seed, "bogus", i) % 50_000) * 100,
                             name=f"{cat.YEAR}年{cat.county_name(ind.county)}{cat.township_name(town)}"
                                  f"{nm.village_name(seed, code)}{ind.program.items[0]}项目")
    project_slots = [s for s in plan.slots if s.project and s.days is None]
    rng.shuffle(project_slots)
    for i, slot in enumerate(project_slots[: plan.n_case]):
        assert slot.project is not None
        numeric = f"{cat.YEAR}{100 + h64(seed, 'num', i) % 900}"
        slot.project.generic_name = GENERIC_NAMES[i % len(GENERIC_NAMES)] if i % 3 != 2 else numeric
        plan.extra.setdefault("generic", []).append(slot.idx)
