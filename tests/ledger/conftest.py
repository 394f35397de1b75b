"""A demo province projected once per module and backend (SQLite and PostgreSQL), and an API
client on it with tokens of any region."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

import httpx
import pytest

from contracts import Envelope, parse_event
from services import demo
from services.ledger.api import create_app
from services.ledger import offline
from services.ledger.recorder import consumed
from services.runtime.auth import issue_token
from services.runtime.db import make_engine
from services.runtime.settings import Settings
from tests.conftest import TEST_SECRET, _admin

DEMO_SIZE = 300
SETTINGS = Settings(auth_secret=TEST_SECRET)


@pytest.fixture(scope="session")
def demo_dataset():
    return demo.generate(size=DEMO_SIZE)


@dataclass
class DemoLedger:
    url: str
    dataset: demo.Dataset
    derived: list[Envelope]


def project(url: str, raw_events: list[dict], batch: int = 500) -> list[Envelope]:
    """One clean pass of the recorder over wire-form events; returns the derived stream."""
    events = [parse_event(e, pii_key=SETTINGS.pii_key_bytes) for e in raw_events if consumed(e["type"])]
    return [e for _chunk, derived in offline.project(url, events, batch=batch, topic="t.ledger.v1") for e in derived]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def demo_ledger(request, tmp_path_factory, demo_dataset):
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('ledger') / 'demo.db'}"
        yield DemoLedger(url, demo_dataset, project(url, demo_dataset.events))
        return
    admin = request.getfixturevalue("pg_admin_url")
    name = f"fw_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(admin, f'CREATE DATABASE "{name}"'))
    url = f"{admin.rsplit('/', 1)[0].replace('postgresql://', 'postgresql+asyncpg://', 1)}/{name}"
    try:
        yield DemoLedger(url, demo_dataset, project(url, demo_dataset.events))
    finally:
        asyncio.run(_admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


class Api:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def get(self, path: str, who: str | None = "000000", **params) -> httpx.Response:
        headers = {"Authorization": f"Bearer {issue_token(SETTINGS, 'tester', who)}"} if who else {}
        return await self.client.get(path, params={k: v for k, v in params.items() if v is not None}, headers=headers)

    async def ok(self, path: str, who: str = "000000", **params) -> dict:
        r = await self.get(path, who, **params)
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture
async def api(demo_ledger):
    engine = make_engine(demo_ledger.url)
    app = create_app(engine, None, SETTINGS)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ledger") as client:
        yield Api(client)
    await engine.dispose()
