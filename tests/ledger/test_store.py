"""The ledger recorder on SQLite and PostgreSQL: balances, idempotence, red-ink corrections."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.exc import IntegrityError

from contracts import parse_event
from services.ledger import store
from services.runtime.db import make_engine, migrate
from services.runtime.projection import Delivery
from tests import factories as f

KEY = b"k"


def deliveries(*raws: dict) -> list[Delivery]:
    return [Delivery(None, parse_event(r, pii_key=KEY)) for r in raws]  # type: ignore[arg-type]


async def apply(engine, *raws: dict) -> None:
    async with engine.begin() as conn:
        await store.apply_batch(conn, deliveries(*raws))


async def balances(engine, **kw) -> dict[tuple[str, str], int]:
    async with engine.connect() as conn:
        rows = await store.balances_by_account(conn, **kw)
    return {(r["region"], r["account"]): int(r["balance_fen"]) for r in rows if r["balance_fen"]}


@pytest.fixture
def engine(database_url):
    migrate(database_url, "ledger")
    eng = make_engine(database_url)
    yield eng
    asyncio.run(eng.dispose())


CHAIN = [
    f.registered("C1", "1000.00", region="000000", id="e1"),
    f.issued("T1", "C1", "410324", "600.00", region="000000") | {"id": "e2"},
    f.registered("K1", "600.00", region="410324", source="upper_transfer", upper_indicator_id="T1", id="e3"),
    f.allocated("A1", "K1", "250.00") | {"id": "e4"},
    f.payment("PAY1", "K1", "100.00") | {"id": "e5"},
]


async def test_chain_balances_and_redelivery_change_nothing(engine):
    await apply(engine, *CHAIN)
    expected = {("000000", "4001"): -100000, ("000000", "5001"): 40000, ("000000", "500202"): 60000,
                ("410324", "4001"): -60000, ("410324", "5001"): 35000, ("410324", "500201"): 15000,
                ("410324", "5201"): 10000}
    assert await balances(engine) == expected
    await apply(engine, *CHAIN)  # redelivered as a batch
    await apply(engine, CHAIN[4], CHAIN[4])  # and twice within one batch
    assert await balances(engine) == expected
    assert await balances(engine, region="410400") == {}  # another city sees nothing
    assert len(await balances(engine, region="410300")) == 4  # the county's city sees it
    assert await balances(engine, region="410324", fund_code="C22") == {
        k: v for k, v in expected.items() if k[0] == "410324"}
    async with engine.connect() as conn:
        assert await store.applied_count(conn) == 5


async def test_red_ink_correction_is_traceable(engine):
    await apply(engine, f.registered("K1", "600.00", id="r1"))
    correction = f.event("indicator.corrected", {"correction_id": "X1", "corrects_event_id": "r1",
                                                 "corrected_amount": "550.00", "reason": "金额录入错误",
                                                 "corrected_on": "2026-03-01"}, id="r2")
    await apply(engine, correction)
    await apply(engine, correction)
    assert await balances(engine) == {("410324", "4001"): -55000, ("410324", "5001"): 55000}
    async with engine.connect() as conn:
        rows = (await conn.execute(store.postings.select().order_by(store.postings.c.posting_id))).all()
    assert [(r.event_id, r.red_ink, r.reverses_event_id, r.total_fen) for r in rows] == [
        ("r1", False, None, 120000), ("r2", True, "r1", 120000), ("r2", False, None, 110000)]


async def test_correction_of_unknown_event_fails_the_batch_and_writes_nothing(engine):
    bad = f.event("indicator.corrected", {"correction_id": "X1", "corrects_event_id": "nope", "reason": "x",
                                          "corrected_on": "2026-03-01"})
    with pytest.raises(LookupError):
        await apply(engine, f.registered("K1", "1.00"), bad)
    assert await balances(engine) == {}


async def test_a_line_with_both_sides_is_refused_by_the_database(engine):
    async with engine.begin() as conn:
        await conn.execute(store.postings.insert().values(
            posting_id="p#0", event_id="p", kind="x", region="410324", indicator_id="I", booked_on=None or
            __import__("datetime").date(2026, 1, 1), red_ink=False, total_fen=1))
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(store.lines.insert().values(posting_id="p#0", line_no=0, account="5001",
                                                           debit_fen=1, credit_fen=1))
