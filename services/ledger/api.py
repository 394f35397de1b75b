"""Ledger query API (OpenAPI at /docs)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Query, Request
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from contracts.types import RegionCode, from_fen
from services.ledger import store
from services.ledger.postings import ACCOUNTS
from services.runtime.projection import Projection, lag


class AccountBalance(BaseModel):
    region: str
    fund_code: str | None
    account: str
    account_name: str
    balance: str  # yuan, natural side (credit accounts shown positive)


class Overview(BaseModel):
    region: str | None
    received: str
    allocated: str
    issued_to_lower: str
    paid: str
    pending: str
    progress: str  # paid / available, as a fraction with 4 decimals


class Status(BaseModel):
    events_applied: int
    applied_this_process: int
    dead_lettered: int
    lag: dict[str, int]


def _natural(account: str, fen: int) -> int:
    return -fen if account.startswith("4") else fen


async def connection(request: Request) -> AsyncIterator[AsyncConnection]:
    async with request.app.state.engine.connect() as conn:
        yield conn


Conn = Annotated[AsyncConnection, Depends(connection)]


def create_app(engine: AsyncEngine, projection: Projection | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield

    app = FastAPI(title="fundwatch ledger", version="1", lifespan=lifespan,
                  description="财政扶贫资金总台账: balances of the double-entry indicator ledger")
    app.state.engine = engine
    app.state.projection = projection

    @app.get("/healthz")
    async def healthz(conn: Conn) -> dict:
        await store.applied_count(conn)
        return {"status": "ok"}

    @app.get("/v1/balances", response_model=list[AccountBalance])
    async def balances(conn: Conn, region: Annotated[RegionCode | None, Query()] = None,
                       fund_code: str | None = None, indicator_id: str | None = None) -> list[AccountBalance]:
        rows = await store.balances_by_account(conn, region=region, fund_code=fund_code, indicator_id=indicator_id)
        return [
            AccountBalance(region=r["region"], fund_code=r["fund_code"], account=r["account"],
                           account_name=ACCOUNTS.get(r["account"], r["account"]),
                           balance=str(from_fen(_natural(r["account"], int(r["balance_fen"])))))
            for r in rows
        ]

    @app.get("/v1/overview", response_model=Overview)
    async def overview(conn: Conn, region: Annotated[RegionCode | None, Query()] = None) -> Overview:
        t = await store.account_totals(conn, region)
        received = -t.get("4001", 0)
        allocated = t.get("500201", 0) + t.get("500203", 0) + t.get("5101", 0) + t.get("5201", 0)
        available = received - t.get("500202", 0) - t.get("1001", 0)
        paid = t.get("5201", 0)
        progress = f"{paid / available:.4f}" if available > 0 else "0.0000"
        return Overview(region=region, received=str(from_fen(received)), allocated=str(from_fen(allocated)),
                        issued_to_lower=str(from_fen(t.get("500202", 0))), paid=str(from_fen(paid)),
                        pending=str(from_fen(t.get("5001", 0))), progress=progress)

    @app.get("/v1/status", response_model=Status)
    async def status(conn: Conn) -> Status:
        p = app.state.projection
        return Status(events_applied=await store.applied_count(conn),
                      applied_this_process=p.applied if p else 0,
                      dead_lettered=p.dead_lettered if p else 0,
                      lag=await lag(p) if p else {})

    return app
