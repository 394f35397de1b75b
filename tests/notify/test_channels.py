"""Each channel against a real receiver that checks what its real counterpart documents
(企业微信 and 钉钉 robots, Alertmanager's webhook v4, Standard Webhooks, SMTP), grouping,
the robots' per-minute limit kept by queueing, and a final failure resent by API."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import re
from email.message import EmailMessage

import httpx
import pytest
from sqlalchemy import select, update

from services.notify import store
from services.notify.api import create_app
from services.notify.channels import webhook_secret
from services.notify.delivery import DeliveryWorker
from services.notify.handlers import make_apply
from services.runtime.db import make_engine, migrate_async
from services.runtime.projection import Delivery
from services.runtime.settings import Settings
from tests.clients import token_header
from tests.conftest import TEST_SECRET
from tests.notify.builders import alert_event
from tests.notify.receivers import HttpReceiver, SmtpReceiver

pytestmark = pytest.mark.store
WHSEC = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
DING_SECRET = "SEC0123456789abcdef"


@pytest.fixture
async def engine(sqlite_url):
    await migrate_async(sqlite_url, "notify")
    engine = make_engine(sqlite_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def receivers():
    made: list = []

    def make(kind: str, **kw):
        made.append(SmtpReceiver() if kind == "smtp" else HttpReceiver(kind, **kw))
        return made[-1]

    yield make
    for r in made:
        r.close()


def settings_for(**kw) -> Settings:
    return Settings(auth_secret=TEST_SECRET, notify_group_wait_s=0, notify_group_interval_s=0,
                    notify_retry_base_s=0.01, notify_console_url="https://fundwatch.example", **kw)


async def project(engine, settings: Settings, *envelopes) -> None:
    async with engine.begin() as conn:
        await make_apply(settings)(conn, [Delivery(None, e) for e in envelopes])  # type: ignore[arg-type]


async def target(engine, channel: str, target: str, group: str = "*", **kw) -> int:
    values = {"group_code": group, "channel": channel, "target": target, "secret": None, "levels": [],
              "categories": [], "rule_ids": [], "recipients": [], "enabled": True, **kw}
    return await store.create_target(engine, values, "tests")


async def drain(worker: DeliveryWorker, rounds: int = 50) -> None:
    """Flush waiting groups and attempt what is due until nothing is due within a second
    (retries back off by 10 ms here; a robot's deferred minute is further off)."""
    async with httpx.AsyncClient(timeout=5) as client:
        for _ in range(rounds):
            await worker.flush(store.utcnow())
            due = await store.due_deliveries(worker.engine, store.utcnow(), 100)
            for row in due:
                await worker.attempt(client, row)
            if not due:
                if not await store.due_deliveries(worker.engine, store.utcnow() + dt.timedelta(seconds=1), 1):
                    return
                await asyncio.sleep(0.02)


def alerts(n: int, *, region: str = "410324", rule_id: str = "USE-05", subject: str = "payment:P-{i:04d}"):
    out = []
    for i in range(n):
        e = alert_event(region, rule_id=rule_id, alert_id=f"{rule_id}-{region}-{i:04d}")
        out.append(e.model_copy(update={"data": e.data.model_copy(update={"subject": subject.format(i=i)})}))
    return out


async def test_each_channel_receives_its_documented_format(engine, receivers) -> None:
    wecom, ding, am, hook = (receivers("wecom"), receivers("dingtalk", secret=DING_SECRET),
                             receivers("alertmanager"), receivers("webhook", secret=WHSEC))
    smtp = receivers("smtp")
    settings = settings_for(notify_smtp_port=smtp.port, notify_mail_from="jiankong@czj.example")
    await target(engine, "wecom", wecom.url, recipients=["13800000001"])
    await target(engine, "dingtalk", ding.url, secret=DING_SECRET, recipients=["13800000002"])
    await target(engine, "alertmanager", am.url)
    await target(engine, "email", "guoku@czj.example, nongye@czj.example")
    await target(engine, "webhook", hook.url, secret=WHSEC)
    three = alerts(3)
    other = alerts(1, rule_id="BEN-01", region="410325")
    await project(engine, settings, *three, *other)
    await drain(DeliveryWorker(settings, engine))

    for r in (wecom, ding, am, hook):
        assert r.refused == [], (r.kind, r.refused)
    # 企业微信: one markdown message per (rule, region), listing each alert with its link.
    contents = sorted(b["markdown"]["content"] for b in wecom.bodies())
    assert len(contents) == 2
    use05 = next(c for c in contents if "USE-05" in c)
    assert "【黄灯】USE-05 重复支付（410324）共3条" in use05 and "@13800000001" in use05
    assert re.findall(r"\[(payment:P-\d+)\]", use05) == ["payment:P-0000", "payment:P-0001", "payment:P-0002"]
    assert "https://fundwatch.example/alerts/USE-05-410324-0000" in use05
    # 钉钉: signed (the receiver checked timestamp and sign), markdown, @ the mobile.
    [d1, d2] = sorted(ding.bodies(), key=lambda b: b["markdown"]["title"])
    assert d1["at"] == {"atMobiles": ["13800000002"], "isAtAll": False}
    assert {d1["markdown"]["title"], d2["markdown"]["title"]} == {"【黄灯】USE-05 重复支付（410324）共3条",
                                                                "【黄灯】BEN-01 重复支付（410325）共1条"}
    assert all(set(r.query) == {"access_token", "timestamp", "sign"} for r in ding.accepted)
    # Alertmanager v4: one group per rule and region.
    groups = {b["groupLabels"]["alertname"]: b for b in am.bodies()}
    assert set(groups) == {"USE-05", "BEN-01"}
    g = groups["USE-05"]
    assert (g["version"], g["status"], g["receiver"], g["groupLabels"]) == (
        "4", "firing", "treasury", {"alertname": "USE-05", "region": "410324"})
    assert [a["labels"]["alert_id"] for a in g["alerts"]] == [e.data.alert_id for e in three]
    assert g["alerts"][0]["endsAt"] == "0001-01-01T00:00:00Z" and g["alerts"][0]["startsAt"] == "2026-03-02T09:30:00Z"
    assert g["commonLabels"]["severity"] == "yellow" and "alert_id" not in g["commonLabels"]
    # E-mail: Chinese subject, text and HTML parts, to both addresses.
    assert len(smtp.messages) == 2
    mail: EmailMessage = next(m for m in smtp.messages if "USE-05" in m["Subject"])
    assert mail["Subject"] == "[fundwatch预警] 【黄灯】USE-05 重复支付（410324）共3条"
    assert smtp.envelopes[0][1] == ["guoku@czj.example", "nongye@czj.example"]
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert "payment:P-0002" in text and '<a href="https://fundwatch.example/alerts/USE-05-410324-0001">' in html
    # Standard Webhooks: one per transition, signature verified by the receiver, id stable.
    assert sorted(b["data"]["alert_id"] for b in hook.bodies()) == sorted(e.data.alert_id for e in [*three, *other])
    first = hook.accepted[0]
    data = first.json()["data"]
    assert first.headers["webhook-id"] == f"{data['alert_id']}/{data['transition_id']}/webhook"
    # The delivery log names every alert a message listed.
    page = await store.list_deliveries(engine, alert_id=three[2].data.alert_id)
    assert sorted(r["channel"] for r in page.items) == ["alertmanager", "dingtalk", "email", "webhook", "wecom"]
    assert {r["alerts"] for r in page.items if r["channel"] != "webhook"} == {3}


async def test_robot_limit_queues_and_never_drops(engine, receivers) -> None:
    wecom = receivers("wecom", per_minute=2)
    settings = settings_for(notify_robot_per_minute=2)
    await target(engine, "wecom", wecom.url)
    flood = [a for region in ("410321", "410322", "410323", "410324", "410325") for a in alerts(4, region=region)]
    await project(engine, settings, *flood)
    worker = DeliveryWorker(settings, engine)

    sent = []
    for _minute in range(3):
        await drain(worker)
        sent.append(len(wecom.accepted))
        wecom.clock_offset_s += 62
        async with engine.begin() as conn:  # a minute passes for the robot's window
            d = store.deliveries.c
            for row in (await conn.execute(select(d.id, d.sent_at).where(d.sent_at.is_not(None)))).all():
                await conn.execute(update(store.deliveries).where(d.id == row.id)
                                   .values(sent_at=row.sent_at - dt.timedelta(seconds=62)))
            await conn.execute(update(store.deliveries).where(d.status == store.PENDING)
                               .values(next_attempt_at=store.utcnow()))
    assert sent == [2, 4, 5]
    assert wecom.refused == []
    listed = re.findall(r"\[(payment:P-\d+)\]\(https://fundwatch.example/alerts/([^)]+)\)",
                        "".join(b["markdown"]["content"] for b in wecom.bodies()))
    assert sorted(a for _s, a in listed) == sorted(e.data.alert_id for e in flood)


async def test_robot_message_split_to_4096_bytes(engine, receivers) -> None:
    wecom = receivers("wecom")
    settings = settings_for()
    await target(engine, "wecom", wecom.url)
    many = alerts(80, subject="payment:P-{i:04d}·某某县农业农村局产业扶贫项目资金拨付")
    await project(engine, settings, *many)
    await drain(DeliveryWorker(settings, engine))
    contents = [b["markdown"]["content"] for b in wecom.bodies()]
    assert len(contents) > 1 and all(len(c.encode()) <= 4096 for c in contents)
    ids = re.findall(r"/alerts/(USE-05-410324-\d{4})\)", "".join(contents))
    assert ids == [e.data.alert_id for e in many]  # each listed once, in order, none cut


async def test_a_groups_target_adds_to_the_default(engine, receivers) -> None:
    default, own = receivers("webhook", secret=WHSEC), receivers("webhook", secret=WHSEC)
    settings = settings_for()
    await target(engine, "webhook", default.url, secret=WHSEC)
    await target(engine, "webhook", own.url, group="agri", secret=WHSEC, levels=["yellow"])
    await target(engine, "webhook", own.url, group="agri", secret=WHSEC, levels=["red"], rule_ids=["USE-05"])
    mine = alert_event("410324", group_code="agri")
    theirs = alert_event("410324", group_code="poverty")
    await project(engine, settings, mine, theirs)
    await drain(DeliveryWorker(settings, engine))
    assert sorted(b["data"]["alert_id"] for b in default.bodies()) == sorted([mine.data.alert_id,
                                                                              theirs.data.alert_id])
    assert [b["data"]["alert_id"] for b in own.bodies()] == [mine.data.alert_id]  # yellow: one of its two targets


async def test_settings_webhook_is_signed_with_the_derived_secret(engine, receivers) -> None:
    settings = settings_for()
    hook = receivers("webhook", secret=webhook_secret(settings))
    settings = settings_for(notify_webhook_url=hook.url)
    await project(engine, settings, alert_event("410324"))
    await drain(DeliveryWorker(settings, engine))
    assert len(hook.accepted) == 1 and hook.refused == []


async def test_a_webhook_target_without_a_secret_is_signed_with_the_settings_one(engine, receivers) -> None:
    settings = settings_for()
    hook = receivers("webhook", secret=webhook_secret(settings))
    await target(engine, "webhook", hook.url)  # no secret of its own (the API allows it)
    await project(engine, settings, alert_event("410324"))
    await drain(DeliveryWorker(settings, engine))
    assert len(hook.accepted) == 1 and hook.refused == []


async def test_final_failure_is_a_warning_and_resendable(engine, receivers, caplog) -> None:
    hook = receivers("webhook", secret="whsec_" + "A" * 32)  # not the sender's secret: every POST refused
    settings = settings_for(notify_max_attempts=2)
    await target(engine, "webhook", hook.url, secret=WHSEC)
    alert = alert_event("410324")
    await project(engine, settings, alert)
    worker = DeliveryWorker(settings, engine)
    with caplog.at_level(logging.INFO, logger="services.notify.delivery"):
        await drain(worker)
    [row] = (await store.list_deliveries(engine, status="failed")).items
    assert (row["attempts"], row["last_error"]) == (2, 'HTTP 400: {"error": "signature: No matching signature found"}')
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert f"id {row['id']}" in warning.getMessage() and "failed after 2 attempts" in warning.getMessage()

    hook.secret = WHSEC  # the receiver is fixed; an operator resends
    app = create_app(engine, None, settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://n",
                                 headers=token_header(settings)) as client:
        response = await client.post(f"/v1/deliveries/{row['id']}/resend")
        assert response.status_code == 202, response.text
        assert (response.json()["status"], response.json()["attempts"]) == ("pending", 0)
    await drain(worker)
    [done] = (await store.list_deliveries(engine, alert_id=alert.data.alert_id)).items
    assert (done["status"], done["attempts"]) == ("delivered", 1)
    assert [b["data"]["alert_id"] for b in hook.bodies()] == [alert.data.alert_id]


def sse_events(text: str) -> list[dict[str, str]]:
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":"))
        if "id" in fields:
            events.append(fields)
    return events


