"""Horizontal inter-region transfers (地区间横向转移支付, 500203; e.g. East–West cooperation money):
recorded as transfers with their giver and amount, interlocked like vertical transfers, and counted
once in every scale (seed 002: a received indicator is not new money)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.ledger import schema as s
from services.ledger.api.models import MetricsOut
from services.ledger.queries import books
from services.ledger.statistics import Book, Metrics, Scope, metrics
from tests import factories as f
from tests.ledger import builders as b

GIVER, RECEIVER = "330000", "410324"  # Zhejiang gives to a Henan county (东西部协作)
COOPERATION_FUND = "ZJ-XZ"

GIVER_ARRANGES = f.registered("ZJ-1", "1000000.00", region=GIVER, fund_code=COOPERATION_FUND, id="h1")
GIVER_ALLOCATES = f.allocated("HZ-1", "ZJ-1", "1000000.00", region=GIVER, kind="horizontal", to_region=RECEIVER,
                              doc_no="浙财农〔2026〕8号", doc_date="2026-02-10",
                              doc_scan_ref="scan://浙财农2026-8.pdf") | {"id": "h2"}
PROVINCE_ARRANGES = f.registered("HN-1", "6000000.00", region="410000", id="h3")


def receipt(amount: str = "1000000.00", id: str = "h4") -> dict:
    return f.registered("K-HZ", amount, region=RECEIVER, fund_code=COOPERATION_FUND, source="horizontal_transfer",
                        upper_indicator_id="HZ-1", upper_region=GIVER, id=id)


@pytest.fixture
async def ledger(database_url):
    lg = await b.Ledger.create(database_url)
    yield lg
    await lg.close()


async def overview(ledger: b.Ledger, region: str) -> books.Overview:
    async with ledger.engine.connect() as conn:
        return await books.overview(conn, region)


def fund(o: books.Overview, code: str) -> Metrics:
    return next(m for c, _row, _root, m in o.by_fund if c == code)


@pytest.mark.parametrize("order", ["giver first", "receipt first"])
async def test_a_horizontal_transfer_counts_once_in_every_scale(ledger, order):
    """The issue's case: 1,000,000 from one province to another region made the national scale
    8.0M instead of 7.0M and gave the giving province's fund a scale of 2.0M."""
    events = [GIVER_ARRANGES, GIVER_ALLOCATES, PROVINCE_ARRANGES, receipt()]
    await ledger.apply(*(events if order == "giver first" else events[::-1]))

    national = await overview(ledger, "000000")
    assert national.totals.scale_fen == 7_000_000_00
    assert national.totals.available_fen == 7_000_000_00  # the giver's 1M is the receiver's to spend, once
    assert fund(national, COOPERATION_FUND).scale_fen == 1_000_000_00  # not doubled
    assert national.in_transit_fen == 0

    giver = await overview(ledger, GIVER)
    assert (giver.totals.scale_fen, giver.totals.available_fen, giver.totals.horizontal_out_fen) == (
        1_000_000_00, 0, 1_000_000_00)
    assert fund(giver, COOPERATION_FUND).scale_fen == 1_000_000_00

    province = await overview(ledger, "410000")  # money entering the receiving province from outside counts there
    assert province.totals.scale_fen == 7_000_000_00
    county = await overview(ledger, RECEIVER)
    assert (county.totals.scale_fen, county.totals.available_fen) == (1_000_000_00, 1_000_000_00)
    assert MetricsOut.of(giver.totals).horizontal_out == Decimal("1000000.00")


@pytest.mark.parametrize("order", ["giver first", "receipt first"])
async def test_a_horizontal_transfer_is_a_transfer_with_its_giver_and_amount_interlocked(ledger, order):
    events = [GIVER_ARRANGES, GIVER_ALLOCATES, receipt()]
    await ledger.apply(*(events if order == "giver first" else events[::-1]))
    [t] = await ledger.rows(s.transfers, transfer_id="HZ-1")
    assert (t["issuer_region"], t["to_region"], t["from_indicator_id"], t["issued_fen"], t["received_fen"],
            t["receipts"], t["state"]) == (GIVER, RECEIVER, "ZJ-1", 1_000_000_00, 1_000_000_00, 1, "matched")
    assert (t["fund_code"], t["budget_year"], t["doc_no"], str(t["issued_on"])) == (
        COOPERATION_FUND, 2026, "浙财农〔2026〕8号", "2026-02-10")
    checks = ledger.of_type("ledger.interlock_checked")
    last = checks[-1].data
    assert (last.transfer_indicator_id, last.issuer_region, last.receiver_region, str(last.issued),
            str(last.received), last.state.value, last.receipt_indicator_ids) == (
        "HZ-1", GIVER, RECEIVER, "1000000.00", "1000000.00", "matched", ["K-HZ"])
    assert await ledger.balances("ZJ-1") == {"4001": 1_000_000_00, "500203": 1_000_000_00}
    assert await ledger.balances("K-HZ") == {"4001": 1_000_000_00, "5001": 1_000_000_00}


async def test_a_horizontal_receipt_short_of_what_was_given_breaks_the_interlock(ledger):
    await ledger.apply(GIVER_ARRANGES, GIVER_ALLOCATES)
    [in_transit] = ledger.of_type("ledger.interlock_checked")
    assert (in_transit.data.state.value, str(in_transit.data.in_transit)) == ("in_transit", "1000000.00")
    assert (await overview(ledger, "000000")).in_transit_fen == 1_000_000_00
    await ledger.apply(receipt("900000.00"))
    last = ledger.of_type("ledger.interlock_checked")[-1].data
    assert (last.state.value, str(last.issued), str(last.received), str(last.in_transit)) == (
        "mismatch", "1000000.00", "900000.00", "100000.00")


async def test_a_red_ink_correction_of_the_horizontal_allocation_moves_what_was_given(ledger):
    await ledger.apply(GIVER_ARRANGES, GIVER_ALLOCATES, receipt("900000.00"))
    await ledger.apply(b.corrected("HC-1", "h2", "900000.00", region=GIVER, id="h5"))
    [t] = await ledger.rows(s.transfers, transfer_id="HZ-1")
    assert (t["issued_fen"], t["received_fen"], t["state"]) == (900_000_00, 900_000_00, "matched")
    assert await ledger.balances("ZJ-1") == {"4001": 1_000_000_00, "5001": 100_000_00, "500203": 900_000_00}


def test_scale_counts_a_receipt_where_the_giver_is_outside_the_scope_only():
    giver = Book("G", "330000", "F", 2026, False, None, {"4001": -100, "1001": 0, "500202": 0, "500203": 100,
                                                          "500201": 0, "5101": 0, "5201": 0, "5001": 0})
    got = Book("R", "410324", "F", 2026, True, "330000", {"4001": -100, "1001": 0, "500202": 0, "500203": 0,
                                                           "500201": 0, "5101": 0, "5201": 0, "5001": 100})
    national, henan = metrics([giver, got], Scope("000000")), metrics([giver, got], Scope("410000"))
    assert (national.scale_fen, national.available_fen, national.horizontal_out_fen) == (100, 100, 100)
    assert (henan.scale_fen, henan.available_fen, henan.horizontal_out_fen) == (100, 100, 0)
