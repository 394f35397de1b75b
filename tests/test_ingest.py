"""Ingest against the real embedded broker: 401 without a registered client's API key, 202 after
acknowledgement with each event stamped with its client, 422 naming row and field, 403 for rows
outside the client's scope or families (nothing of a refused batch published), 413/422 for
oversized or too deeply nested bodies, 503 when the broker is unreachable; clients managed by API."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from contracts import parse_event
from contracts.topics import Family
from services.runtime.auth import Role
from services.runtime.broker import free_port
from services.runtime.kafka import ensure_topics, make_consumer
from tests import factories as f
from tests.clients import api_key, key_header, token_header
from tests.platform import ServiceProcess, wait_for


async def read_all(settings, family: Family, timeout_ms: int = 3000) -> list[bytes]:
    consumer = make_consumer(settings, f"reader-{free_port()}", settings.topic(family))
    await consumer.start()
    try:
        out: list[bytes] = []
        while True:
            batch = await consumer.getmany(timeout_ms=timeout_ms)
            if not batch:
                return out
            out += [m.value for msgs in batch.values() for m in msgs]
    finally:
        await consumer.stop()


def audit_records(settings, timeout_ms: int = 2000) -> list:
    return [parse_event(v) for v in asyncio.run(read_all(settings, Family.audit, timeout_ms))]


@pytest.fixture
def ingest(make_settings, sqlite_url, tmp_path):
    settings = make_settings(sqlite_url)
    asyncio.run(ensure_topics(settings))  # ingest answers 503 until the registry's topics exist (issue 13)
    proc = ServiceProcess("ingest", settings, tmp_path).start().wait_healthy()
    yield settings
    proc.stop()


def post(settings, body, key: str | None = None, path: str = "/v1/events/batch", **headers) -> httpx.Response:
    if key is not None:
        headers.update(key_header(key))
    return httpx.post(f"{settings.url('ingest')}{path}", json=body, headers=headers, timeout=30)


def test_accepted_events_are_on_their_topics_stamped_with_their_client_and_personal_data_hashed(ingest):
    key = api_key(ingest, "410324", client_id="county-410324")
    person = f.citizen_id(3)
    batch = [f.registered("I1", "10.00"), f.payment("P1", "I1", "10.00", person=person)]
    r = post(ingest, batch, key)
    assert r.status_code == 202, r.text
    assert r.json()["accepted"] == 2
    payments = asyncio.run(read_all(ingest, Family.payment))
    assert len(payments) == 1 and person.encode() not in payments[0]
    payment = parse_event(payments[0])
    assert (payment.data.payment_id, payment.authtype, payment.authid) == ("P1", "api_key", "county-410324")
    assert [parse_event(v).id for v in asyncio.run(read_all(ingest, Family.indicator))] == [batch[0]["id"]]
    single = post(ingest, f.registered("I2", "1.00"), key, path="/v1/events")
    assert single.status_code == 202
    used = [e.data for e in audit_records(ingest) if e.data.action == "client.used"]
    assert [(u.actor, u.actor_kind, u.details["events"]) for u in used] == [
        ("county-410324", "client", "2"), ("county-410324", "client", "1")]  # per request, not per event
    assert used[0].client_ip == "127.0.0.1"


def test_bad_batch_names_row_and_field_and_publishes_nothing(ingest):
    key = api_key(ingest)
    good = f.registered("I1", "10.00")
    bad = f.payment("P1", "I1", 10.5)
    worse = f.registered("I2", "1.00", region="999999")
    r = post(ingest, [good, bad, worse], key)
    assert r.status_code == 422
    errors = {(e["row"], e["field"]) for e in r.json()["errors"]}
    assert errors == {(1, "data.amount"), (2, "region")}
    assert asyncio.run(read_all(ingest, Family.indicator, timeout_ms=1500)) == []
    r = httpx.post(f"{ingest.url('ingest')}/v1/events/batch", content=b"{not json",
                   headers={**key_header(key), "Content-Type": "application/json"})
    assert r.status_code == 422
    alert = f.event("alert.transitioned", {})
    r = post(ingest, alert, key, path="/v1/events")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "type"


def test_same_id_with_different_content_is_refused(ingest):
    key = api_key(ingest)
    a = f.registered("I1", "10.00", id="same")
    b = f.registered("I1", "11.00", id="same")
    r = post(ingest, [a, b], key)
    assert r.status_code == 422 and r.json()["errors"][0] == {
        "row": 1, "field": "id", "type": "value_error", "message": "event id same repeats with different content"}
    r = post(ingest, [a, a], key)
    assert r.status_code == 202 and r.json()["accepted"] == 1


def test_unreachable_broker_gives_503_not_202(make_settings, sqlite_url, tmp_path):
    settings = make_settings(sqlite_url, kafka_bootstrap=f"127.0.0.1:{free_port()}")
    key = api_key(settings)
    proc = ServiceProcess("ingest", settings, tmp_path).start().wait_healthy()
    try:
        r = httpx.post(f"{settings.url('ingest')}/v1/events", json=f.registered("I1", "1.00"),
                       headers=key_header(key), timeout=60)
        assert r.status_code == 503, r.text
        assert r.headers["retry-after"] == "5"
    finally:
        proc.stop()


def test_only_a_registered_clients_key_is_let_in_and_every_refusal_is_audited(ingest):
    """Issue 10: a forged payment.made posted with no token got 202. Now every credential but a
    valid key of an active client gets 401 with the reason, and nothing is published."""
    key = api_key(ingest, client_id="budget-000000")
    forged = [f.payment("P-FORGED", "I1", "999.00", region="411326")]
    wrong = {
        "no credential": (None, "missing API key"),
        "a user's token": (token_header(ingest)["Authorization"].split()[1], "user's access token"),
        "malformed": ("fwk_nothex_short", "malformed API key"),
        "unknown": (key[:-4] + "AAAA", "unknown API key"),
    }
    for what, (credential, reason) in wrong.items():
        r = post(ingest, forged, credential)
        assert r.status_code == 401 and reason in r.json()["detail"], (what, r.text)
        assert r.headers["www-authenticate"].startswith("Bearer")
    r = post(ingest, forged, Authorization=f"Basic {key}")
    assert r.status_code == 401 and "Bearer" in r.json()["detail"]
    assert asyncio.run(read_all(ingest, Family.payment, timeout_ms=1500)) == []
    failed = [e.data for e in audit_records(ingest) if e.data.action == "auth.failed"]
    assert len(failed) == 5 and {a.outcome for a in failed} == {"refused"}
    assert any("unknown API key" in (a.reason or "") for a in failed)


def test_rotation_and_revocation_by_api_take_effect_with_the_next_request(ingest):
    admin = token_header(ingest, "410000", roles=(Role.sysadmin,), user="xinxi")
    url = f"{ingest.url('ingest')}/v1/clients"
    body = {"client_id": "treasury-410324", "name": "栾川县国库集中支付系统", "scope": "410324",
            "families": ["payment"]}
    created = httpx.post(url, json=body, headers=admin)
    assert created.status_code == 201, created.text
    first = created.json()["api_key"]
    assert created.json()["client"]["families"] == ["payment"]
    assert post(ingest, [f.payment("P1", "I1", "1.00")], first).status_code == 202
    # Its scope and families bind: a registration is not a payment, 411326 is not 410324.
    r = post(ingest, [f.registered("I1", "1.00")], first)
    assert r.status_code == 403 and r.json()["errors"][0]["field"] == "type"
    # A county administrator cannot register a province-wide client; an operator cannot at all.
    county_admin = token_header(ingest, "410324", roles=(Role.sysadmin,))
    assert httpx.post(url, json={**body, "client_id": "x-410000", "scope": "410000"},
                      headers=county_admin).status_code == 403
    assert httpx.post(url, json={**body, "client_id": "x-410324"}, headers=token_header(ingest)).status_code == 403
    assert httpx.post(url, json=body, headers=admin).status_code == 409

    rotated = httpx.post(f"{url}/treasury-410324/rotate", json={"grace_s": 0}, headers=admin)
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()["api_key"]
    r = post(ingest, [f.payment("P2", "I1", "1.00")], first)
    assert r.status_code == 401 and "revoked" in r.json()["detail"]
    assert post(ingest, [f.payment("P3", "I1", "1.00")], second).status_code == 202

    revoked = httpx.post(f"{url}/treasury-410324/revoke", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    r = post(ingest, [f.payment("P4", "I1", "1.00")], second)
    assert r.status_code == 401 and "revoked" in r.json()["detail"]
    listed = httpx.get(url, headers=admin).json()
    assert [(c["client_id"], c["status"]) for c in listed["items"]] == [("treasury-410324", "revoked")]
    assert "api_key" not in httpx.get(f"{url}/treasury-410324", headers=admin).text
    ids = [parse_event(v).data.payment_id for v in asyncio.run(read_all(ingest, Family.payment))]
    assert ids == ["P1", "P3"]
    # Registrations are audited through ingest's outbox (in their transaction), relayed shortly after.
    def managed() -> list[str] | None:
        actions = [e.data.action for e in audit_records(ingest, 500) if e.data.target == "client treasury-410324"]
        return actions if len(actions) >= 3 else None

    assert wait_for(managed, 30, "client changes audited") == ["client.created", "client.rotated", "client.revoked"]


def test_a_forged_event_for_another_county_is_refused_naming_the_row(ingest):
    """Issue 10's reproduction: county 410324's system sends a payment for 411326 in the middle of
    a batch of its own. 403 naming the row and field; nothing of the batch reaches the log."""
    key = api_key(ingest, "410324", client_id="county-410324")
    batch = [f.payment("P1", "I1", "1.00"), f.payment("P2", "I1", "1.00", region="411326"),
             f.payment("P3", "I1", "1.00", region="410324101")]
    r = post(ingest, batch, key)
    assert r.status_code == 403, r.text
    assert r.json()["errors"] == [{"row": 1, "field": "region", "type": "forbidden_region",
                                   "message": "region 411326 is outside the scope 410324 of client county-410324"}]
    stamped = dict(batch[0], authtype="api_key", authid="county-410324")  # upstream may not stamp itself
    r = post(ingest, [stamped], key)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "authtype"
    assert asyncio.run(read_all(ingest, Family.payment, timeout_ms=1500)) == []


def test_oversized_and_deeply_nested_bodies_are_refused_before_parsing(ingest):
    key = api_key(ingest)
    url = f"{ingest.url('ingest')}/v1/events/batch"
    huge = b"[" + b'{"x": "' + b"a" * (20 << 20) + b'"}]'
    r = httpx.post(url, content=huge, headers={**key_header(key), "content-type": "application/json"}, timeout=60)
    assert r.status_code == 413 and "exceeds" in r.json()["detail"]
    deep = b"[" * 100_000 + b"]" * 100_000
    r = httpx.post(url, content=deep, headers={**key_header(key), "content-type": "application/json"}, timeout=60)
    assert r.status_code == 422 and "nested deeper than 32" in r.text
    hidden = b'["' + b']' * 5000 + b'"' + b"," + b"[" * 5000 + b"]" * 5000 + b"]"  # brackets in a string fool the count
    r = httpx.post(url, content=hidden, headers={**key_header(key), "content-type": "application/json"}, timeout=60)
    assert r.status_code == 422, r.text
