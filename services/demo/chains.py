"""Indicator chains: the central or provincial indicator, what it issues to the province,
the cities and the counties, and the allocations (slots) at the county end. Days are
indices into the 2026 business days."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from services.demo import catalogue as cat
from services.demo.catalogue import Program
from services.demo.naming import h64

if TYPE_CHECKING:
    from services.demo.plan import Project

DAYS = cat.business_days()
DAY_OF = {d: i for i, d in enumerate(DAYS)}
REFERENCE_DAYS = 5  # Jan 5 .. Jan 9: reference data
LAST_DAY = DAY_OF[cat.LAST_PAYMENT_DAY]


def program_of(indicator_id: str) -> tuple[Program, int]:
    """Programme and tranche encoded in a demo indicator id (…-C22A-T2-…)."""
    parts = indicator_id.split("-")
    i = next(i for i, part in enumerate(parts) if part in cat.PROGRAM_BY_KEY)
    return cat.PROGRAM_BY_KEY[parts[i]], int(parts[i + 1][1:])


@dataclass
class Node:
    """An indicator registered at central, province or city level, and what it issues."""

    region: str
    fund: str
    ind_id: str
    day: int
    amount: int = 0
    upper: Issue | None = None  # None: own arrangement
    doc_no: str = ""
    doc_day: int = 0
    issues: list[Issue] = field(default_factory=list)


@dataclass
class Issue:
    source: Node
    to_region: str
    issued_id: str
    day: int
    fund: str
    amount: int = 0
    doc_no: str = ""
    doc_day: int = 0
    scan: bool = True
    target: Node | CountyInd | None = None
    budget_year: int = cat.YEAR  # IND-06: an earlier year's transfer passed down as this year's
    advance: bool = False  # 提前下达 (ALC-06 cases)


@dataclass
class Slot:
    """One allocation at a county (own spending, or one project) and its payments."""

    idx: int
    ind: CountyInd
    project: Project | None
    n: int = 0
    start: int = 0
    end: int = 0
    days: list[int] | None = None  # explicit payment days (USE-01 cases)
    overrides: dict[int, dict] = field(default_factory=dict)
    cases: dict[str, dict] = field(default_factory=dict)  # slot-level injected cases (ALC-05, PERF-*)
    total: int = 0
    alloc: int = 0
    alloc_id: str = ""
    _hash: int | None = None

    @property
    def key(self) -> str:
        return f"{self.ind.ind_id}/{self.project.code if self.project else 'own'}"

    def hash(self, seed: int) -> int:
        if self._hash is None:
            self._hash = h64(seed, "slot", self.key)
        return self._hash

    def day(self, k: int) -> int:
        if self.days is not None:
            return self.days[k]
        span = self.end - self.start + 1
        return self.start + ((2 * k + 1) * span) // (2 * self.n)


@dataclass
class CountyInd:
    program: Program
    tranche: int
    county: str
    variant: str
    issue: Issue | None = None
    fund: str = ""
    ind_id: str = ""
    day: int = 0  # registered
    alloc_day: int = 0
    amount: int = 0  # registered amount
    slots: list[Slot] = field(default_factory=list)
    doc_no: str | None = None  # irregular doc number (IND-04), else the upper's
    scan: bool = True
    bogus: dict | None = None  # ALC-04 allocation to an unknown project
    inflate_pct: int = 0  # ALC-02: the last allocation exceeds the pending balance by this share
    inflate: int = 0
    short: int = 0  # IND-02: registered this much less than issued
    held: int = 0  # PRG-05: received but never allocated (fen)
    alloc_ratio: int = 0  # PRG-03: allocate total / ratio % (0: the regular 94–98 %)
    cases: dict[str, dict] = field(default_factory=dict)  # indicator-level injected cases and their truth
    n: int = 0

    @property
    def weight(self) -> float:
        return self.program.weight * max(1, LAST_DAY - self.alloc_day)


def select(size: int) -> list[tuple[Program, int, str]]:
    candidates = []
    for t in (1, 2, 3):
        progs = [p for p in cat.PROGRAMS if t in p.tranches]
        for c_idx, county in enumerate(cat.COUNTY_CODES):
            for p_idx, prog in enumerate(progs):
                if county in prog.counties:
                    candidates.append(((t, (p_idx - c_idx) % len(progs), c_idx), (prog, t, county)))
    candidates.sort(key=lambda c: c[0])
    k = max(18, min(size // 10, len(candidates)))
    return [c[1] for c in candidates[:k]]


def _fund_at(region: str, fund: str) -> str:
    return cat.LOCAL_FUND_OF.get((region, fund), fund)


def build_chains(seed: int, picks: list[tuple[Program, int, str, str]]) -> tuple[list[Node], list[CountyInd]]:
    """picks: (program, tranche, county, variant). Builds root → province → city → county."""
    roots: dict[tuple[str, int], Node] = {}
    cities: dict[tuple[str, int, str], Node] = {}
    inds: list[CountyInd] = []
    for prog, t, county, variant in picks:
        tag = f"{cat.YEAR}-{prog.key}-T{t}"
        jit = h64(seed, "chain", prog.key, t)
        if (prog.key, t) not in roots:
            start = DAY_OF[cat.TRANCHE_START[t]] + jit % 3
            if prog.fund.startswith("C"):
                root = Node(cat.CENTRAL, prog.fund, f"IND-{cat.CENTRAL}-{tag}", start)
                up = Issue(root, cat.PROVINCE, f"XD-{cat.CENTRAL}-{cat.PROVINCE}-{tag}", start + 2, prog.fund)
                root.issues.append(up)
                up.target = Node(cat.PROVINCE, _fund_at(cat.PROVINCE, prog.fund), f"IND-{cat.PROVINCE}-{tag}",
                                 up.day + 1 + jit % 2, upper=up)
            else:
                root = Node(cat.PROVINCE, prog.fund, f"IND-{cat.PROVINCE}-{tag}", start)
            roots[(prog.key, t)] = root
        root = roots[(prog.key, t)]
        province = root if root.region == cat.PROVINCE else root.issues[0].target
        assert isinstance(province, Node)
        city = cat.city_of(county)
        if (prog.key, t, city) not in cities:
            cj = h64(seed, "city", prog.key, t, city)
            issue = Issue(province, city, f"XD-{cat.PROVINCE}-{city}-{tag}", province.day + 3 + cj % 4, province.fund)
            province.issues.append(issue)
            issue.target = cities[(prog.key, t, city)] = Node(
                city, _fund_at(city, province.fund), f"IND-{city}-{tag}", issue.day + 1 + cj % 2, upper=issue)
        city_node = cities[(prog.key, t, city)]
        suffix = f"-{variant}" if variant else ""
        kj = h64(seed, "county", prog.key, t, county, variant)
        issue = Issue(city_node, county, f"XD-{city}-{county}-{tag}{suffix}", city_node.day + 2 + kj % 4,
                      city_node.fund)
        city_node.issues.append(issue)
        ind = CountyInd(prog, t, county, variant, issue=issue, fund=_fund_at(county, city_node.fund),
                        ind_id=f"IND-{county}-{tag}{suffix}", day=issue.day + 1 + kj % 2)
        ind.alloc_day = ind.day + 1 + (kj >> 8) % 4
        issue.target = ind
        inds.append(ind)
    return list(roots.values()), inds


def walk(roots: list[Node]):
    """Every node below (and including) the roots, parents first."""
    stack = list(roots)
    while stack:
        node = stack.pop(0)
        yield node
        stack.extend(issue.target for issue in node.issues if isinstance(issue.target, Node))


def doc_numbers(seed: int, nodes: list[Node]) -> None:
    docs: list[tuple[int, str, str, object]] = []
    for node in nodes:
        program, _tranche = program_of(node.ind_id)
        group = cat.GROUP_DOC_CHAR[cat.FUNDS[program.fund].group]
        if node.upper is None:
            docs.append((node.day, node.region, "豫财预" if node.region == cat.PROVINCE else "财预", node))
        for issue in node.issues:
            prefix = {cat.CENTRAL: "财", cat.PROVINCE: "豫财"}.get(node.region) or cat.CITY_DOC_PREFIX[node.region]
            docs.append((issue.day, issue.issued_id, prefix + group, issue))
    counters: dict[str, int] = {}
    for day, key, prefix, obj in sorted(docs, key=lambda d: (d[0], d[1])):
        step = h64(seed, "doc", key)
        counters[prefix] = counters.get(prefix, 2 + step % 9) + 1 + (step >> 8) % 3
        obj.doc_no = f"{prefix}〔{cat.YEAR}〕{counters[prefix]}号"  # type: ignore[attr-defined]
        obj.doc_day = day - (step >> 16) % 2  # type: ignore[attr-defined]
