"""Ledger postings as pure functions: every posting balances and moves the right accounts."""

from __future__ import annotations

from collections import defaultdict

import pytest

from contracts import parse_event
from services.ledger.postings import postings_for, reversal_of
from tests import factories as f

KEY = b"k"


def balances_after(*raws: dict) -> dict[tuple[str, str, str], int]:
    out: dict[tuple[str, str, str], int] = defaultdict(int)
    for raw in raws:
        for p in postings_for(parse_event(raw, pii_key=KEY)):
            assert p.balanced, p
            for line in p.lines:
                out[(p.region, p.indicator_id, line.account)] += line.signed_fen
    return {k: v for k, v in out.items() if v}


def test_registration_makes_the_indicator_pending():
    assert balances_after(f.registered("I1", "100.00")) == {
        ("410324", "I1", "4001"): -10000, ("410324", "I1", "5001"): 10000}


def test_advance_issue_stays_in_total_until_compiled():
    assert balances_after(f.registered("I1", "100.00", advance_issue=True)) == {
        ("410324", "I1", "1001"): 10000, ("410324", "I1", "4001"): -10000}


def test_compiling_an_advance_issue_makes_it_pending():
    compiled = f.event("indicator.compiled", {"indicator_id": "I1", "amount": "100.00", "budget_year": 2027,
                                              "compiled_on": "2027-01-05"})
    assert balances_after(f.registered("I1", "100.00", advance_issue=True), compiled) == {
        ("410324", "I1", "4001"): -10000, ("410324", "I1", "5001"): 10000}


def test_issue_receive_allocate_pay_chain():
    b = balances_after(
        f.registered("C1", "1000.00", region="000000"),
        f.issued("T1", "C1", "410000", "600.00", region="000000"),
        f.registered("P1", "600.00", region="410000", source="upper_transfer", upper_indicator_id="T1"),
        f.allocated("A1", "P1", "250.00", region="410000"),
        f.payment("PAY1", "P1", "100.00", region="410000"),
    )
    assert b == {
        ("000000", "C1", "4001"): -100000, ("000000", "C1", "5001"): 40000, ("000000", "C1", "500202"): 60000,
        ("410000", "P1", "4001"): -60000, ("410000", "P1", "5001"): 35000, ("410000", "P1", "500201"): 15000,
        ("410000", "P1", "5201"): 10000,
    }


def test_plan_then_payment_goes_through_5101():
    b = balances_after(
        f.registered("I1", "100.00"), f.allocated("A1", "I1", "100.00"),
        f.event("payment.planned", {"plan_id": "PL1", "indicator_id": "I1", "amount": "40", "planned_on": "2026-03-01"}),
        f.payment("P1", "I1", "40.00", plan_id="PL1"),
    )
    assert b[("410324", "I1", "500201")] == 6000 and b[("410324", "I1", "5201")] == 4000
    assert ("410324", "I1", "5101") not in b


def test_return_moves_payment_back_and_horizontal_transfer_uses_500203():
    b = balances_after(
        f.registered("I1", "100.00"),
        f.allocated("A1", "I1", "30.00", kind="horizontal", to_region="410423"),
        f.allocated("A2", "I1", "70.00"),
        f.payment("P1", "I1", "50.00"),
        f.event("payment.returned", {"return_id": "R1", "payment_id": "P1", "indicator_id": "I1", "amount": "20",
                                     "returned_on": "2026-03-05", "reason": "退回"}),
    )
    assert b[("410324", "I1", "500203")] == 3000
    assert b[("410324", "I1", "500201")] == 4000 and b[("410324", "I1", "5201")] == 3000


@pytest.mark.parametrize("extra", [{"payment_date": None}, {"valid": False}])
def test_invalid_or_undated_payments_are_not_spending(extra):
    assert balances_after(f.payment("P1", "I1", "50.00", **extra)) == {}


def test_red_ink_correction_reverses_then_reposts():
    original = postings_for(parse_event(f.registered("I1", "100.00", ), pii_key=KEY))
    corrected = reversal_of(original, "c1", original[0].booked_on, corrected_fen=8000, original_fen=10000)
    assert [p.red_ink for p in corrected] == [True, False]
    assert all(p.balanced for p in corrected)
    assert corrected[0].reverses_event_id == original[0].event_id
    net = defaultdict(int)
    for p in original + corrected:
        for line in p.lines:
            net[line.account] += line.signed_fen
    assert dict(net) == {"1001": 0, "4001": -8000, "5001": 8000}
    cancelled = reversal_of(original, "c2", original[0].booked_on, corrected_fen=None, original_fen=10000)
    assert len(cancelled) == 1 and cancelled[0].red_ink
