"""The scope matrix: every operation of every API (read from each app's OpenAPI document, so a new
endpoint is in it the day it is written) × every kind of caller → the status it must get.

An operation missing from `POLICY` fails the suite: a new endpoint states who may call it. Callers:
no token, a malformed one, an expired one, one signed with another secret, `alg: none`; a treasury
operator of another county, of the county that owns the data (410324), of its city, its province,
the Ministry; and each role at that county. Each app runs in-process on a seeded SQLite store;
ingest's event intake takes API keys only (so every token gets 401 there; keys: test_ingest)."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import uuid
from collections.abc import Callable
from types import SimpleNamespace

import httpx
import jwt
import pytest

from contracts import make_event, parse_event
from contracts.alert import AlertTransitioned
from contracts.control import DispositionFiled
from services import demo
from services.access import service as access_service
from services.access import store as access_store
from services.access.api import create_app as access_app
from services.access.credentials import hash_password
from services.access.domain import Access, Actor, Kind, User
from services.alerts import handlers as alert_handlers
from services.alerts import store as alert_store
from services.alerts.api import create_app as alerts_app
from services.ingest import registry
from services.ingest.api import create_app as ingest_app
from services.ledger import offline
from services.ledger.api import create_app as ledger_app
from services.ledger.recorder import consumed
from services.notify.api import create_app as notify_app
from services.runtime.audit import AuditSink
from services.runtime.auth import Role, issue_token
from services.runtime.db import make_engine, migrate
from services.runtime.projection import Delivery
from services.runtime.settings import Settings
from tests import factories as f
from tests.conftest import TEST_SECRET

pytestmark = pytest.mark.store
OWN, OTHER, CITY, PROVINCE, MINISTRY = "410324", "411326", "410300", "410000", "000000"
ATTACHMENT = "ATT-" + "0" * 24
GROUP = "agri-410324"

BAD = ("anonymous", "malformed", "expired", "other secret", "alg none")
REGIONS = {"other county": OTHER, "own county": OWN, "city": CITY, "province": PROVINCE, "Ministry": MINISTRY}
ROLES = {f"role {r.value}": r for r in Role}
CALLERS = (*BAD, *REGIONS, *ROLES)


def headers_for(settings: Settings, caller: str) -> dict[str, str]:
    now = dt.datetime.now(dt.UTC)
    claims = {"iss": "fundwatch", "typ": "access", "sub": "caller", "region": OWN, "groups": [], "roles": ["treasury"],
              "iat": now, "exp": now + dt.timedelta(minutes=5)}
    token = {
        "anonymous": None,
        "malformed": "not-a-jwt",
        "expired": jwt.encode({**claims, "exp": now - dt.timedelta(seconds=5)}, TEST_SECRET, algorithm="HS256"),
        "other secret": jwt.encode(claims, "another secret, thirty-two bytes long", algorithm="HS256"),
        "alg none": jwt.encode(claims, None, algorithm="none"),
    }.get(caller, "")
    if caller in REGIONS:
        token = issue_token(settings, f"treasury-{REGIONS[caller]}", REGIONS[caller], roles=(Role.treasury,))
    elif caller in ROLES:
        role = ROLES[caller]
        groups = (GROUP,) if role == Role.member else ()
        token = issue_token(settings, f"{role.value}-{OWN}", OWN, groups, roles=(role,))
    return {} if token is None else {"Authorization": f"Bearer {token}"}


# ---------------------------------------------------------------- the policies: caller → status

def _bad(ok: Callable[[str], int]) -> Callable[[str], int]:
    return lambda caller: 401 if caller in BAD else ok(caller)


def only(status: int, *callers: str, otherwise: int = 403) -> Callable[[str], int]:
    return _bad(lambda caller: status if caller in callers else otherwise)


PUBLIC = lambda caller: 200  # noqa: E731
STATUS = lambda caller: 200 if caller == "anonymous" else 401 if caller in BAD else 200  # noqa: E731
READ_LIST = _bad(lambda caller: 403 if caller == "role sysadmin" else 200)
READ_ITEM = _bad(lambda caller: 403 if caller == "role sysadmin" else 404 if caller == "other county" else 200)
ANY_USER = _bad(lambda caller: 200)
ITEM_IN_SCOPE = _bad(lambda caller: 404 if caller == "other county" else 200)
TREASURERS = ("own county", "city", "province", "Ministry", "role treasury")
KEYS_ONLY = lambda caller: 401  # noqa: E731

POLICY: dict[tuple[str, str, str], Callable[[str], int]] = {
    # ingest
    ("ingest", "POST", "/v1/events"): KEYS_ONLY,
    ("ingest", "POST", "/v1/events/batch"): KEYS_ONLY,
    ("ingest", "GET", "/v1/schemas/{name}"): PUBLIC,
    ("ingest", "GET", "/v1/schemas"): PUBLIC,
    ("ingest", "GET", "/v1/asyncapi.json"): PUBLIC,
    ("ingest", "GET", "/v1/status"): STATUS,
    ("ingest", "GET", "/healthz"): PUBLIC,
    ("ingest", "GET", "/v1/clients"): only(200, "role sysadmin"),
    ("ingest", "POST", "/v1/clients"): only(201, "role sysadmin"),
    ("ingest", "GET", "/v1/clients/{client_id}"): only(200, "role sysadmin"),
    ("ingest", "POST", "/v1/clients/{client_id}/rotate"): only(200, "role sysadmin"),
    ("ingest", "POST", "/v1/clients/{client_id}/revoke"): only(200, "role sysadmin"),
    ("ingest", "GET", "/v1/templates"): PUBLIC,
    ("ingest", "GET", "/v1/templates/{name}"): lambda caller: 404,  # public; `name` here is payment.made, no template
    # an upstream's key, or a signed-in treasury operator's or member's login (the console's 数据导入);
    # `name` here is payment.made, no template
    ("ingest", "POST", "/v1/imports/{name}"): only(404, *REGIONS, "role treasury", "role member"),
    ("ingest", "GET", "/v1/import-jobs"): KEYS_ONLY,
    ("ingest", "GET", "/v1/import-jobs/{job_id}"): KEYS_ONLY,
    ("ingest", "POST", "/v1/collections"): only(422, *TREASURERS, "other county", "role rule_admin"),  # no body: 422 once allowed
    ("ingest", "GET", "/v1/collections/{task_id}"): _bad(lambda caller: 403 if caller == "role sysadmin" else 404),
    ("ingest", "GET", "/v1/collections/{task_id}/form"): lambda caller: 404,  # public; no such task here
    ("ingest", "POST", "/v1/collections/{task_id}/forms"): KEYS_ONLY,
    ("ingest", "GET", "/v1/deadletters"): only(200, "role sysadmin"),
    ("ingest", "GET", "/v1/deadletters/{letter_id}"): only(404, "role sysadmin"),  # none in the seeded world
    ("ingest", "POST", "/v1/deadletters/{letter_id}/replay"): only(404, "role sysadmin"),
    # the stream monitor (console 实时监控): no broker in this world, so the allowed callers hear 503
    ("ingest", "GET", "/v1/streams"): only(503, *REGIONS, "role treasury", "role auditor", "role sysadmin"),
    # ledger
    **{("ledger", "GET", p): READ_LIST for p in (
        "/v1/overview", "/v1/regions/tree", "/v1/views/regions", "/v1/views/groups", "/v1/views/departments",
        "/v1/indicators", "/v1/balances", "/v1/transfers", "/v1/payments", "/v1/funds", "/v1/search", "/v1/trend")},
    **{("ledger", "GET", p): READ_ITEM for p in (
        "/v1/indicators/{indicator_id}", "/v1/indicators/{indicator_id}/payments", "/v1/transfers/{transfer_id}",
        "/v1/payments/{payment_id}/trace", "/v1/journal")},
    ("ledger", "GET", "/healthz"): PUBLIC,
    ("ledger", "GET", "/v1/status"): STATUS,
    # alerts
    ("alerts", "GET", "/healthz"): PUBLIC,
    ("alerts", "GET", "/v1/status"): STATUS,
    ("alerts", "GET", "/v1/alerts"): READ_LIST,
    ("alerts", "GET", "/v1/alerts/{alert_id}"): READ_ITEM,
    ("alerts", "GET", "/v1/alert-summary"): READ_LIST,
    ("alerts", "GET", "/v1/transitions"): READ_LIST,
    ("alerts", "POST", "/v1/alerts/{alert_id}/dispositions"): only(202, "role member"),
    ("alerts", "GET", "/v1/dispositions/{disposition_id}"): READ_ITEM,
    ("alerts", "POST", "/v1/alerts/{alert_id}/attachments"): only(201, "role member"),  # the responsible group's
    ("alerts", "GET", "/v1/attachments/{attachment_id}"): READ_ITEM,  # whoever sees the alert
    ("alerts", "GET", "/v1/rules"): READ_LIST,
    ("alerts", "GET", "/v1/rules/history"): READ_LIST,
    ("alerts", "GET", "/v1/rules/{rule_id}/effective"): READ_LIST,
    # Rule configuration (the lead's, issue 9): a rule administrator; a county's is still refused (art. 18).
    ("alerts", "PUT", "/v1/rules/{rule_id}/config"): only(202, otherwise=403),
    # notify
    ("notify", "GET", "/healthz"): PUBLIC,
    ("notify", "GET", "/v1/status"): STATUS,
    ("notify", "GET", "/v1/inbox"): READ_LIST,
    ("notify", "GET", "/v1/deliveries"): READ_LIST,
    ("notify", "GET", "/v1/routes"): READ_LIST,
    ("notify", "GET", "/v1/stream"): READ_LIST,  # ends after notify_stream_max_s (set short below)
    ("notify", "GET", "/v1/targets"): READ_LIST,
    # Operators act on their groups' items: the treasury group on every group's, a member on its own; none here.
    **{("notify", m, p): _bad(lambda c: 404 if c in (*REGIONS, "role treasury", "role member") else 403)
       for m, p in (("POST", "/v1/inbox/{item_id}/read"), ("POST", "/v1/inbox/{item_id}/ack"),
                    ("POST", "/v1/deliveries/{delivery_id}/resend"), ("PUT", "/v1/targets/{target_id}"),
                    ("DELETE", "/v1/targets/{target_id}"))},
    # The default channels (group "*") are the treasury group's to set; a member sets its own group's.
    ("notify", "POST", "/v1/targets"): only(201, *REGIONS, "role treasury"),
    ("notify", "GET", "/v1/reminder-policies"): READ_LIST,
    # The monthly report of 410324 (overall: the treasury group's); its reading in scope, not a member's.
    ("notify", "POST", "/v1/reports"): _bad(lambda c: 403 if c == "other county" else 201 if c in (
        *REGIONS, "role treasury") else 403),
    ("notify", "GET", "/v1/reports"): READ_LIST,
    **{("notify", "GET", p): _bad(lambda c: 403 if c == "role sysadmin" else 404 if c in ("other county", "role member")
                                   else 200)
       for p in ("/v1/reports/{report_id}", "/v1/reports/{report_id}/xlsx", "/v1/reports/{report_id}/html",
                 "/v1/reports/{report_id}/pdf")},
    ("notify", "PUT", "/v1/reminder-policies/{rule_id}/{level}"): only(200, *REGIONS, "role treasury"),
    # access
    ("access", "GET", "/healthz"): PUBLIC,
    ("access", "GET", "/v1/status"): STATUS,
    ("access", "POST", "/v1/login"): KEYS_ONLY,  # wrong password for everyone: the header plays no part
    ("access", "POST", "/v1/refresh"): KEYS_ONLY,  # an unknown refresh token
    ("access", "POST", "/v1/logout"): KEYS_ONLY,
    ("access", "GET", "/v1/me"): ANY_USER,
    ("access", "POST", "/v1/me/password"): _bad(lambda caller: 403),  # wrong current password
    ("access", "GET", "/v1/users"): only(200, "role sysadmin", "role auditor"),
    ("access", "GET", "/v1/users/{username}"): only(200, "role sysadmin", "role auditor"),
    ("access", "POST", "/v1/users/{username}/revoke-sessions"): only(200, "role sysadmin"),
    ("access", "GET", "/v1/audit"): only(200, "role auditor"),
    ("access", "POST", "/v1/applications"): _bad(lambda caller: 403 if caller == "other county" else 201),
    ("access", "GET", "/v1/applications"): ANY_USER,
    ("access", "GET", "/v1/applications/{application_id}"): ITEM_IN_SCOPE,
    ("access", "POST", "/v1/applications/{application_id}/confirm"):
        _bad(lambda caller: 404 if caller == "other county" else 200 if caller in TREASURERS else 403),
    ("access", "POST", "/v1/applications/{application_id}/grant"):  # not confirmed yet: the administrator hears why
        _bad(lambda caller: 404 if caller == "other county" else 409 if caller == "role sysadmin" else 403),
    ("access", "POST", "/v1/applications/{application_id}/reject"):
        _bad(lambda caller: 404 if caller == "other county" else 200 if caller in TREASURERS else 403),
}


# ---------------------------------------------------------------- the apps, seeded with 410324's data


def _seed_alerts(url: str) -> None:
    at = dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC)
    data = AlertTransitioned(alert_id="USE-05-m", transition_id="USE-05-m.1", transition="raised", rule_id="USE-05",
                             category="fund usage", title_zh="重复支付", title_en="Duplicate payment",
                             subject="payment/P1", level="yellow", open=True, group_code=GROUP, at=at)
    filed = DispositionFiled(disposition_id="D-m", alert_id="USE-05-m", action="verify_normal", actor="王科长",
                             group_code=GROUP, method="phone", findings="电话核实")

    async def go() -> None:
        engine = make_engine(url)
        async with engine.begin() as conn:
            await alert_handlers.apply(conn, [Delivery(None, e) for e in (  # type: ignore[arg-type]
                make_event("alert.transitioned", data, id="t-1", region=OWN, time=at),
                make_event("alert.disposition_filed", filed, id="D-m", region=OWN, time=at))])
            await alert_store.add_attachment(conn, {
                "attachment_id": ATTACHMENT, "alert_id": "USE-05-m", "region": OWN, "disposition_id": "D-m",
                "file_name": "处理单.pdf", "content_type": "application/pdf", "size": 9, "sha256": "0" * 64,
                "uploaded_by": "王科长", "uploaded_at": at.replace(tzinfo=None), "content": b"%PDF-1.4\n"})
        await engine.dispose()

    migrate(url, "alerts")
    asyncio.run(go())


def seed_world(settings: Settings) -> None:
    """A small demo province in the ledger, an alert and a disposition of 410324, every schema,
    a client and a user of 410324."""
    url = settings.database_url
    events = demo.generate(size=40).events
    offline.project(url, [parse_event(e, pii_key=settings.pii_key_bytes) for e in events if consumed(e["type"])],
                    topic=None)
    _seed_alerts(url)
    for service in ("notify", "ingest", "access"):
        migrate(url, service)
    registry.run(settings, lambda c: registry.create(c, settings, client_id="county-410324", name="栾川县",
                                                     scope=OWN, families=["payment"], actor="tests"))

    async def users() -> None:
        engine = make_engine(url)
        async with engine.begin() as conn:
            await access_store.put_user(conn, User("li-410324", "李四", OWN, (Role.member,), (GROUP,)),
                                        hash_password("the password of li-410324"))
        await engine.dispose()

    asyncio.run(users())


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('matrix') / 'fundwatch.db'}"
    settings = Settings(database_url=url, auth_secret=TEST_SECRET, topic_prefix="matrix", notify_stream_max_s=0.1,
                        kafka_bootstrap="127.0.0.1:1")  # no broker: nothing here may need one
    seed_world(settings)
    return SimpleNamespace(url=url, settings=settings)


async def _fresh_application(engine, settings: Settings) -> str:
    applicant = Actor("applicant", OWN, (Role.member,))
    form = access_service.new_application(Kind.open, f"u-{uuid.uuid4().hex[:8]}", "农业股", "",
                                          Access("新人", OWN, (Role.auditor,)), applicant)
    async with engine.begin() as conn:
        return (await access_service.apply(conn, settings, applicant, form, None)).application_id


async def _values(client: httpx.AsyncClient, settings: Settings) -> dict[str, str]:
    """Path and query values naming 410324's objects (looked up as the Ministry)."""
    ministry = {"Authorization": f"Bearer {issue_token(settings, 'm', MINISTRY)}"}
    ind = (await client.get("/v1/indicators", params={"region": OWN, "limit": 1}, headers=ministry)).json()["items"][0]
    pay = (await client.get("/v1/payments", params={"region": OWN, "limit": 1}, headers=ministry)).json()["items"][0]
    transfers = (await client.get("/v1/transfers", params={"region": OWN}, headers=ministry)).json()["items"]
    return {"indicator_id": ind["indicator_id"], "payment_id": pay["payment_id"],
            "transfer_id": transfers[0]["transfer_id"]}


