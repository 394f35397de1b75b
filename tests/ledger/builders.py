"""A small harness over the recorder for store tests: apply wire-form events in batches, read
balances on their natural side, collect the derived stream."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from contracts import Envelope, parse_event
from services.ledger import audit
from services.ledger import schema as s
from services.ledger.postings import CHART, natural
from services.ledger.recorder import Recorder
from services.runtime.db import make_engine, migrate
from tests import factories as f

KEY = b"k"
TOPIC = "t.ledger.v1"


def parsed(*raws: dict) -> list[Envelope]:
    return [parse_event(r, pii_key=KEY) for r in raws]


class Ledger:
    @classmethod
    async def create(cls, url: str) -> Ledger:
        await asyncio.to_thread(migrate, url, "ledger")
        return cls(url)

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.recorder = Recorder(TOPIC, write_outbox=False)
        self.derived: list[Envelope] = []

    async def apply(self, *raws: dict) -> list[Envelope]:
        async with self.engine.begin() as conn:
            out = await self.recorder.apply(conn, parsed(*raws))
        events = [parse_event(o.value) for o in out]
        self.derived += events
        return events

    async def balances(self, indicator_id: str) -> dict[str, int]:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(s.indicators).where(s.indicators.c.indicator_id == indicator_id))
                   ).mappings().one()
        return {a: natural(a, row[s.column_of(a)]) for a in CHART if row[s.column_of(a)]}

    async def project(self, indicator_id: str, project_code: str) -> dict[str, int]:
        t = s.project_balances
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(t).where(t.c.indicator_id == indicator_id, t.c.project_code == project_code))
                   ).mappings().one()
        return {a: natural(a, row[s.column_of(a)]) for a in CHART if row[s.column_of(a)]}

    async def rows(self, table, **where) -> list[dict]:
        q = select(table).where(*(table.c[k] == v for k, v in where.items()))
        async with self.engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(q)).mappings()]

    async def checksum(self) -> audit.Checksum:
        async with self.engine.connect() as conn:
            return await audit.balance_checksum(conn)

    async def verify(self) -> audit.Verification:
        async with self.engine.connect() as conn:
            return await audit.verify(conn)

    def of_type(self, event_type: str) -> list[Envelope]:
        return [e for e in self.derived if e.type == event_type]

    async def close(self) -> None:
        await self.engine.dispose()


def debit_positive_sum(balances_by_account: dict[str, int]) -> int:
    return sum(-v if a == "4001" else v for a, v in balances_by_account.items())


def compiled(indicator_id: str, amount: str, year: int = 2027, **kw) -> dict:
    return f.event("indicator.compiled", {"indicator_id": indicator_id, "amount": amount, "budget_year": year,
                                          "compiled_on": "2027-01-05"}, **kw)


def planned(plan_id: str, indicator_id: str, amount: str, **kw) -> dict:
    return f.event("payment.planned", {"plan_id": plan_id, "indicator_id": indicator_id, "amount": amount,
                                       "planned_on": "2026-03-01"}, **kw)


def returned(return_id: str, payment_id: str, indicator_id: str, amount: str, **kw) -> dict:
    return f.event("payment.returned", {"return_id": return_id, "payment_id": payment_id,
                                        "indicator_id": indicator_id, "amount": amount,
                                        "returned_on": "2026-03-05", "reason": "账户有误退回"}, **kw)


def corrected(correction_id: str, corrects: str, amount: str | None, **kw) -> dict:
    data = {"correction_id": correction_id, "corrects_event_id": corrects, "reason": "金额录入错误",
            "corrected_on": "2026-03-06"}
    if amount is not None:
        data["corrected_amount"] = amount
    return f.event("indicator.corrected", data, **kw)


def account(number: str, kind: str, region: str = "410324", **kw) -> dict:
    return f.event("account.registered", {"account": number, "holder_name": "栾川县财政局", "kind": kind,
                                          "unit_code": "U1"}, region, **kw)


def fund(code: str, upper: str | None, region: str = "410324", **kw) -> dict:
    data = {"fund_code": code, "name": "财政专项扶贫资金", "level": "county"}
    if upper:
        data["upper_fund_code"] = upper
    return f.event("fund.registered", data, region, **kw)


def link(code: str, upper: str, region: str = "410324", **kw) -> dict:
    return f.event("fund.linked", {"fund_code": code, "upper_fund_code": upper}, region, **kw)


def issued(transfer_id: str, from_indicator: str, to_region: str, amount: str, region: str, id: str | None = None,
           **kw) -> dict:
    raw = f.issued(transfer_id, from_indicator, to_region, amount, region)
    raw["data"].update(kw)
    return raw | ({"id": id} if id else {})
