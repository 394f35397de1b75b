"""The recorder on SQLite and PostgreSQL: every posting type, idempotence, red-ink corrections,
interlock, overdrafts, fund links, the seed 002 statistics rules, and what the database refuses."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from services.ledger import schema as s
from tests import factories as f
from tests.ledger import builders as b

ENTERPRISE_ACCOUNT = "6222020200118888"  # the payee account of tests.factories.payment


@pytest.fixture
async def ledger(database_url):
    lg = await b.Ledger.create(database_url)
    yield lg
    await lg.close()


CHAIN = [
    f.registered("C1", "1000.00", region="000000", id="e1"),
    b.issued("T1", "C1", "410324", "600.00", region="000000", id="e2"),
    f.registered("K1", "600.00", region="410324", source="upper_transfer", upper_indicator_id="T1", id="e3"),
    f.allocated("A1", "K1", "250.00") | {"id": "e4"},
    f.allocated("A2", "K1", "200.00", kind="project", project_code="XM1", project_name="栾川县道路硬化项目") | {"id": "e5"},
    f.allocated("A3", "K1", "50.00", kind="horizontal", to_region="410423") | {"id": "e6"},
    b.planned("PL1", "K1", "80.00", id="e7"),
    f.payment("PAY1", "K1", "80.00", plan_id="PL1") | {"id": "e8"},
    f.payment("PAY2", "K1", "120.00", project_code="XM1") | {"id": "e9"},
    b.returned("R1", "PAY2", "K1", "20.00", id="e10"),
    f.registered("ADV", "300.00", advance_issue=True, id="e11"),
]


async def test_every_posting_type_balances_and_lands_on_the_right_accounts(ledger):
    await ledger.apply(*CHAIN)
    assert await ledger.balances("C1") == {"4001": 100000, "5001": 40000, "500202": 60000}
    assert await ledger.balances("K1") == {"4001": 60000, "5001": 10000, "500201": 25000 + 20000 - 8000 - 10000,
                                           "500203": 5000, "5201": 18000}
    assert await ledger.project("K1", "XM1") == {"500201": 10000, "5001": -20000, "5201": 10000}
    assert await ledger.balances("ADV") == {"1001": 30000, "4001": 30000}
    await ledger.apply(b.compiled("ADV", "300.00", id="e12"))
    assert await ledger.balances("ADV") == {"4001": 30000, "5001": 30000}
    assert (await ledger.rows(s.indicators, indicator_id="ADV"))[0]["compiled_year"] == 2027
    for ind in ("C1", "K1", "ADV"):  # Σ debits = Σ credits on every indicator's books
        assert b.debit_positive_sum(await ledger.balances(ind)) == 0
    journal = await ledger.rows(s.journal)
    assert all(r["amount_fen"] > 0 and r["debit"] != r["credit"] for r in journal)
    assert {r["kind"] for r in journal} == {"indicator.registered", "indicator.issued", "indicator.allocated",
                                            "payment.planned", "payment.made", "payment.returned",
                                            "indicator.compiled"}
    assert (await ledger.verify()).ok
    applied = ledger.of_type("ledger.posting_applied")
    assert len(applied) == 12
    last = applied[-1].data
    assert last.indicator_id == "ADV" and {k: str(v) for k, v in last.balances.items()} == {
        "1001": "0.00", "4001": "300.00", "5001": "300.00"}


async def test_redelivery_and_duplicates_change_nothing(ledger):
    await ledger.apply(*CHAIN)
    before = await ledger.checksum()
    n = len(ledger.derived)
    await ledger.apply(*CHAIN)  # the whole log again
    await ledger.apply(CHAIN[8], CHAIN[8])  # twice within one batch
    await ledger.apply(CHAIN[8] | {"id": "other-id"})  # the same payment reported under another event id
    assert await ledger.checksum() == before
    assert len(ledger.derived) == n
    assert len(await ledger.rows(s.payments)) == 2


async def test_red_ink_corrections_reverse_and_repost_traceably(ledger):
    await ledger.apply(*CHAIN[:3])
    await ledger.apply(b.corrected("X1", "e3", "550.00", id="c1"))  # receipt registered with the wrong amount
    assert await ledger.balances("K1") == {"4001": 55000, "5001": 55000}
    assert (await ledger.rows(s.indicators, indicator_id="K1"))[0]["amount_fen"] == 55000
    await ledger.apply(b.corrected("X2", "c1", "600.00", id="c2"))  # corrected again (names the correction)
    assert await ledger.balances("K1") == {"4001": 60000, "5001": 60000}
    journal = [r for r in await ledger.rows(s.journal) if r["indicator_id"] == "K1"]
    assert [(r["posting_id"], r["red_ink"], r["reverses"]) for r in journal if r["move_no"] == 0] == [
        ("e3:0", False, None), ("c1:0", True, "e3:0"), ("c1:1", False, None), ("c2:0", True, "c1:1"),
        ("c2:1", False, None)]
    states = [(e.data.state.value, e.data.received) for e in ledger.of_type("ledger.interlock_checked")]
    assert [x[0] for x in states] == ["in_transit", "matched", "mismatch", "matched"]
    reversals = [e.data for e in ledger.of_type("ledger.posting_applied") if e.data.red_ink]
    assert [r.reverses_event_id for r in reversals] == ["e3", "c1"]

    await ledger.apply(*CHAIN[3:10])
    await ledger.apply(b.corrected("X3", "e8", None, id="c3"))  # cancel the planned payment
    await ledger.apply(b.corrected("X4", "e4", "240.00", id="c4"),  # correct an allocation …
                       b.corrected("X5", "c4", "230.00", id="c5"))  # … twice in one batch
    assert await ledger.balances("K1") == {"4001": 60000, "5001": 10000 + 2000, "500201": 27000 - 2000,
                                           "5101": 8000, "500203": 5000, "5201": 10000}
    assert (await ledger.rows(s.payments, payment_id="PAY1"))[0]["status"] == "cancelled"
    assert (await ledger.rows(s.allocations, allocation_id="A1"))[0]["amount_fen"] == 23000
    assert (await ledger.verify()).ok


async def test_a_correction_of_an_unknown_event_waits_parked_until_it_arrives(ledger):
    await ledger.apply(f.registered("K1", "100.00"), b.corrected("X", "al", "30.00", id="x"))
    [parked] = await ledger.rows(s.parked)
    assert (parked["event_id"], parked["waits_for"], parked["event_type"]) == ("x", "event:al", "indicator.corrected")
    assert await ledger.rows(s.applied, event_id="x") == []
    await ledger.apply(b.corrected("X", "al", "30.00", id="x"))  # delivered again while it waits: still once
    assert len(await ledger.rows(s.parked)) == 1
    await ledger.apply(f.allocated("A1", "K1", "50.00") | {"id": "al"})
    assert await ledger.rows(s.parked) == []
    assert await ledger.balances("K1") == {"4001": 10000, "5001": 7000, "500201": 3000}
    assert (await ledger.rows(s.allocations, allocation_id="A1"))[0]["amount_fen"] == 3000
    assert (await ledger.rows(s.applied, event_id="x"))[0]["corrects"] == "al"
    assert (await ledger.verify()).ok


async def test_interlock_breaks_are_published_and_receipts_may_come_before_the_issue(ledger):
    await ledger.apply(f.registered("K1", "550.00", source="upper_transfer", upper_indicator_id="T1", id="r"))
    assert ledger.of_type("ledger.interlock_checked") == []  # the issue is not known yet: nothing to say
    await ledger.apply(f.registered("C1", "1000.00", region="410300"),
                       b.issued("T1", "C1", "410324", "600.00", region="410300", id="i"))
    (event,) = ledger.of_type("ledger.interlock_checked")
    assert event.region == "410324" and event.id == "ledger:interlock:T1:i"
    d = event.data
    assert (d.state.value, str(d.issued), str(d.received), str(d.in_transit), d.receipt_indicator_ids) == (
        "mismatch", "600.00", "550.00", "50.00", ["K1"])
    (row,) = await ledger.rows(s.transfers, transfer_id="T1")
    assert (row["issued_fen"], row["received_fen"], row["state"]) == (60000, 55000, "mismatch")


async def test_overdrafts_are_recorded_and_reported(ledger):
    await ledger.apply(f.registered("K1", "100.00"), f.allocated("A1", "K1", "120.00") | {"id": "al"},
                       f.payment("P1", "K1", "130.00") | {"id": "pay"})
    assert await ledger.balances("K1") == {"4001": 10000, "5001": -2000, "500201": -1000, "5201": 13000}
    kinds = {(e.data.kind.value, str(e.data.amount), str(e.data.available)) for e in ledger.of_type("ledger.balance_exceeded")}
    assert kinds == {("allocation_beyond_pending", "120.00", "100.00"), ("payment_beyond_balance", "130.00", "120.00")}


async def test_a_second_upper_fund_link_is_recorded_and_flagged(ledger):
    await ledger.apply(b.fund("410324-F01", "C22"), b.fund("410324-F02", "C22"))
    await ledger.apply(b.link("410324-F01", "C22"))
    assert ledger.of_type("ledger.fund_link_conflict") == []
    await ledger.apply(b.link("410324-F01", "C23", id="l2"))
    (conflict,) = ledger.of_type("ledger.fund_link_conflict")
    assert conflict.data.upper_fund_codes == ["C22", "C23"] and conflict.data.source_event_id == "l2"
    assert (await ledger.rows(s.funds, fund_code="410324-F01"))[0]["upper_fund_code"] == "C22"
    assert len(await ledger.rows(s.fund_links, fund_code="410324-F01")) == 2


async def test_only_valid_dated_payments_are_spending(ledger):
    await ledger.apply(f.registered("K1", "100.00"), f.allocated("A1", "K1", "100.00"),
                       f.payment("P1", "K1", "10.00", payment_date=None), f.payment("P2", "K1", "20.00", valid=False),
                       f.payment("P3", "K1", "30.00"), b.returned("R1", "P1", "K1", "10.00"))
    assert (await ledger.balances("K1"))["5201"] == 3000
    statuses = {r["payment_id"]: r["status"] for r in await ledger.rows(s.payments)}
    assert statuses == {"P1": "undated", "P2": "invalid", "P3": "counted"}


@pytest.mark.parametrize("account_first", [True, False], ids=["account-first", "payment-first"])
async def test_transfers_into_a_special_account_are_not_spending_whichever_topic_comes_first(ledger, account_first):
    special = b.account(ENTERPRISE_ACCOUNT, "special", id="acc", time="2026-04-01T09:00:00+08:00")
    events = [f.registered("K1", "100.00"), f.allocated("A1", "K1", "100.00"),
              f.payment("P1", "K1", "40.00") | {"id": "p1"}, f.payment("P2", "K1", "5.00", person=f.citizen_id(1))]
    if account_first:
        await ledger.apply(special)
        await ledger.apply(*events)
    else:
        await ledger.apply(*events)
        await ledger.apply(special)
    assert await ledger.balances("K1") == {"4001": 10000, "500201": 9500, "5201": 500}
    assert (await ledger.rows(s.payments, payment_id="P1"))[0]["status"] == "special_transfer"
    if not account_first:  # taken back out of 5201 by a red-ink entry that references the payment
        (back,) = [r for r in await ledger.rows(s.journal) if r["kind"] == "payment.reclassified"]
        assert (back["red_ink"], back["reverses"], back["debit"], back["credit"]) == (True, "p1:0", "500201", "5201")
        (published,) = [e for e in ledger.of_type("ledger.posting_applied") if e.data.source_event_id == "acc"]
        assert published.data.red_ink and published.data.reverses_event_id == "p1"
        assert published.time.isoformat() == "2026-04-01T09:00:00+08:00"


async def test_the_database_refuses_unbalanced_moves_and_journal_edits(ledger):
    await ledger.apply(f.registered("K1", "1.00"))
    row = (await ledger.rows(s.journal))[0]
    for bad in ({"debit": "5001", "credit": "5001"}, {"amount_fen": 0}, {"debit": "9999"}):
        with pytest.raises(IntegrityError):
            async with ledger.engine.begin() as conn:
                await conn.execute(s.journal.insert().values({**row, "seq": 99, **bad}))
    for sql in ("UPDATE ledger_journal SET amount_fen = 1", "DELETE FROM ledger_journal"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with ledger.engine.begin() as conn:
                await conn.execute(text(sql))


async def test_verify_names_the_first_tampered_row(ledger, database_url):
    await ledger.apply(*CHAIN)
    assert (await ledger.verify()).ok
    async with ledger.engine.begin() as conn:  # an administrator bypasses the append-only trigger
        if "sqlite" in database_url:
            await conn.execute(text("DROP TRIGGER ledger_journal_no_update"))
        else:
            await conn.execute(text("ALTER TABLE ledger_journal DISABLE TRIGGER ledger_journal_append_only"))
        await conn.execute(text("UPDATE ledger_journal SET amount_fen = amount_fen + 100 WHERE seq = 5"))
    result = await ledger.verify()
    assert not result.ok and result.first_broken_seq == 5 and result.rows == 4


def test_the_ledger_commands_are_wired_into_fundwatch(sqlite_url, monkeypatch, capsys):
    from services.runtime import cli
    from services.runtime.db import migrate
    from services.runtime.settings import get_settings

    migrate(sqlite_url, "ledger")
    monkeypatch.setenv("FUNDWATCH_DATABASE_URL", sqlite_url)
    get_settings.cache_clear()
    try:
        assert cli.main(["ledger", "verify"]) == 0
    finally:
        get_settings.cache_clear()
    assert "journal intact: 0 rows" in capsys.readouterr().out