BODIES = {
    "/v1/events": f.payment("P-M", "I1", "1.00"),
    "/v1/events/batch": [f.payment("P-M", "I1", "1.00")],
    "/v1/clients": {"client_id": "new-410324", "name": "新系统", "scope": OWN, "families": ["payment"]},
    "/v1/clients/{client_id}/rotate": {"grace_s": 0},
    "/v1/alerts/{alert_id}/dispositions": {"action": "verify_normal", "method": "phone", "findings": "电话核实"},
    "/v1/rules/{rule_id}/config": {"rule_id": "USE-04", "budget_year": 2026, "enabled": True},
    "/v1/login": {"username": "li-410324", "password": "not the password"},
    "/v1/refresh": {"refresh_token": "fwr_0000000000000000_" + "A" * 43},
    "/v1/logout": {"refresh_token": "fwr_0000000000000000_" + "A" * 43},
    "/v1/me/password": {"current_password": "not the password", "new_password": "a long new passphrase"},
    "/v1/applications": {"kind": "open", "username": "wu-410324", "unit": "农业股",
                         "requested": {"display_name": "吴", "region": OWN, "roles": ["auditor"]}},
    "/v1/applications/{application_id}/reject": {"note": "材料不全"},
    "/v1/targets": {"group_code": "*", "channel": "webhook", "target": "https://hooks.example.cn/fundwatch"},
    "/v1/reports": {"month": "2026-03", "region": OWN},
    "/v1/reminder-policies/{rule_id}/{level}": {"remind_after": 3, "repeat_every": 2, "escalate_after": 5},
    "/v1/targets/{target_id}": {"group_code": "*", "channel": "webhook", "target": "https://hooks.example.cn/x"},
}