async def test_stream_is_scoped_and_resumes_after_last_event_id_and_inbox_is_read_and_acked(engine) -> None:
    settings = settings_for(notify_stream_max_s=0.3)
    own = [alert_event("410324", group_code="agri") for _ in range(3)]
    await project(engine, settings, *own, alert_event("410324", group_code="edu"), alert_event("411326"))
    app = create_app(engine, None, settings)
    member = token_header(settings, "410324", ("agri",))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://n") as client:
        r = await client.get("/v1/stream", params={"after": 0}, headers=member)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = sse_events(r.text)
        assert [json.loads(e["data"])["alert_id"] for e in events] == [a.data.alert_id for a in own]
        assert {e["event"] for e in events} == {"raised"}
        first_id = events[0]["id"]
        r = await client.get("/v1/stream", headers={**member, "Last-Event-ID": first_id})
        assert [json.loads(e["data"])["alert_id"] for e in sse_events(r.text)] == [a.data.alert_id for a in own[1:]]
        county = token_header(settings, "411326")
        r = await client.get("/v1/stream", params={"after": 0}, headers=county)
        assert [json.loads(e["data"])["region"] for e in sse_events(r.text)] == ["411326"]

        item = int(first_id)
        read = await client.post(f"/v1/inbox/{item}/read", headers=token_header(settings, "410324", ("agri",),
                                                                               user="wang"))
        assert read.status_code == 200, read.text
        assert (read.json()["read_by"], read.json()["acked_at"]) == ("wang", None)
        acked = await client.post(f"/v1/inbox/{item}/ack", headers=token_header(settings, "410324", ("agri",),
                                                                                user="li"))
        assert (acked.json()["read_by"], acked.json()["acked_by"]) == ("wang", "li")  # the first reader stays
        other = await client.post(f"/v1/inbox/{item}/ack", headers=token_header(settings, "410324", ("edu",)))
        assert other.status_code == 404


