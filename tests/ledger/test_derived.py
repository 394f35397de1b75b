"""The derived stream's hand-made wire form is exactly the contract's event (contracts/ledger.py)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from contracts import make_event, parse_event
from contracts.ledger import BalanceExceeded, FundLinkConflict, InterlockChecked, InterlockState, Move, PostingApplied
from services.ledger import derived
from services.ledger import postings as p
from services.ledger.interlock import interlock

TIME = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
ON = dt.date(2026, 3, 2)


def same(out, expected_type: str, data, *, region: str, subject: str, id: str) -> None:
    parsed = parse_event(out.value)
    assert parsed == make_event(expected_type, data, id=id, region=region, time=TIME, source=derived.SOURCE,
                                subject=subject)
    assert out.key == region[:6].encode()


@pytest.mark.parametrize("fen", [0, 5, 123456, -250, -1])
def test_yuan_is_the_exact_wire_form(fen):
    assert Decimal(derived.yuan(fen)) * 100 == fen
    assert derived.yuan(fen) == str((Decimal(fen) / 100).quantize(Decimal("0.01")))


def test_posting_applied_with_negative_balances_and_red_ink():
    original = p.payment("ev-1", "IND-1", 12345, ON, via_plan=False, project_code="XM-1")
    reversal = p.correction("ev-2", ON, [original], None)[0]
    out = derived.posting_applied("t", reversal, journal_seq=7, region="410324", fund_code=None, budget_year=2026,
                                  source_event_id="ev-2", source_event_type="indicator.corrected",
                                  time_iso=TIME.isoformat(), balances={"500201": -500, "5201": 0})
    data = PostingApplied(posting_id="ev-2:0", journal_seq=7, source_event_id="ev-2", source_event_type="indicator.corrected",
                          indicator_id="IND-1", budget_year=2026, booked_on=ON, red_ink=True,
                          reverses_event_id="ev-1",
                          moves=[Move(debit="500201", credit="5201", amount=Decimal("123.45"), project_code="XM-1")],
                          balances={"500201": Decimal("-5.00"), "5201": Decimal("0.00")})
    same(out, "ledger.posting_applied", data, region="410324", subject="IND-1", id="ledger:ev-2:0")


def test_interlock_checked():
    transfer = {"transfer_id": "XD-1", "issuer_region": "410300", "to_region": "410324", "fund_code": "C22",
                "issued_on": ON, "first_received_on": None}
    out = derived.interlock_checked("t", transfer, interlock(100000, 0, 0), [], source_event_id="ev-9", time=TIME)
    data = InterlockChecked(transfer_indicator_id="XD-1", issuer_region="410300", receiver_region="410324",
                            fund_code="C22", issued=Decimal("1000.00"), received=Decimal("0"),
                            in_transit=Decimal("1000.00"), state=InterlockState.in_transit, issued_on=ON)
    same(out, "ledger.interlock_checked", data, region="410324", subject="XD-1", id="ledger:interlock:XD-1:ev-9")


def test_balance_exceeded_and_fund_link_conflict():
    out = derived.balance_exceeded("t", "payment_beyond_balance", source_event_id="ev-3", time=TIME,
                                   region="410324", indicator_id="IND-1", fund_code="C22", amount_fen=5000,
                                   available_fen=-20, payment_id="ZF1")
    data = BalanceExceeded(kind="payment_beyond_balance", source_event_id="ev-3", indicator_id="IND-1",
                           fund_code="C22", amount=Decimal("50.00"), available=Decimal("-0.20"), payment_id="ZF1")
    same(out, "ledger.balance_exceeded", data, region="410324", subject="ZF1", id="ledger:exceeded:ev-3")
    out = derived.fund_link_conflict("t", fund_code="410324-F01", upper_fund_codes=["C22", "C23"],
                                     source_event_id="ev-4", region="410324", time=TIME)
    data = FundLinkConflict(fund_code="410324-F01", upper_fund_codes=["C22", "C23"], source_event_id="ev-4")
    same(out, "ledger.fund_link_conflict", data, region="410324", subject="410324-F01",
         id="ledger:fund-link:410324-F01:ev-4")


def test_derived_ids_are_deterministic_and_always_valid_identifiers():
    long_id = "x" * 100
    assert derived.derived_id(f"{long_id}:0") == derived.derived_id(f"{long_id}:0")
    assert derived.derived_id(f"{long_id}:0") != derived.derived_id(f"{long_id}:1")
    assert len(derived.derived_id(f"{long_id}:0")) <= 100
    assert derived.derived_id("demo-1:0") == "ledger:demo-1:0"