FILES = {"/v1/alerts/{alert_id}/attachments": {"file": ("处理单.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf")}}


def _apps(world) -> dict[str, tuple[object, object]]:
    s = world.settings
    engine = make_engine(world.url)
    ingest = ingest_app(s, engine)
    ingest.state.audit = AuditSink(s, None, "ingest")  # no broker here: refusals are logged, not sent
    return {"ingest": (ingest, engine), "ledger": (ledger_app(engine, None, s), engine),
            "alerts": (alerts_app(engine, s), engine),
            "notify": (notify_app(engine, None, s, _ledger_client(engine, s), _alerts_client(engine, s)), engine),
            "access": (access_app(engine, s), engine)}


def _ledger_client(engine, settings: Settings) -> httpx.AsyncClient:
    """notify's monthly report reads the (seeded) ledger API."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=ledger_app(engine, None, settings)),
                             base_url="http://ledger")


def _alerts_client(engine, settings: Settings) -> httpx.AsyncClient:
    """... and the alerts API (its counts and amounts)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=alerts_app(engine, settings)),
                             base_url="http://alerts")


def test_every_operation_against_every_caller(world):
    async def run() -> tuple[list[str], int]:
        apps = _apps(world)
        failures, count = [], 0
        ledger_values: dict[str, str] = {}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=apps["ledger"][0]), base_url="http://l") as c:
            ledger_values = await _values(c, world.settings)
        values = {**ledger_values, "name": "payment.made", "client_id": "county-410324", "alert_id": "USE-05-m",
                  "disposition_id": "D-m", "rule_id": "USE-04", "username": "li-410324",
                  "attachment_id": ATTACHMENT,
                  "letter_id": "0", "task_id": "SJ-none", "job_id": "none",
                  "item_id": "999999", "delivery_id": "999999", "target_id": "999999", "level": "yellow",
                  "report_id": f"2026-03.{OWN}.all"}
        query = {"/v1/search": {"q": "项目"}, "/v1/rules/{rule_id}/effective": {"budget_year": 2026},
                 "/v1/journal": {"indicator_id": values["indicator_id"], "account": "5201"}}
        documented = set()
        for name, (app, engine) in apps.items():
            operations = [(m.upper(), p) for p, ops in app.openapi()["paths"].items() for m in ops]  # type: ignore[attr-defined]
            documented |= {(name, m, p) for m, p in operations}
            missing = [(m, p) for m, p in operations if (name, m, p) not in POLICY]
            assert not missing, f"{name}: say who may call {missing} (add them to POLICY)"
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{name}") as client:
                for (method, path), caller in itertools.product(operations, CALLERS):
                    if path == "/v1/login":
                        app.state.throttle.failures.clear()  # type: ignore[attr-defined]  # throttling: test_access
                    if "{application_id}" in path:
                        values["application_id"] = await _fresh_application(engine, world.settings)
                    url = path.format(**values)
                    body = BODIES.get(path)
                    if path == "/v1/clients" and method == "POST":
                        body = {**BODIES[path], "client_id": f"c-{uuid.uuid4().hex[:8]}"}
                    upload = FILES.get(path)
                    response = await client.request(method, url, params=query.get(path),
                                                    json=body if method in ("POST", "PUT") and not upload else None,
                                                    files=upload, headers=headers_for(world.settings, caller))
                    expected = POLICY[(name, method, path)](caller)
                    count += 1
                    if response.status_code != expected:
                        failures.append(f"{name} {method} {path} as {caller}: {response.status_code} "
                                        f"(expected {expected}) {response.text[:160]}")
        stale = set(POLICY) - documented
        assert not stale, f"POLICY names operations that no longer exist: {sorted(stale)}"
        await apps["ingest"][1].dispose()  # type: ignore[attr-defined]
        return failures, count

    failures, count = asyncio.run(run())
    print(f"scope matrix: {count} requests ({len(POLICY)} operations × {len(CALLERS)} callers)")
    assert not failures, "\n".join(failures)
    assert count == len(POLICY) * len(CALLERS)


