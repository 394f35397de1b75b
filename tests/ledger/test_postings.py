"""Posting rules as pure functions: every posting type moves the right accounts, every posting
balances by construction, red-ink corrections reverse and re-post, seed 002 statistics rules."""

from __future__ import annotations

import datetime as dt

import pytest

from services.ledger import postings as p
from services.ledger.postings import InvalidMove, Move, PaymentStatus

ON = dt.date(2026, 3, 2)


def balances(*postings: p.Posting) -> dict[str, int]:
    b = p.empty_balances()
    for posting in postings:
        p.post(b, posting.moves)
    return {a: v for a, v in b.items() if v}


def test_registration_makes_the_indicator_pending_and_advance_issue_waits_for_compilation():
    assert balances(p.registration("e1", "I1", 10000, ON, advance_issue=False)) == {"4001": -10000, "5001": 10000}
    advance = p.registration("e1", "I1", 10000, ON, advance_issue=True)
    assert balances(advance) == {"1001": 10000, "4001": -10000}
    assert balances(advance, p.compilation("e2", "I1", 10000, ON)) == {"4001": -10000, "5001": 10000}


def test_issue_allocation_plan_payment_and_return_chain():
    b = balances(
        p.registration("e1", "I1", 100_000, ON, advance_issue=False),
        p.issue("e2", "I1", 30_000, ON),
        p.allocation("e3", "I1", 20_000, ON, horizontal=True, project_code=None),
        p.allocation("e4", "I1", 40_000, ON, horizontal=False, project_code="XM1"),
        p.payment_plan("e5", "I1", 15_000, ON),
        p.payment("e6", "I1", 15_000, ON, via_plan=True, project_code="XM1"),
        p.payment("e7", "I1", 5_000, ON, via_plan=False, project_code="XM1"),
        p.payment_return("e8", "I1", 2_000, ON, project_code="XM1"),
    )
    assert b == {"4001": -100_000, "5001": 10_000, "500202": 30_000, "500203": 20_000, "500201": 22_000,
                 "5201": 18_000}
    assert sum(b.values()) == 0  # the books balance: Σ debit-positive balances is zero


def test_payment_without_plan_draws_on_own_spending_and_with_plan_on_5101():
    direct = p.payment("e", "I", 1, ON, via_plan=False, project_code=None)
    planned = p.payment("e", "I", 1, ON, via_plan=True, project_code=None)
    assert (direct.moves[0].debit, direct.moves[0].credit) == ("5201", "500201")
    assert (planned.moves[0].debit, planned.moves[0].credit) == ("5201", "5101")


@pytest.mark.parametrize("debit, credit, fen", [("5201", "5201", 1), ("5201", "500201", 0), ("5201", "500201", -5),
                                                ("9999", "500201", 1), ("5201", "500201", 1.5)])
def test_a_move_that_could_unbalance_the_books_cannot_be_made(debit, credit, fen):
    with pytest.raises(InvalidMove):
        Move(debit, credit, fen)


def test_red_ink_correction_reverses_then_reposts_and_references_the_original():
    original = p.registration("r1", "I1", 10000, ON, advance_issue=False)
    corrected = p.correction("c1", ON, [original], 8000)
    assert [x.red_ink for x in corrected] == [True, False]
    assert corrected[0].reverses == original.posting_id == "r1:0"
    assert [x.posting_id for x in corrected] == ["c1:0", "c1:1"]
    assert balances(original, *corrected) == {"4001": -8000, "5001": 8000}
    cancelled = p.correction("c2", ON, [original], None)
    assert len(cancelled) == 1 and cancelled[0].red_ink
    assert balances(original, *cancelled) == {}


def test_correcting_twice_reverses_the_posting_in_force():
    original = p.allocation("a", "I1", 5000, ON, horizontal=False, project_code="XM1")
    first = p.correction("c1", ON, [original], 4000)
    second = p.correction("c2", ON, [first[1]], 4500)
    assert second[0].reverses == "c1:1"
    assert balances(original, *first, *second) == {"500201": 4500, "5001": -4500}


@pytest.mark.parametrize("valid, date, special, status", [
    (True, ON, False, PaymentStatus.counted),
    (False, ON, False, PaymentStatus.invalid),
    (True, None, False, PaymentStatus.undated),
    (True, ON, True, PaymentStatus.special_transfer),
])
def test_seed_002_only_valid_dated_payments_not_into_special_accounts_are_spending(valid, date, special, status):
    assert p.payment_status(valid=valid, payment_date=date, into_special_account=special) == status


def test_reclassification_takes_a_payment_back_out_of_5201():
    pay = p.payment("e", "I1", 700, ON, via_plan=False, project_code="XM1")
    back = p.reclassification("acc", 0, "I1", 700, ON, via_plan=False, project_code="XM1", reverses=pay.posting_id)
    assert back.red_ink and back.reverses == "e:0"
    assert balances(pay, back) == {}


def test_snapshot_shows_natural_sides_of_touched_and_nonzero_accounts():
    b = p.empty_balances()
    reg = p.registration("e", "I", 500, ON, advance_issue=False)
    p.post(b, reg.moves)
    assert p.snapshot(b, reg.touched()) == {"1001": 0, "4001": 500, "5001": 500}


def test_every_event_type_the_ledger_consumes_has_one_named_handler():
    from contracts.envelope import EVENT_TYPES
    from services.ledger.recorder import HANDLERS, consumed

    assert set(HANDLERS) == {t for t in EVENT_TYPES if consumed(t)}
    assert HANDLERS["payment.made"].__name__ == "on_payment_made"
