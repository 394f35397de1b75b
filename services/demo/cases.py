"""Injected irregularities, second part: the timing and progress rules (IND-01, ALC-01, ALC-06,
PRG-*), fund links and carry-overs (IND-05/06/07), allocations outside the fund's scope
(ALC-05), payments (USE-03/06/08/09, ACC-02/03/04/06, PRG-04), enterprises (BEN-06/07/08)
and performance (PERF-01…04). Like `scenarios`, every case uses its own indicator, slot,
payment, person or enterprise, so it shows exactly the rules it is made for; a case that by
nature shows two rules (payments that start only in July leave the money idle too) says so
in the ground truth.

Timing cases run before any payment-level case is drawn: they move days and change amounts,
and the payment-level picks (BEN-04's "later payment", USE-08's "first payment") must see the
final days."""

from __future__ import annotations

import datetime as dt
import random

from services.demo import catalogue as cat
from services.demo import naming as nm
from services.demo.chains import DAY_OF, DAYS, LAST_DAY, CountyInd, Slot
from services.demo.naming import h64
from services.demo.plan import Plan, regular_amount

YEAR = cat.YEAR


def _day_at(date: dt.date) -> int:
    return next(i for i, d in enumerate(DAYS) if d >= date)


JULY_15, AUG_20, NOV_16, JUN_30 = (_day_at(dt.date(YEAR, 7, 15)), _day_at(dt.date(YEAR, 8, 20)),
                                   _day_at(dt.date(YEAR, 11, 16)), dt.date(YEAR, 6, 30))
MIN_PRG_FEN = 30_000_000  # 300,000 yuan: well above the progress rules' minimum amounts


def _volume(plan: Plan, ind: CountyInd) -> int:
    """What the indicator's payments add up to (fen), before any case changes them (cached)."""
    cache = plan.extra.setdefault("volume", {})
    if ind.ind_id not in cache:
        cache[ind.ind_id] = sum(regular_amount(plan, s, k) for s in ind.slots for k in range(s.n))
    return cache[ind.ind_id]


def large(plan: Plan, slots: list[Slot]) -> list[Slot]:
    """Slots of indicators of a million yuan or more (one payment more or less does not move their
    progress shares); all of them when there are none."""
    return [s for s in slots if _volume(plan, s.ind) >= 100_000_000] or slots


def pools(plan: Plan, projects: list[Slot]) -> dict[str, list[Slot]]:
    """Draw pools computed once per data set."""
    if "pools" not in plan.extra:
        plan.extra["pools"] = {
            "large": large(plan, projects),
            "large_not_finance": large(plan, [s for s in projects if s.ind.program.unit != cat.FINANCE_UNIT]),
        }
    return plan.extra["pools"]


def _shift(ind: CountyInd, registration: int = 0, allocation: int = 0) -> None:
    ind.day += registration
    ind.alloc_day += registration + allocation
    for slot in ind.slots:
        slot.start += registration + allocation
        assert slot.start <= slot.end, "a shifted slot leaves no room for its payments"


