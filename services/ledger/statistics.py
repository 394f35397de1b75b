"""Statistics over the indicator books (seed 002), as plain functions over plain rows.

For a region scope (a code prefix):

- scale (资金规模): money entering the scope — indicators arranged at a level inside the scope
  (本级安排) plus transfers received from a giver outside it: from an upper level (下达) or from
  another region (地区间横向转移支付, e.g. East–West cooperation). A transfer between two regions
  inside the scope is counted once, where it was arranged; the receipt is not new money (seed 002:
  received indicators re-entered as own arrangements are what makes scales disagree).
- available: what the regions inside the scope may spend themselves — Σ(received or arranged −
  passed on to lower levels or other regions − advance issues not yet compiled):
  4001 − 500202 − 500203 − 1001 (`contracts.accounts.spending_base`).
- allocated: arranged to own spending and projects (500201 + 5101 + 5201: the allocation stays
  counted once it is planned or paid); what was passed on is `issued_to_lower` (500202) and
  `horizontal_out` (500203), spent by the region that received it.
- paid: 5201 — only valid payments with a payment date, and never money moved into a fiscal
  special account (the recorder does not post those), net of returns.
- progress = paid / available.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TypeVar

from contracts.types import RegionLevel, region_level, region_within
from services.ledger.postings import (
    HORIZONTAL,
    LOWER_TRANSFER,
    OWN_SPENDING,
    PAID,
    PAYMENT_PLAN,
    PENDING,
    REVENUE,
    TOTAL,
)

FUND_LEVELS = ("central", "provincial", "city", "county")
_LEVEL_OF_REGION = {RegionLevel.central: "central", RegionLevel.province: "provincial", RegionLevel.city: "city",
                    RegionLevel.county: "county", RegionLevel.township: "county"}


@dataclass(frozen=True, slots=True)
class Book:
    """One indicator's books, with what the statistics need to know about it."""

    indicator_id: str
    region: str
    fund_code: str | None
    budget_year: int | None  # effective: the compiled year of an advance issue, else the registered one
    transfer: bool  # received from another region (upper or horizontal transfer): not new money
    issuer_region: str | None  # the region that gave it, when known
    balances: Mapping[str, int]
    parent: str | None = None  # the issuer's indicator the upper transfer was drawn from


@dataclass(slots=True)
class Metrics:
    scale_fen: int = 0
    available_fen: int = 0
    allocated_fen: int = 0
    issued_to_lower_fen: int = 0
    horizontal_out_fen: int = 0
    pending_fen: int = 0
    paid_fen: int = 0
    uncompiled_fen: int = 0
    indicators: int = 0

    def add(self, book: Book, *, enters_scope: bool) -> None:
        b = book.balances
        received = -b[REVENUE]
        if enters_scope:
            self.scale_fen += received
        self.available_fen += received - b[LOWER_TRANSFER] - b[HORIZONTAL] - b[TOTAL]
        self.allocated_fen += b[OWN_SPENDING] + b[PAYMENT_PLAN] + b[PAID]
        self.issued_to_lower_fen += b[LOWER_TRANSFER]
        self.horizontal_out_fen += b[HORIZONTAL]
        self.pending_fen += b[PENDING]
        self.paid_fen += b[PAID]
        self.uncompiled_fen += b[TOTAL]
        self.indicators += 1

    @property
    def progress(self) -> Decimal:
        """paid / available (seed 002), 4 decimal places; 0 when nothing is available."""
        if self.available_fen <= 0:
            return Decimal("0.0000")
        return (Decimal(self.paid_fen) / Decimal(self.available_fen)).quantize(Decimal("0.0001"), ROUND_HALF_EVEN)


