"""Integration tier without a broker: schema, projection handlers, delivery worker and API on a
real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select

from contracts.envelope import parse_event
from services.notify import store
from services.notify.api import create_app
from services.notify.delivery import DeliveryWorker
from services.notify.handlers import make_apply
from services.runtime.db import make_engine, migrate_async
from services.runtime.projection import Delivery
from services.runtime.settings import Settings
from tests.clients import token_header
from tests.conftest import TEST_SECRET
from tests.notify.builders import alert_event, group_event

HOOK = "http://hooks.invalid/agri?token=secret"


@pytest.fixture
async def engine(database_url):
    await migrate_async(database_url, "notify")
    engine = make_engine(database_url)
    yield engine
    await engine.dispose()


async def project(engine, settings: Settings, *envelopes) -> None:
    async with engine.begin() as conn:
        await make_apply(settings)(conn, [Delivery(None, e) for e in envelopes])  # type: ignore[arg-type]


async def count(engine, table) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(table))).scalar_one()


async def test_migration_matches_the_store_tables(engine) -> None:
    async with engine.connect() as conn:
        diff = await conn.run_sync(lambda c: compare_metadata(MigrationContext.configure(c), store.metadata))
    assert [d for d in diff if not (d[0] == "remove_table" and d[1].name == "alembic_version_notify")] == []


async def test_alert_routed_and_stored_once(engine) -> None:
    settings = Settings(notify_group_webhooks={"agri": HOOK})
    await project(engine, settings, group_event("410000", "poverty", "扶贫组"),
                  group_event("410300", "agri", "农业组", ["F-AGRI"]))
    alert = alert_event("410324", fund_code="F-AGRI")
    await project(engine, settings, alert)

    inbox = await store.list_inbox(engine)
    assert [(r["group_code"], r["region"], r["level"]) for r in inbox.items] == [("agri", "410324", "yellow")]
    assert parse_event(inbox.items[0]["payload"]) == alert
    deliveries = await store.list_deliveries(engine)
    assert [(r["channel"], r["group_code"], r["target"], r["status"], r["attempts"]) for r in deliveries.items] == [
        ("webhook", "agri", HOOK, "pending", 0)
    ]

    # The same record again, and the same transition republished under a new event id.
    republished = alert.model_copy(update={"id": "evt-republished"})
    await project(engine, settings, alert, republished)
    assert (await count(engine, store.inbox), await count(engine, store.deliveries)) == (1, 1)


async def test_group_without_webhook_gets_the_inbox_only(engine) -> None:
    await project(engine, Settings(notify_group_webhooks={"agri": HOOK}), alert_event("420100"))
    assert [r["group_code"] for r in (await store.list_inbox(engine)).items] == ["treasury"]
    assert await count(engine, store.deliveries) == 0


async def test_default_webhook_and_group_named_on_the_alert(engine) -> None:
    await project(engine, Settings(notify_webhook_url=HOOK), alert_event("410324", group_code="audit"))
    [delivery] = (await store.list_deliveries(engine)).items
    assert (delivery["group_code"], delivery["target"]) == ("audit", HOOK)


async def test_assignment_in_the_same_batch_applies_first(engine) -> None:
    await project(engine, Settings(), alert_event("410324"), group_event("410300", "agri", "农业组"))
    assert [r["group_code"] for r in (await store.list_inbox(engine)).items] == ["agri"]


async def test_reassignment_replaces_the_groups_routes_in_that_scope(engine) -> None:
    await project(engine, Settings(), group_event("410300", "agri", "农业组", ["F-1", "F-2"]),
                  group_event("410000", "agri", "农业组（省）", ["F-9"]))
    await project(engine, Settings(), group_event("410300", "agri", "农业组", []))
    routes = [(r["scope"], r["fund_code"], r["group_code"]) for r in await store.list_routes(engine)]
    assert sorted(routes, key=str) == sorted([("41", "F-9", "agri"), ("4103", None, "agri")], key=str)


async def test_shadow_transitions_are_not_pushed(engine) -> None:
    await project(engine, Settings(notify_webhook_url=HOOK), alert_event("410324", shadow=True))
    assert (await count(engine, store.inbox), await count(engine, store.deliveries)) == (0, 0)


async def test_worker_retries_then_delivers_and_queues_the_outcome(engine, receiver_factory) -> None:
    receiver = receiver_factory(fail_first=1)
    settings = Settings(notify_webhook_url=receiver.url, notify_retry_base_s=0.05, topic_prefix="unit")
    alert = alert_event("410324")
    await project(engine, settings, alert)

    stop = asyncio.Event()
    worker = asyncio.create_task(DeliveryWorker(settings, engine).run(stop))
    deadline = time.monotonic() + 10
    while (await store.list_deliveries(engine, status="delivered")).total == 0:
        assert time.monotonic() < deadline, "delivery not completed"
        await asyncio.sleep(0.05)
    stop.set()
    await worker

    assert [r.status for r in receiver.requests] == [500, 200]
    assert {r.headers["x-fundwatch-delivery"] for r in receiver.requests} == {
        f"{alert.data.alert_id}/{alert.data.transition_id}/webhook"
    }
    assert parse_event(receiver.requests[-1].body) == alert
    async with engine.connect() as conn:
        [row] = (await conn.execute(select(store.outbox))).all()
    assert row.topic == "unit.notification.v1"
    outcome = parse_event(row.value)
    assert (outcome.type, outcome.region, outcome.data.status, outcome.data.attempts) == (
        "notification.delivered", "410324", "delivered", 2
    )
    assert outcome.data.target == f"http://127.0.0.1:{receiver.server.server_address[1]}/hook"


async def test_api_inbox_scope_filters_and_pagination(engine) -> None:
    settings = Settings(notify_webhook_url=HOOK, auth_secret=TEST_SECRET)
    await project(engine, settings, group_event("410300", "agri", "农业组"))
    await project(engine, settings, *[
        alert_event("410324", level="red", rule_id="BEN-02"),
        alert_event("410322"),
        alert_event("410100", rule_id="USE-01"),
        alert_event("420100"),
    ])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(engine, None, settings)),
                                 base_url="http://t", headers=token_header(settings)) as c:
        async def regions(**params) -> list[str]:
            response = await c.get("/v1/inbox", params=params)
            assert response.status_code == 200, response.text
            return sorted(item["region"] for item in response.json()["items"])

        assert await regions(region="410300") == ["410322", "410324"]
        assert await regions(region="410000") == ["410100", "410322", "410324"]
        assert await regions(region="410324") == ["410324"]
        assert await regions(region="000000") == ["410100", "410322", "410324", "420100"]
        assert await regions(group="agri") == ["410322", "410324"]
        assert await regions(level="red") == ["410324"]
        assert await regions(rule_id="USE-01") == ["410100"]

        page = (await c.get("/v1/inbox", params={"limit": 3, "offset": 3})).json()
        assert (len(page["items"]), page["total"]) == (1, 4)
        assert page["items"][0]["event"]["type"] == "alert.transitioned"
        assert (await c.get("/v1/inbox", params={"limit": 501})).status_code == 422
        bad = await c.get("/v1/inbox", params={"region": "4103"})
        assert bad.status_code == 422 and "region" in bad.text

        deliveries = (await c.get("/v1/deliveries", params={"status": "pending", "channel": "webhook"})).json()
        assert deliveries["total"] == 4
        assert {d["target"] for d in deliveries["items"]} == {"http://hooks.invalid/agri"}  # no token
        assert (await c.get("/v1/deliveries", params={"status": "delivered"})).json()["total"] == 0
        assert (await c.get("/v1/deliveries", params={"status": "lost"})).status_code == 422

        status = (await c.get("/v1/status")).json()
        assert status["pending_deliveries"] == 4
        assert status["inbox_by_level"] == {"red": 1, "yellow": 3}
        assert [r["group_code"] for r in (await c.get("/v1/routes")).json()] == ["agri"]
        assert (await c.get("/healthz")).json() == {"status": "ok"}