def inject_timing(plan: Plan, rng: random.Random) -> set[tuple[int, int]]:
    """Indicator-level cases; returns the payments they fix (not to be drawn by other cases)."""
    regular = [ind for ind in plan.county_inds if not ind.variant and ind.slots]
    order = regular[:]
    rng.shuffle(order)
    taken: set[str] = plan.extra.setdefault("taken", set())  # one timing case per indicator
    protected: set[str] = plan.extra.setdefault("protected", set())  # no other case may touch its money
    fixed: set[tuple[int, int]] = set()

    def take(pred=lambda ind: True, protect: bool = False) -> CountyInd | None:
        for ind in order:
            if ind.ind_id not in taken and pred(ind):
                taken.add(ind.ind_id)
                if protect:
                    protected.add(ind.ind_id)
                return ind
        return None

    def early(ind: CountyInd) -> bool:  # received early in the year: checkpoints and idle periods apply
        return ind.alloc_day < DAY_OF[dt.date(YEAR, 3, 2)] and _volume(plan, ind) >= MIN_PRG_FEN

    for _ in range(plan.n_case):
        # IND-01: the county registers the transfer 8 business days after it was issued
        if ind := take(lambda ind: ind.alloc_day + 10 < JULY_15):
            _shift(ind, registration=ind.issue.day + 8 - ind.day)  # type: ignore[union-attr]
            ind.cases["IND-01"] = {}
        # ALC-01: received, then nothing allocated for 25 business days (about 35 calendar days)
        if ind := take(lambda ind: ind.alloc_day < DAY_OF[dt.date(YEAR, 3, 2)]):  # early: on schedule by June
            _shift(ind, allocation=25)
            ind.cases["ALC-01"] = {}
        # PRG-01 (+ PRG-02): payments start only in mid-July
        if ind := take(lambda ind: early(ind) and not ind.program.subsidy, protect=True):
            for slot in ind.slots:
                slot.start = max(slot.start, JULY_15)
            ind.cases["PRG-01"] = {"checkpoint": "06-30"}
            ind.cases["PRG-02"] = {}
        # PRG-02: a third of the payments early, then nothing until late August
        if ind := take(lambda ind: early(ind) and all(s.n >= 3 for s in ind.slots), protect=True):
            for slot in ind.slots:
                first = slot.n // 3
                # every 6 working days; packed closer on a large slot, so that the early third ends
                # long (90 working days) before the late payments resume
                span = max(1, min(6 * first, AUG_20 - 90 - slot.start))
                slot.days = [slot.start + (k * span) // max(1, first) for k in range(first)] + \
                    [AUG_20 + (k * (LAST_DAY - AUG_20)) // max(1, slot.n - first) for k in range(slot.n - first)]
            ind.cases["PRG-02"] = {}
        # PRG-03: only 60 % of what is allocated is ever paid
        if ind := take(lambda ind: early(ind), protect=True):
            ind.alloc_ratio = 60
            ind.cases["PRG-03"] = {}
        # PRG-05: a quarter more than allocated is received and never allocated
        if ind := take(lambda ind: _volume(plan, ind) >= MIN_PRG_FEN, protect=True):
            ind.cases["PRG-05"] = {}
        # PRG-06: the payments from mid-November on are five times the usual
        if ind := take(lambda ind: early(ind) and any(s.day(s.n - 1) >= NOV_16 for s in ind.slots), protect=True):
            for slot in ind.slots:
                for k in range(slot.n):
                    if slot.day(k) >= NOV_16:
                        slot.overrides[k] = {"rule": None, "amount": regular_amount(plan, slot, k) * 5}
                        fixed.add((slot.idx, k))
            ind.cases["PRG-06"] = {}
        # IND-05: a C22 transfer received under another county's fund (which designates P09)
        if ind := take(lambda ind: ind.issue.fund == "C22" and ind.fund == "C22"):
            ind.fund = "411624-F01"
            ind.cases["IND-05"] = {}
        # IND-06: the city passes down a 2025 transfer, registered as a 2026 indicator
        if ind := take():
            ind.issue.budget_year = YEAR - 1  # type: ignore[union-attr]
            ind.cases["IND-06"] = {}
    _advance_issues(plan, rng)
    plan.extra["links"] = [("411326-F01", "C22"), ("410423-F01", "C23")]  # IND-07: a second upper fund
    return fixed


def _advance_issues(plan: Plan, rng: random.Random) -> None:
    """ALC-06: the province issues next year's … this year's money in advance (提前下达); the
    counties register it but never compile it into the year's budget."""
    counties = sorted(cat.COUNTY_CODES, key=lambda c: h64(plan.seed, "adv", c))[: max(2, plan.n_case)]
    plan.extra["advance"] = [
        {"county": c, "amount": (300_000 + h64(plan.seed, "adv-amount", c) % 400_000) // 1_000 * 1_000 * 100,
         "ind_id": f"IND-{c}-{YEAR}-ADV{i:02d}", "issued_id": f"XD-{cat.PROVINCE}-{c}-{YEAR}-ADV{i:02d}",
         "doc_no": f"豫财农〔{YEAR - 1}〕{180 + i * 3}号"}
        for i, c in enumerate(counties)
    ]


def inject_slots(plan: Plan, rng: random.Random) -> None:
    """Slot-level cases: allocations outside the fund's scope, performance management."""
    protected: set[str] = plan.extra.setdefault("protected", set())
    projects = [s for s in plan.slots if s.project and not s.ind.variant and s.ind.ind_id not in protected]
    rng.shuffle(projects)
    used: set[int] = set()

    def take(pred=lambda s: True) -> Slot | None:
        for s in projects:
            if s.idx not in used and pred(s):
                used.add(s.idx)
                return s
        return None

    for i in range(plan.n_case):
        if slot := take():
            slot.cases["ALC-05"] = ({"functional_class": "2010350"} if i % 2 == 0 else {"economic_class": "30101"})
        if slot := take():
            slot.cases["PERF-01"] = {"delay": 10}
        if slot := take(lambda s: DAYS[s.ind.alloc_day] < dt.date(YEAR, 8, 1)):
            slot.cases["PERF-02"] = {"period": dt.date(YEAR, 9, 30)}
        if slot := take(lambda s: DAYS[s.ind.alloc_day] < JUN_30 - dt.timedelta(days=31)):
            slot.cases["PERF-03"] = {"period": JUN_30}
        if slot := take():
            slot.cases["PERF-04"] = {"score": f"{68 + i % 10}.50"}


def inject_payments(plan: Plan, pick, subsidy: list[Slot], projects: list[Slot], i: int) -> None:
    """Payment-level cases of round `i` (drawn with the scenario picker)."""
    seed = plan.seed
    slot, k = pick.draw(projects)
    slot.overrides[k] = {"rule": "USE-03", "econ": "30217" if i % 2 == 0 else "31013"}

    slot, k = pick.draw(projects)
    amount = (150_000 + h64(seed, "split", i) % 40_000) * 100
    first = amount // 2 // 10_000 * 10_000  # both parts under 100,000 yuan, together over it
    slot.overrides[k] = {"rule": "USE-06", "amount": amount, "split": first}

    slot, k = pick.draw(projects)
    slot.overrides[k] = {"rule": "USE-09", "purpose_extra": "（含公务用车购置）"}

    slot, k = pick.draw(projects)
    slot.overrides[k] = {"rule": "ACC-03", "holder": "rep"}

    slot, k = pick.draw(projects)
    slot.overrides[k] = {"rule": "ACC-04", "payee": "rep"}

    slot, k = pick.draw([s for s in projects if s.ind.program.unit != cat.FINANCE_UNIT])
    slot.overrides[k] = {"rule": "ACC-06", "payee": "own"}

    # not spending once the ledger knows the special account: late, and on a large indicator (as USE-02)
    slot, k = pick.draw(pools(plan, projects)["large_not_finance"], 0.7, 1.0)
    slot.overrides[k] = {"rule": "PRG-04", "payee": "special"}

    # ACC-02: a second beneficiary paid into the card account of a first one
    from services.demo.scenarios import _special

    for _attempt in range(50):
        first_slot, k1 = pick.draw(subsidy, 0.05, 0.4)
        later = [s for s in subsidy if s.day(int(0.6 * s.n)) > first_slot.day(k1)]
        if later:
            second_slot, k2 = pick.draw(later, 0.6, 1.0)
            if second_slot.day(k2) > first_slot.day(k1):
                owner = _special(plan, first_slot, "poor")
                first_slot.overrides[k1] = {"rule": None, "person": owner}
                sharer = _special(plan, second_slot, "poor")
                second_slot.overrides[k2] = {"rule": "ACC-02", "person": sharer, "card_of": owner}
                break
            pick.used.discard((second_slot.idx, k2))
        pick.used.discard((first_slot.idx, k1))
    else:
        raise RuntimeError("could not place an ACC-02 case")



def inject_enterprises(plan: Plan, pick, projects: list[Slot]) -> None:
    """Whole projects of their own (drawn before any single payment): a young enterprise's first
    large payment (BEN-07), a payer's staff member as legal representative (BEN-08), a licence
    revoked before the last payment (BEN-06), a first payment before the project starts (USE-08)."""
    seed = plan.seed

    cursors: dict[str, int] = {}

    def whole(name: str, pred) -> Slot | None:
        """The next project (in draw order) none of whose payments is taken; one pass per kind."""
        i = cursors.get(name, 0)
        while i < len(projects):
            s = projects[i]
            i += 1
            if pred(s) and not any((s.idx, j) in pick.used for j in range(s.n)):
                for j in range(s.n):
                    pick.used.add((s.idx, j))
                cursors[name] = i
                return s
        cursors[name] = i
        return None

    young: list[Slot] = []
    for i in range(plan.n_case):
        # early in the year (the enterprise is then founded late last year); on a large province the
        # early projects may all be taken by other cases: then one case on any free project
        if s := (whole("young", lambda s: s.n >= 2 and DAYS[s.day(0)] < dt.date(YEAR, 3, 1))
                 or (not young and i == plan.n_case - 1 and whole("young-any", lambda s: s.n >= 2))):
            young.append(s)
            ent = s.project.enterprise  # type: ignore[union-attr]
            ent.founded = DAYS[s.day(0)] - dt.timedelta(days=60 + h64(seed, "young", i) % 60)
            s.overrides[0] = {"rule": "BEN-07", "amount": (250_000 + h64(seed, "award", i) % 150_000) * 100}
        if s := whole("staff", lambda s: True):
            ent = s.project.enterprise  # type: ignore[union-attr]
            plan.extra.setdefault("employees", []).append((ent, s.ind.county + s.ind.program.unit))
            s.overrides[0] = {"rule": "BEN-08"}
        if s := whole("status", lambda s: s.n >= 2 and s.day(s.n - 1) > s.day(s.n - 2) + 1):
            ent = s.project.enterprise  # type: ignore[union-attr]
            plan.extra.setdefault("statuses", []).append((s.day(s.n - 2) + 1, ent, "吊销" if i % 2 == 0 else "经营异常"))
            s.overrides[s.n - 1] = {"rule": "BEN-06"}
        if s := whole("period", lambda s: s.n >= 2):
            s.project.start = DAYS[s.day(0)] + dt.timedelta(days=1)  # type: ignore[union-attr]
            s.overrides[0] = {"rule": "USE-08"}


def rep_identity(county: str, rep_index: int) -> tuple[str, str, str]:
    """(citizen ID, name, personal card account) of an enterprise's legal representative."""
    cid = nm.citizen_id(county, rep_index)
    return cid, nm.person_name(cid), nm.card_account(county, rep_index)
