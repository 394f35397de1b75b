"""Interlock arithmetic, fund links and the statistics over the books, as pure functions."""

from __future__ import annotations

from decimal import Decimal

import pytest

from contracts.ledger import InterlockState
from services.ledger.interlock import interlock, link_conflict, root_fund
from services.ledger.postings import empty_balances
from services.ledger.statistics import (
    Book,
    Scope,
    chain_roots,
    child_under,
    fund_level_of,
    group_of,
    metrics,
    per_child,
    ranking,
)


@pytest.mark.parametrize("issued, received, receipts, state, transit", [
    (1000, 0, 0, InterlockState.in_transit, 1000),
    (1000, 1000, 1, InterlockState.matched, 0),
    (1000, 900, 1, InterlockState.mismatch, 100),
    (1000, 1200, 2, InterlockState.mismatch, 0),
])
def test_interlock_compares_issued_and_received(issued, received, receipts, state, transit):
    result = interlock(issued, received, receipts)
    assert result is not None and (result.state, result.in_transit_fen) == (state, transit)


def test_interlock_waits_while_the_issue_is_unknown():
    assert interlock(None, 500, 1) is None


def test_a_second_upper_fund_is_a_conflict_the_first_and_repeats_are_not():
    assert link_conflict([], "C22") is None
    assert link_conflict(["C22"], "C22") is None
    assert link_conflict(["C22"], "C23") == ["C22", "C23"]


def test_root_fund_follows_designated_links_and_stops_on_loops():
    links = {"410324-F01": "410300-F01", "410300-F01": "41-F01", "41-F01": "C22", "C22": None, "X": "Y", "Y": "X"}
    assert root_fund("410324-F01", links) == "C22"
    assert root_fund("X", links) in ("X", "Y")


def book(ind, region, *, received=0, lower=0, own=0, paid=0, pending=0, upper=False, issuer=None, year=2026,
         fund="F", uncompiled=0):
    b = empty_balances()
    b.update({"4001": -received, "500202": lower, "500201": own, "5201": paid, "5001": pending, "1001": uncompiled})
    return Book(ind, region, fund, year, upper, issuer, b)


BOOKS = [
    book("C", "000000", received=1000, lower=1000),
    book("P", "410000", received=1000, lower=600, own=400, paid=100, upper=True, issuer="000000"),
    book("Q", "410000", received=300, own=300, paid=300),  # provincial own arrangement
    book("K", "410324", received=550, own=500, paid=250, pending=50, upper=True, issuer="410000"),
    book("L", "410423", received=50, own=50, upper=True, issuer="410000"),
]


def test_scale_counts_money_where_it_enters_the_scope_and_progress_is_paid_over_available():
    province = metrics(BOOKS, Scope("410000"))
    assert province.scale_fen == 1000 + 300  # central transfer + provincial own money; lower receipts are internal
    assert province.available_fen == (1000 - 600) + 300 + 550 + 50
    assert province.paid_fen == 650
    assert province.progress == Decimal("0.5000")
    county = metrics(BOOKS, Scope("410324"))
    assert (county.scale_fen, county.available_fen, county.paid_fen) == (550, 550, 250)
    assert metrics(BOOKS, Scope("410324", budget_year=2025)).indicators == 0
    assert metrics([book("A", "410324", received=10, uncompiled=10)], Scope("410324")).available_fen == 0


def test_drill_down_per_child_and_ranking():
    children = per_child(BOOKS, Scope("410000"), ["410300", "410400"])
    assert children["410300"].scale_fen == 550 and children["410400"].scale_fen == 50
    assert [code for _, code, _ in ranking(children)] == ["410300", "410400"]  # 250/550 beats 0/50


def test_child_under_follows_the_gb2260_tree():
    assert child_under("410324", "000000") == "410000"
    assert child_under("410324", "410000") == "410300"
    assert child_under("410324", "410300") == "410324"
    assert child_under("410324100", "410324") == "410324100"
    assert child_under("410324", "410324") is None and child_under("410423", "410300") is None


def test_money_level_comes_from_the_top_of_the_chain():
    parents = {"K": "P", "P": "C", "C": None, "Q": None, "Z": "gone"}
    regions = {"K": "410324", "P": "410000", "C": "000000", "Q": "410000", "Z": "410423"}
    roots = chain_roots(parents, regions)
    assert {k: fund_level_of(v) for k, v in roots.items()} == {
        "K": "central", "P": "central", "C": "central", "Q": "provincial", "Z": "county"}


def test_responsible_group_prefers_the_most_specific_group_naming_the_fund():
    groups = [
        {"group_code": "treasury", "region": "410000", "fund_codes": set(), "department": "省厅"},
        {"group_code": "agri", "region": "410000", "fund_codes": {"C22"}, "department": "省厅"},
        {"group_code": "agri-410324", "region": "410324", "fund_codes": {"C22", "F1"}, "department": "县局"},
        {"group_code": "treasury-410324", "region": "410324", "fund_codes": set(), "department": "县局"},
    ]
    assert group_of("410324", "F1", groups)["group_code"] == "agri-410324"
    assert group_of("410324", "F9", groups)["group_code"] == "treasury-410324"
    assert group_of("410000", "C22", groups)["group_code"] == "agri"
    assert group_of("410300", "F9", groups)["group_code"] == "treasury"
    assert group_of("000000", "C22", groups) is None