def test_issue_reproductions_through_the_api(world):
    """Issue 10's reproductions: the inbox without a token; another county's data; a status page
    to anyone. Each a 4xx naming the reason."""
    async def run() -> None:
        apps = _apps(world)
        notify, ledger = apps["notify"][0], apps["ledger"][0]
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=notify), base_url="http://n") as c:
            for path in ("/v1/inbox", "/v1/deliveries", "/v1/routes"):
                r = await c.get(path)
                assert r.status_code == 401 and r.json()["detail"] == "missing bearer token", path
            member = headers_for(world.settings, "role member")
            r = await c.get("/v1/inbox", params={"group": "poverty-410324"}, headers=member)
            assert r.status_code == 403 and "is not yours" in r.json()["detail"]
            r = await c.get("/v1/inbox", params={"region": OTHER}, headers=headers_for(world.settings, "own county"))
            assert r.status_code == 403 and "outside your scope" in r.json()["detail"]
            assert (await c.get("/v1/status")).json() == {"status": "ok"}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=ledger), base_url="http://l") as c:
            r = await c.get("/v1/overview", params={"offset": 2**64})
            assert r.status_code == 401
            r = await c.get("/v1/indicators", params={"offset": 2**64}, headers=headers_for(world.settings, "Ministry"))
            assert r.status_code == 422 and "offset" in r.text
        await apps["ingest"][1].dispose()  # type: ignore[attr-defined]

    asyncio.run(run())
