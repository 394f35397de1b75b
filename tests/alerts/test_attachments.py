"""Attachments of dispositions (处理单附件) on SQLite and PostgreSQL: uploaded by the responsible group,
kept in the database with their digest, linked to the disposition that names them, downloadable only
by callers who can see the alert; too big, wrong type and forged content refused naming the field."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib

import httpx

from contracts import make_event
from contracts.alert import AlertTransitioned
from services.alerts import handlers, store
from services.alerts.api import attachments as att
from services.alerts.api import create_app
from services.runtime.auth import Role, issue_token
from services.runtime.db import make_engine, migrate
from services.runtime.projection import Delivery
from services.runtime.settings import Settings
from tests.conftest import TEST_SECRET

OWN, OTHER, GROUP = "410324", "411326", "agri-410324"
AT = dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC)
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def _seed(url: str, open_: bool = True) -> None:
    migrate(url, "alerts")
    data = AlertTransitioned(alert_id="USE-04-a", transition_id="USE-04-a.1", transition="raised", rule_id="USE-04",
                             category="usage", title_zh="现金支付超过限额", title_en="Cash", subject="payment/P1",
                             level="yellow", open=open_, group_code=GROUP, at=AT, findings="payment P1",
                             findings_zh="支付 P1 金额 ¥52,036.00 以现金结算")

    async def go() -> None:
        engine = make_engine(url)
        async with engine.begin() as conn:
            await handlers.apply(conn, [Delivery(None, make_event(  # type: ignore[arg-type]
                "alert.transitioned", data, id="t-1", region=OWN, time=AT))])
        await engine.dispose()

    asyncio.run(go())


def _client(url: str):
    settings = Settings(database_url=url, auth_secret=TEST_SECRET, topic_prefix="att", kafka_bootstrap="127.0.0.1:1")
    engine = make_engine(url)
    app = create_app(engine, settings)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://alerts")

    def auth(region: str = OWN, groups: tuple[str, ...] = (GROUP,), roles=(Role.member,)) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_token(settings, 'yewu', region, groups, roles=roles)}"}

    return client, engine, auth


def _upload(client, headers, name="处理单.pdf", content=PDF, kind="application/pdf"):
    return client.post("/v1/alerts/USE-04-a/attachments", files={"file": (name, content, kind)}, headers=headers)


def test_upload_file_with_a_disposition_and_download_it_back(database_url):
    _seed(database_url)

    async def go() -> None:
        client, engine, auth = _client(database_url)
        async with client:
            r = await _upload(client, auth())
            assert r.status_code == 201, r.text
            meta = r.json()
            assert (meta["file_name"], meta["content_type"], meta["size"], meta["uploaded_by"]) == (
                "处理单.pdf", "application/pdf", len(PDF), "yewu")
            assert meta["sha256"] == hashlib.sha256(PDF).hexdigest() and meta["disposition_id"] is None
            filed = await client.post("/v1/alerts/USE-04-a/dispositions", headers=auth(), json={
                "action": "verify_violation", "method": "documents", "findings": "调阅材料核实",
                "attachments": [meta["attachment_id"], "oss://archive/其他.pdf"]})
            assert filed.status_code == 202, filed.text
            detail = (await client.get("/v1/alerts/USE-04-a", headers=auth())).json()
            assert [a["disposition_id"] for a in detail["attachments"]] == [filed.json()["disposition_id"]]
            assert detail["alert"]["findings_zh"] == "支付 P1 金额 ¥52,036.00 以现金结算"
            treasury = auth(region="410300", groups=(), roles=(Role.treasury,))  # the city sees the county's alert
            got = await client.get(meta["url"], headers=treasury)
            assert got.status_code == 200 and got.content == PDF
            assert got.headers["content-type"] == "application/pdf"
            assert "filename*=UTF-8''%E5%A4%84%E7%90%86%E5%8D%95.pdf" in got.headers["content-disposition"]
            assert got.headers["x-content-sha256"] == meta["sha256"]
            # the same file cannot be filed again with another disposition
            again = await client.post("/v1/alerts/USE-04-a/dispositions", headers=auth(), json={
                "action": "verify_violation", "method": "documents", "findings": "再次", "attachments":
                    [meta["attachment_id"]]})
            assert again.status_code == 422 and again.json()["detail"][0]["loc"] == ["body", "attachments", 0]
            unknown = await client.post("/v1/alerts/USE-04-a/dispositions", headers=auth(), json={
                "action": "verify_violation", "method": "documents", "findings": "x",
                "attachments": ["ATT-000000000000000000000000"]})
            assert unknown.status_code == 422 and "no such attachment" in unknown.text
        async with engine.connect() as conn:  # kept in the database: a new process reads the same bytes
            row = await store.get_attachment(conn, meta["attachment_id"], content=True)
        assert row is not None and bytes(row["content"]) == PDF
        await engine.dispose()

    asyncio.run(go())


def test_attachments_are_refused_out_of_scope_too_big_or_of_the_wrong_type(database_url):
    _seed(database_url)

    async def go() -> None:
        client, engine, auth = _client(database_url)
        async with client:
            meta = (await _upload(client, auth())).json()
            other_county = auth(region=OTHER, groups=("agri-411326",), roles=(Role.treasury,))
            assert (await client.get(meta["url"], headers=other_county)).status_code == 404
            assert (await client.get(meta["url"])).status_code == 401
            assert (await _upload(client, other_county)).status_code == 403  # not a member
            stranger = auth(groups=("edu-410324",))  # a member of another group of the county
            assert (await _upload(client, stranger)).status_code == 403
            assert (await _upload(client, auth(region=OTHER, groups=(GROUP,)))).status_code == 404

            big = await _upload(client, auth(), content=b"%PDF-" + b"0" * att.MAX_BYTES)
            assert big.status_code == 413 and big.json()["detail"][0]["loc"] == ["body", "file"], big.text
            exe = await _upload(client, auth(), name="tool.exe", content=b"MZ\x90\x00", kind="application/x-msdownload")
            assert exe.status_code == 415 and exe.json()["detail"][0]["loc"] == ["body", "file"]
            forged = await _upload(client, auth(), name="fake.pdf", content=b"<html>not a pdf</html>")
            assert forged.status_code == 415 and "does not contain application/pdf" in forged.text
            empty = await _upload(client, auth(), name="empty.pdf", content=b"")
            assert empty.status_code == 422 and empty.json()["detail"][0]["loc"] == ["body", "file"]
            sniffed = await _upload(client, auth(), name="扫描件.PNG", content=b"\x89PNG\r\n\x1a\n....",
                                    kind="application/octet-stream")  # a browser that does not know the type
            assert sniffed.status_code == 201 and sniffed.json()["content_type"] == "image/png"
            docx = await _upload(client, auth(), name="核查报告.docx", content=b"PK\x03\x04....",
                                 kind="application/vnd.openxmlformats-officedocument.wordprocessingml.document")
            assert docx.status_code == 201
            path = await _upload(client, auth(), name="../../etc/passwd.pdf")
            assert path.status_code == 201 and path.json()["file_name"] == "passwd.pdf"
        async with engine.connect() as conn:
            kept = await store.attachments_of(conn, "USE-04-a")
        assert len(kept) == 4 and all("content" not in a for a in kept)  # the refused ones left nothing
        await engine.dispose()

    asyncio.run(go())


def test_no_uploads_on_a_closed_alert(sqlite_url):
    _seed(sqlite_url, open_=False)

    async def go() -> None:
        client, engine, auth = _client(sqlite_url)
        async with client:
            r = await _upload(client, auth())
            assert r.status_code == 409 and "closed" in r.text
        await engine.dispose()

    asyncio.run(go())
