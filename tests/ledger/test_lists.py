"""The console's lists at scale keep their answers: the monthly totals the recorder keeps equal the
payments aggregated, whatever the batch size; payment pages (keys first, then rows) and the
one-pass count of a short search text equal the plain query's."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from services.ledger import schema as s
from services.ledger.postings import PaymentStatus
from services.ledger.queries import lists
from services.runtime.db import make_engine
from tests.ledger.conftest import project


def _run(url: str, work):
    async def go():
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                return await work(conn)
        finally:
            await engine.dispose()

    return asyncio.run(go())


async def _months_both_ways(conn) -> tuple[dict, dict]:
    p = s.payments
    stored = {(r.indicator_id, r.region, r.month): (r.payments, r.paid_fen)
              for r in (await conn.execute(select(s.payment_months))).all() if r.payments or r.paid_fen}
    aggregated: dict = {}
    rows = (await conn.execute(select(p).where(p.c.status == PaymentStatus.counted,
                                               p.c.payment_date.is_not(None)))).mappings()
    for r in rows:
        k = (r["indicator_id"], r["region"], r["payment_date"].strftime("%Y-%m"))
        n, fen = aggregated.get(k, (0, 0))
        aggregated[k] = (n + 1, fen + r["amount_fen"] - r["returned_fen"])
    return stored, aggregated


def test_monthly_totals_equal_the_payments_aggregated(demo_ledger):
    stored, aggregated = _run(demo_ledger.url, _months_both_ways)
    assert aggregated and stored == aggregated
    returned = _run(demo_ledger.url, lambda c: _scalar(c, select(func.count()).where(s.payments.c.returned_fen > 0)))
    assert returned > 0  # returns changed stored payments: the deltas of changed rows were exercised


async def _scalar(conn, q):
    return (await conn.execute(q)).scalar_one()


def test_monthly_totals_do_not_depend_on_the_batch_size(demo_dataset, tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'small-batches.db'}"
    project(url, demo_dataset.events, batch=37)
    stored, aggregated = _run(url, _months_both_ways)
    assert stored == aggregated


def test_trend_is_the_payments_by_month(demo_ledger):
    async def work(conn):
        trend = await lists.monthly(conn, "410000", None)
        p = s.payments
        by_month: dict[str, list[int]] = {}
        for r in (await conn.execute(select(p).where(p.c.status == PaymentStatus.counted,
                                                     p.c.payment_date.is_not(None)))).mappings():
            m = by_month.setdefault(r["payment_date"].strftime("%Y-%m"), [0, 0])
            m[0] += 1
            m[1] += r["amount_fen"] - r["returned_fen"]
        return trend, by_month

    trend, by_month = _run(demo_ledger.url, work)
    assert [(t["month"], t["payments"], t["paid_fen"]) for t in trend] == \
        [(m, n, fen) for m, (n, fen) in sorted(by_month.items())]


def test_payment_pages_and_short_search_counts(demo_ledger):
    async def work(conn):
        everything = await lists.payments(conn, "000000", limit=5000, offset=0)
        pages = [await lists.payments(conn, "000000", limit=50, offset=o) for o in (0, 50, 120)]
        name = everything.items[7]["payee_name"][:2]
        short = await lists.payments(conn, "000000", text=name, limit=5, offset=0)
        beyond = await lists.payments(conn, "000000", text=name, limit=5, offset=10_000)
        words = everything.items[7]["purpose"][5:10]  # by the trigram index (FTS5 on SQLite, GIN on PostgreSQL)
        long = await lists.payments(conn, "000000", text=words, limit=20, offset=3)
        return everything, pages, name, short, beyond, words, long

    everything, pages, name, short, beyond, words, long = _run(demo_ledger.url, work)
    ids = [r["payment_id"] for r in everything.items]
    assert everything.total == len(ids) > 170
    for page, offset in zip(pages, (0, 50, 120), strict=True):
        assert [r["payment_id"] for r in page.items] == ids[offset:offset + 50]
        assert page.total == everything.total
    matching = [r["payment_id"] for r in everything.items if name in r["payee_name"] or name in r["purpose"]]
    assert short.total == beyond.total == len(matching) > 0
    assert [r["payment_id"] for r in short.items] == matching[:5]
    assert beyond.items == []
    matching = [r["payment_id"] for r in everything.items if words in r["payee_name"] or words in r["purpose"]]
    assert long.total == len(matching) > 3
    assert [r["payment_id"] for r in long.items] == matching[3:23]