async def test_targets_are_edited_by_api_with_clear_errors(engine) -> None:
    settings = settings_for()
    app = create_app(engine, None, settings)
    member = token_header(settings, "410324", ("agri",))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://n") as client:
        body = {"group_code": "agri", "channel": "dingtalk", "secret": DING_SECRET, "levels": ["red"],
                "target": "https://oapi.dingtalk.com/robot/send?access_token=abc", "recipients": ["13800000002"]}
        created = await client.post("/v1/targets", json=body, headers=member)
        assert created.status_code == 201, created.text
        out = created.json()
        assert (out["target"], out["has_secret"], out["levels"]) == (
            "https://oapi.dingtalk.com/robot/send", True, ["red"])  # the token never leaves notify
        bad = await client.post("/v1/targets", json={**body, "channel": "email", "target": "guoku@czj, x"},
                                headers=member)
        assert bad.status_code == 422 and "not an e-mail address: 'x'" in bad.text
        assert (await client.post("/v1/targets", json={**body, "group_code": "*"}, headers=member)).status_code == 403
        changed = await client.put(f"/v1/targets/{out['id']}", json={**body, "levels": []}, headers=member)
        assert changed.json()["levels"] == []
        async with engine.connect() as conn:
            [t] = await store.load_targets(conn)
        assert (t.key, t.channel, t.secret, t.recipients) == (f"t{out['id']}", "dingtalk", DING_SECRET,
                                                             ("13800000002",))
        assert (await client.delete(f"/v1/targets/{out['id']}", headers=member)).status_code == 204
        assert (await client.get("/v1/targets", headers=member)).json() == []
