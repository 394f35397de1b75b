"""The access service on SQLite and PostgreSQL (its API in-process): the art. 22 procedure step by
step with every illegal step refused, login with rotating refresh tokens, logout, throttling, and
the audit log (projected from the audit records, append-only, scoped by region)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import httpx
import pytest
from sqlalchemy import select, text

from contracts import parse_event
from services.access import handlers, service, store
from services.access.api import create_app
from services.access.domain import Access, Actor, Application, Kind, Refused, Status, Step, apply, take
from services.runtime.auth import Role, verify_token
from services.runtime.db import make_engine, migrate_async
from services.runtime.projection import Delivery
from services.runtime.settings import Settings
from tests.clients import token_header
from tests.conftest import TEST_SECRET

pytestmark = pytest.mark.store
PASSWORD = "correct horse battery staple"


@pytest.fixture
async def access(database_url):
    await migrate_async(database_url, "access")
    settings = Settings(database_url=database_url, auth_secret=TEST_SECRET, topic_prefix="t")
    engine = make_engine(database_url)
    async with engine.begin() as conn:
        await service.create_admin(conn, settings, "admin", "信息中心", "410000", PASSWORD)
        await service.create_admin(conn, settings, "guoku", "国库组", "410000", PASSWORD, role=Role.treasury)
    app = create_app(engine, settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://access") as client:
        yield SimpleNamespace(client=client, settings=settings, engine=engine)
    await engine.dispose()


def who(a, user: str, region: str, *roles: Role, groups: tuple[str, ...] = ()) -> dict[str, str]:
    return token_header(a.settings, region, groups, roles=roles, user=user)


async def outbox_audit(a) -> list:
    async with a.engine.connect() as conn:
        return [parse_event(r.value) for r in (await conn.execute(select(store.outbox))).all()]


async def test_the_art22_procedure_step_by_step(access):
    c = access.client
    unit = who(access, "zhang", "410324", Role.member, groups=("agri",))  # 栾川县农业股 applies for its staff
    form = {"kind": "open", "username": "li-410324", "unit": "栾川县财政局农业股", "reason": "新任业务组人员",
            "requested": {"display_name": "李四", "region": "410324", "roles": ["member"], "groups": ["agri"]}}
    r = await c.post("/v1/applications", json=form, headers=unit)
    assert r.status_code == 201, r.text
    app_id = r.json()["application_id"]
    assert r.json()["status"] == "applied"

    treasury, admin = who(access, "guoku", "410000", Role.treasury), who(access, "admin", "410000", Role.sysadmin)
    # Illegal steps, each refused with its reason.
    r = await c.post(f"/v1/applications/{app_id}/grant", headers=admin)
    assert r.status_code == 409 and "confirmed by the treasury group first" in r.json()["detail"]
    r = await c.post(f"/v1/applications/{app_id}/confirm", headers=admin)
    assert r.status_code == 403 and "treasury (国库组)" in r.json()["detail"]
    r = await c.post(f"/v1/applications/{app_id}/confirm", headers=who(access, "hb", "420000", Role.treasury))
    assert r.status_code == 404  # another province's treasury group does not even see it
    r = await c.post(f"/v1/applications/{app_id}/confirm", headers=who(access, "zhang", "410324", Role.treasury))
    assert r.status_code == 403 and "different people" in r.json()["detail"]

    r = await c.post(f"/v1/applications/{app_id}/confirm", headers=treasury)
    assert r.status_code == 200 and r.json()["status"] == "confirmed"
    r = await c.post(f"/v1/applications/{app_id}/confirm", headers=treasury)
    assert r.status_code == 409
    r = await c.post(f"/v1/applications/{app_id}/grant", headers=who(access, "guoku", "410000", Role.sysadmin))
    assert r.status_code == 403 and "different people" in r.json()["detail"]
    r = await c.post(f"/v1/applications/{app_id}/grant", headers=admin)
    assert r.status_code == 200, r.text
    granted = r.json()
    assert granted["application"]["status"] == "granted"
    assert [h["status"] for h in granted["application"]["history"]] == ["applied", "confirmed", "granted"]
    password = granted["initial_password"]

    # The new user logs in with the one-time password and holds what was granted.
    r = await c.post("/v1/login", json={"username": "li-410324", "password": password})
    assert r.status_code == 200, r.text
    principal = verify_token(access.settings, r.json()["access_token"])
    assert (principal.region, principal.roles, principal.groups) == ("410324", (Role.member,), ("agri",))
    assert r.json()["expires_in"] == access.settings.access_token_ttl_s

    # Change (变更) and revocation (撤销) go the same way.
    change = {**form, "kind": "change", "requested": {**form["requested"], "roles": ["member", "auditor"]}}
    r = await c.post("/v1/applications", json=change, headers=unit)
    assert r.status_code == 201, r.text
    change_id = r.json()["application_id"]
    assert (await c.post(f"/v1/applications/{change_id}/confirm", headers=treasury)).status_code == 200
    assert (await c.post(f"/v1/applications/{change_id}/grant", headers=admin)).json()["initial_password"] is None
    r = await c.post("/v1/applications", json={**form, "kind": "revoke", "requested": None}, headers=unit)
    revoke_id = r.json()["application_id"]
    r = await c.post(f"/v1/applications/{revoke_id}/reject", headers=treasury)
    assert r.status_code == 422 and "says why" in r.json()["detail"][0]["msg"]
    assert (await c.post(f"/v1/applications/{revoke_id}/confirm", headers=treasury)).status_code == 200
    assert (await c.post(f"/v1/applications/{revoke_id}/grant", headers=admin)).status_code == 200
    r = await c.post("/v1/login", json={"username": "li-410324", "password": password})
    assert r.status_code == 401

    # A unit applies only for its own region; opening an existing user is refused.
    r = await c.post("/v1/applications", json={**form, "requested": {**form["requested"], "region": "411326"}},
                     headers=unit)
    assert r.status_code == 403 and "outside your scope" in r.json()["detail"]
    r = await c.post("/v1/applications", json=form, headers=unit)
    assert r.status_code == 409 and "exists" in r.json()["detail"]
    listed = (await c.get("/v1/applications", headers=treasury)).json()
    assert listed["total"] == 3 and {a["status"] for a in listed["items"]} == {"granted"}
    assert (await c.get("/v1/applications", headers=who(access, "x", "420000", Role.treasury))).json()["total"] == 0

    actions = [e.data.action for e in await outbox_audit(access)]
    for wanted in ("application.applied", "application.confirmed", "application.granted", "user.opened",
                   "user.changed", "user.revoked", "auth.login", "auth.failed"):
        assert wanted in actions, wanted
    refused = [e.data for e in await outbox_audit(access) if e.data.outcome == "refused"]
    assert any("confirmed by the treasury group first" in (d.reason or "") for d in refused)


def test_the_procedure_as_pure_functions():
    import datetime as dt

    now = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    unit = Actor("zhang", "410324", (Role.member,))
    form = Application("APP-1", Kind.open, "li-si", "农业股", "", Access("李四", "410324", (Role.member,), ("agri",)),
                       "zhang", now)
    applied = apply(form, unit, None)
    with pytest.raises(Refused, match="name its groups"):
        apply(Application("APP-2", Kind.open, "wu-yi", "农业股", "", Access("吴", "410324", (Role.member,)), "zhang",
                          now),
              unit, None)
    confirmed = take(applied, Step.confirm, Actor("guoku", "410000", (Role.treasury,)), now)
    assert confirmed.status == Status.confirmed and confirmed.confirmed_by == "guoku"
    with pytest.raises(Refused) as refusal:
        take(confirmed, Step.confirm, Actor("guoku2", "410000", (Role.treasury,)), now)
    assert refusal.value.code == 409
    rejected = take(confirmed, Step.reject, Actor("admin", "000000", (Role.sysadmin,)), now, note="不符合规定")
    assert (rejected.status, rejected.decided_by, rejected.note) == (Status.rejected, "admin", "不符合规定")
    with pytest.raises(Refused, match="is rejected; it must be confirmed"):
        take(rejected, Step.grant, Actor("admin", "000000", (Role.sysadmin,)), now)


async def test_login_refresh_rotation_reuse_and_logout(access):
    c = access.client
    r = await c.post("/v1/login", json={"username": "admin", "password": "wrong password!"})
    assert r.status_code == 401 and r.json()["detail"] == "invalid username or password"
    r = await c.post("/v1/login", json={"username": "nobody", "password": PASSWORD})
    assert r.status_code == 401 and r.json()["detail"] == "invalid username or password"
    first = (await c.post("/v1/login", json={"username": "admin", "password": PASSWORD})).json()
    me = await c.get("/v1/me", headers={"Authorization": f"Bearer {first['access_token']}"})
    assert me.json() == {"user": "admin", "region": "410000", "roles": ["sysadmin"], "groups": []}

    second = await c.post("/v1/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200 and second.json()["refresh_token"] != first["refresh_token"]
    # The first refresh token was used up; presenting it again (a stolen copy) ends the whole login.
    replay = await c.post("/v1/refresh", json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401 and "already used" in replay.json()["detail"]
    after = await c.post("/v1/refresh", json={"refresh_token": second.json()["refresh_token"]})
    assert after.status_code == 401

    third = (await c.post("/v1/login", json={"username": "admin", "password": PASSWORD})).json()
    assert (await c.post("/v1/logout", json={"refresh_token": third["refresh_token"]})).status_code == 204
    assert (await c.post("/v1/refresh", json={"refresh_token": third["refresh_token"]})).status_code == 401
    assert (await c.post("/v1/refresh", json={"refresh_token": "fwr_garbage"})).status_code == 401

    async with access.engine.connect() as conn:
        hashes = [r.token_hash for r in (await conn.execute(select(store.refresh_tokens))).all()]
    assert third["refresh_token"] not in hashes and all(len(h) == 64 for h in hashes)  # stored hashed


async def test_failed_logins_are_throttled(access):
    for _ in range(5):
        r = await access.client.post("/v1/login", json={"username": "guoku", "password": "not the password"})
        assert r.status_code == 401
    r = await access.client.post("/v1/login", json={"username": "guoku", "password": PASSWORD})
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0


async def test_password_change_and_session_revocation(access):
    c = access.client
    login = (await c.post("/v1/login", json={"username": "guoku", "password": PASSWORD})).json()
    token = {"Authorization": f"Bearer {login['access_token']}"}
    bad = await c.post("/v1/me/password", json={"current_password": "nope", "new_password": "x" * 20}, headers=token)
    assert bad.status_code == 403
    weak = await c.post("/v1/me/password", json={"current_password": PASSWORD, "new_password": "short"},
                        headers=token)
    assert weak.status_code == 422
    ok = await c.post("/v1/me/password", json={"current_password": PASSWORD, "new_password": "a new, long passphrase"},
                      headers=token)
    assert ok.status_code == 204
    assert (await c.post("/v1/refresh", json={"refresh_token": login["refresh_token"]})).status_code == 401
    again = (await c.post("/v1/login", json={"username": "guoku", "password": "a new, long passphrase"})).json()
    admin = who(access, "admin", "410000", Role.sysadmin)
    r = await c.post("/v1/users/guoku/revoke-sessions", headers=admin)
    assert r.json() == {"username": "guoku", "sessions_revoked": 1}
    assert (await c.post("/v1/refresh", json={"refresh_token": again["refresh_token"]})).status_code == 401
    assert (await c.post("/v1/users/guoku/revoke-sessions", headers=who(access, "a", "420000", Role.sysadmin))
            ).status_code == 404


async def test_the_audit_log_is_append_only_and_scoped(access):
    c = access.client
    await c.post("/v1/login", json={"username": "admin", "password": "wrong password!"})
    await c.post("/v1/login", json={"username": "guoku", "password": PASSWORD})
    records = await outbox_audit(access)
    async with access.engine.begin() as conn:  # what the projection does with the audit topic
        await handlers.apply(conn, [Delivery(None, e) for e in records])  # type: ignore[arg-type]
        await handlers.apply(conn, [Delivery(None, e) for e in records])  # type: ignore[arg-type]  # redelivered

    auditor = who(access, "shenji", "410000", Role.auditor)
    page = (await c.get("/v1/audit", headers=auditor)).json()
    assert page["total"] == len(records) == 4  # two bootstrap users, one failed and one good login
    failed = (await c.get("/v1/audit", params={"action": "auth.failed"}, headers=auditor)).json()["items"]
    assert [(i["actor"], i["outcome"], i["reason"], i["client_ip"]) for i in failed] == [
        ("admin", "refused", "wrong password", "127.0.0.1")]
    assert (await c.get("/v1/audit", headers=who(access, "x", "420000", Role.auditor))).json()["total"] == 0
    assert (await c.get("/v1/audit", params={"region": "420000"}, headers=auditor)).status_code == 403
    assert (await c.get("/v1/audit", headers=who(access, "admin", "410000", Role.sysadmin))).status_code == 403

    for statement in ("UPDATE access_audit SET actor = 'nobody'", "DELETE FROM access_audit"):
        with pytest.raises(Exception, match="append-only"):
            async with access.engine.begin() as conn:
                await conn.execute(text(statement))
    async with access.engine.connect() as conn:
        rows = (await conn.execute(select(store.audit_log))).all()
    assert len(rows) == 4 and {r.actor for r in rows} == {"cli", "admin", "guoku"}
    assert all(json.loads(r.details) is not None for r in rows)