@dataclass(slots=True)
class Scope:
    """A region scope: every code under `region` (the three-tier prefix rule)."""

    region: str
    budget_year: int | None = None
    fund_code: str | None = None

    def covers(self, code: str | None) -> bool:
        return code is not None and region_within(code, self.region)

    def selects(self, book: Book) -> bool:
        return (self.covers(book.region)
                and (self.budget_year is None or book.budget_year == self.budget_year)
                and (self.fund_code is None or book.fund_code == self.fund_code))

    def enters(self, book: Book) -> bool:
        """Money of this book came into the scope here (own arrangement, or a giver outside)."""
        return not book.transfer or book.issuer_region is None or not self.covers(book.issuer_region)


def metrics(books: Iterable[Book], scope: Scope) -> Metrics:
    out = Metrics()
    for book in books:
        if scope.selects(book):
            out.add(book, enters_scope=scope.enters(book))
    return out


K = TypeVar("K", bound=Hashable)


def grouped(books: Iterable[Book], scope: Scope, key: Callable[[Book], K | None]) -> dict[K, Metrics]:
    """Metrics per key (books whose key is None are left out)."""
    out: dict[K, Metrics] = {}
    for book in books:
        if scope.selects(book) and (k := key(book)) is not None:
            out.setdefault(k, Metrics()).add(book, enters_scope=scope.enters(book))
    return out


def per_child(books: list[Book], scope: Scope, children: Iterable[str]) -> dict[str, Metrics]:
    """Metrics of each child region's own subtree (drill-down): transfers between levels inside
    a child count once, where they entered that child."""
    out = {}
    for child in children:
        sub = Scope(child, scope.budget_year, scope.fund_code)
        out[child] = metrics(books, sub)
    return out


def child_under(code: str, parent: str) -> str | None:
    """The child of `parent` (one level down the GB/T 2260 tree) that `code` lies under."""
    if code == parent or not region_within(code, parent):
        return None
    level = region_level(parent)
    if level == RegionLevel.central:
        return code[:2] + "0000"
    if level == RegionLevel.province:
        return code[:4] + "00"
    if level == RegionLevel.city:
        return code[:6]
    if level == RegionLevel.county:
        return code[:9]
    return None


def fund_level_of(region: str) -> str:
    """中央/省级/市级/县级: the level of money arranged by a region's own budget."""
    return _LEVEL_OF_REGION[region_level(region)]


def chain_roots(parents: Mapping[str, str | None], regions: Mapping[str, str]) -> dict[str, str]:
    """For each indicator, the region of the top of its chain (the level that arranged the money
    with its own budget: 本级安排), following received transfers up to their issuers' indicators.
    A chain whose top is unknown stops at the highest indicator the ledger knows."""
    out: dict[str, str] = {}
    for start in parents:
        path: list[str] = []
        node, top = start, None
        while True:
            if node in out:
                top = out[node]
                break
            if node not in regions or node in path:
                break
            path.append(node)
            parent = parents.get(node)
            if parent is None or parent not in regions:
                break
            node = parent
        if top is None and path:
            top = regions[path[-1]]
        for n in path:
            out[n] = top  # type: ignore[assignment]
    return out


def ranking(items: Mapping[str, Metrics]) -> list[tuple[int, str, Metrics]]:
    """Regions ranked by progress (highest first), ties by paid amount then code."""
    ordered = sorted(items.items(), key=lambda kv: (-kv[1].progress, -kv[1].paid_fen, kv[0]))
    return [(i, code, m) for i, (code, m) in enumerate(ordered, 1)]


def group_of(region: str, fund_code: str | None, groups: Iterable[Mapping]) -> Mapping | None:
    """The responsible group (业务组, 谁主管、谁负责) of a fund at a region: among the groups whose
    region covers it, the one of the most specific region that names the fund, else the most
    specific catch-all group (an empty fund list means every fund)."""
    best: tuple[int, int, str] | None = None
    chosen = None
    for g in groups:
        if not region_within(region, g["region"]):
            continue
        funds = g["fund_codes"]
        if funds and fund_code not in funds:
            continue
        rank = (1 if funds else 0, len(g["region"].rstrip("0")), g["group_code"])
        if best is None or rank > best:
            best, chosen = rank, g
    return chosen
