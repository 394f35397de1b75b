"""The monthly monitoring report on the demo province's ledger (the real ledger API over ASGI)
and alert transitions of March 2026 in the alerts read model (the real alerts API over ASGI):
numbers checked against ones computed here independently from the alerts API's alert list and
details, the workbook opened with openpyxl, the HTML with its charts."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import httpx
import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from contracts import parse_event
from contracts.alert import AlertEvidence, AlertLevel, AlertTransitioned, AlertTransitionKind
from contracts.control import DispositionFiled
from contracts.envelope import make_event
from services import demo
from services.alerts import handlers as alert_handlers
from services.alerts.api import create_app as alerts_app
from services.ledger import offline
from services.ledger.api import create_app as ledger_app
from services.ledger.recorder import consumed
from services.notify import report, store
from services.notify.api import create_app
from services.notify.delivery import DeliveryWorker
from services.notify.reminders import ReminderWorker
from services.runtime.db import make_engine, migrate
from services.runtime.projection import Delivery
from tests.clients import token_header
from tests.notify.receivers import SmtpReceiver
from tests.notify.test_channels import drain, settings_for

pytestmark = pytest.mark.store
BJ = dt.timezone(dt.timedelta(hours=8))


def t(alert_id: str, seq: int, kind: str, level: str, at: dt.datetime, *, region: str = "410324",
      rule_id: str = "USE-05", category: str = "fund usage", from_level: str | None = None, open_: bool = True,
      actions: list[str] | None = None, amount: str | None = None, disposition: str | None = None):
    data = AlertTransitioned(
        alert_id=alert_id, transition_id=f"{alert_id}.{seq}", transition=AlertTransitionKind(kind), rule_id=rule_id,
        category=category, title_zh="重复支付" if rule_id == "USE-05" else "非建档立卡对象", title_en="x",
        subject=f"payment/{alert_id}", level=AlertLevel(level),
        from_level=AlertLevel(from_level) if from_level else None,
        open=open_, group_code="agri", at=at, corrective_actions=actions or [], disposition_id=disposition,
        evidence=[AlertEvidence(event_id=f"e-{alert_id}", type="payment.made", facts={"amount": amount})]
        if amount else [])
    return make_event("alert.transitioned", data, id=f"ev-{alert_id}-{seq}", region=region, time=at,
                      source="/fundwatch/alerts", subject=alert_id)


def filed(disposition_id: str, alert_id: str, at: dt.datetime, region: str = "410324", **kw):
    data = DispositionFiled(disposition_id=disposition_id, alert_id=alert_id, actor="王科长", group_code="agri",
                            findings="整改", **kw)
    return make_event("alert.disposition_filed", data, id=disposition_id, region=region, time=at)


MARCH = [
    t("A1", 1, "raised", "yellow", dt.datetime(2026, 3, 2, 10, tzinfo=BJ)),
    t("A1", 2, "verified_violation", "red", dt.datetime(2026, 3, 5, 10, tzinfo=BJ), from_level="yellow"),
    filed("D-A1", "A1", dt.datetime(2026, 3, 19, 10, tzinfo=BJ), action="rectify",
          corrective_actions=["recover", "suspend"], amount_recovered="6000.00", amount_suspended="1500.50"),
    t("A1", 3, "rectified", "green", dt.datetime(2026, 3, 20, 10, tzinfo=BJ), from_level="red", open_=False,
      actions=["recover", "suspend"], amount="8000.00", disposition="D-A1"),
    t("A2", 1, "raised", "yellow", dt.datetime(2026, 3, 3, 10, tzinfo=BJ), region="410325"),  # open, overdue
    t("A3", 1, "raised", "red", dt.datetime(2026, 3, 30, 10, tzinfo=BJ), rule_id="BEN-01", category="recipients"),
    t("A4", 1, "raised", "yellow", dt.datetime(2026, 2, 20, 10, tzinfo=BJ)),  # February: open at end, not raised
    t("A4", 2, "verified_normal", "green", dt.datetime(2026, 3, 10, 10, tzinfo=BJ), from_level="yellow",
      open_=False),
    t("A5", 1, "raised", "yellow", dt.datetime(2026, 4, 1, 10, tzinfo=BJ)),  # April: not in March
]


@pytest.fixture
def demo_ledger(sqlite_url) -> str:
    """The demo province (size 40) projected into the ledger's tables, notify's schema beside it."""
    settings = settings_for(database_url=sqlite_url)
    events = demo.generate(size=40).events
    offline.project(sqlite_url, [parse_event(e, pii_key=settings.pii_key_bytes) for e in events
                                 if consumed(e["type"])], topic=None)
    migrate(sqlite_url, "notify")
    migrate(sqlite_url, "alerts")
    return sqlite_url


async def into_alerts(engine, *envelopes) -> None:
    """The alerts service's own projection of its topics (what its read model and API then show)."""
    async with engine.begin() as conn:
        await alert_handlers.apply(conn, [Delivery(None, e) for e in envelopes])  # type: ignore[arg-type]


async def independent_counts(alerts: httpx.AsyncClient, headers: dict, region: str, start: dt.datetime,
                             end: dt.datetime) -> dict:
    """March's numbers from the alerts API's list and each alert's detail (not /v1/transitions)."""
    items = (await alerts.get("/v1/alerts", params={"region": region, "limit": 500}, headers=headers)).json()["items"]
    raised: dict[str, int] = {}
    closed: dict[str, int] = {}
    open_end: dict[str, int] = {}
    recovered = suspended = Decimal(0)
    for a in items:
        detail = (await alerts.get(f"/v1/alerts/{a['alert_id']}", headers=headers)).json()
        history = [h for h in detail["history"] if dt.datetime.fromisoformat(h["at"]) < end]
        if not history:
            continue
        first = history[0]
        if dt.datetime.fromisoformat(first["at"]) >= start:
            raised[first["level"]] = raised.get(first["level"], 0) + 1
        for h in history:
            if not h["open"] and dt.datetime.fromisoformat(h["at"]) >= start:
                closed[h["from_level"]] = closed.get(h["from_level"], 0) + 1
        if history[-1]["open"]:
            open_end[history[-1]["level"]] = open_end.get(history[-1]["level"], 0) + 1
        moved = {h["transition_id"] for h in history if dt.datetime.fromisoformat(h["at"]) >= start}
        for d in detail["dispositions"]:
            if d["status"] == "applied" and d["transition_id"] in moved:
                recovered += Decimal(d["amount_recovered"] or 0)
                suspended += Decimal(d["amount_suspended"] or 0)
    return {"raised": raised, "closed": closed, "open": open_end, "recovered": recovered, "suspended": suspended}


async def test_monthly_report_on_the_demo_ledger(demo_ledger) -> None:
    sqlite_url = demo_ledger
    settings = settings_for(database_url=sqlite_url)
    engine = make_engine(sqlite_url)
    headers = token_header(settings, "410300")
    ledger = httpx.AsyncClient(transport=httpx.ASGITransport(app=ledger_app(engine, None, settings)),
                               base_url="http://ledger")
    alerts = httpx.AsyncClient(transport=httpx.ASGITransport(app=alerts_app(engine, settings)),
                               base_url="http://alerts")
    try:
        await into_alerts(engine, *MARCH)  # notify's own inbox stays empty: the counts are the alerts API's
        app = create_app(engine, None, settings, ledger, alerts)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://n") as client:
            r = await client.post("/v1/reports", json={"month": "2026-03", "region": "410300"}, headers=headers)
            assert r.status_code == 201, r.text
            s = r.json()
            start, end = report.month_bounds(dt.date(2026, 3, 1))
            apart = await independent_counts(alerts, headers, "410300", start, end)
            assert s["raised"]["by_level"] == apart["raised"] and s["closed"]["by_level"] == apart["closed"]
            assert s["open_at_end"]["by_level"] == apart["open"]
            assert Decimal(s["dispositions"]["recovered"]) == apart["recovered"] == Decimal("6000.00")
            assert Decimal(s["dispositions"]["suspended"]) == apart["suspended"] == Decimal("1500.50")
            assert s["dispositions"]["by_rule"] == {"USE-05": {"recovered": "6000.00", "suspended": "1500.50"}}
            assert s["dispositions"]["by_group"] == {"agri": {"recovered": "6000.00", "suspended": "1500.50"}}
            assert s["report_id"] == "2026-03.410300.all"
            assert s["raised"] == {"total": 3, "by_level": {"yellow": 2, "red": 1},
                                   "by_category": {"fund usage": 2, "recipients": 1},
                                   "by_rule": {"BEN-01": 1, "USE-05": 2}}
            assert s["closed"]["total"] == 2 and s["closed"]["by_level"] == {"red": 1, "yellow": 1}
            assert s["open_at_end"] == {"total": 2, "by_level": {"yellow": 1, "red": 1}}
            assert [(o["alert_id"], o["level"]) for o in s["overdue"]] == [("A2", "yellow")]
            assert s["dispositions"] == {"by_kind": {"verified_violation": 1, "rectified": 1, "verified_normal": 1},
                                         "corrective_actions": {"recover": {"count": 1, "amount": "8000.00"},
                                                                "suspend": {"count": 1, "amount": "8000.00"}},
                                         "recovered": "6000.00", "suspended": "1500.50",
                                         "by_rule": {"USE-05": {"recovered": "6000.00", "suspended": "1500.50"}},
                                         "by_group": {"agri": {"recovered": "6000.00", "suspended": "1500.50"}}}
            assert s["ranking"]["by_alerts_raised"] == [{"region": "410324", "raised": 2},
                                                        {"region": "410325", "raised": 1}]
            # Spending: what the ledger API itself says for the city.
            overview = (await ledger.get("/v1/overview", params={"region": "410300"}, headers=headers)).json()
            tree = (await ledger.get("/v1/regions/tree", params={"region": "410300"}, headers=headers)).json()
            assert [(f["fund_code"], f["paid"], f["progress"]) for f in s["spending"]["funds"]] == [
                (f["fund_code"], f["paid"], f["progress"]) for f in overview["by_fund"]]
            assert s["spending"]["totals"]["paid"] == overview["totals"]["paid"]
            assert Decimal(overview["totals"]["paid"]) > 0
            assert [r["code"] for r in s["ranking"]["by_progress"]] == [
                c["code"] for c in sorted(tree["children"]["items"], key=lambda c: c["rank"])]

            book = load_workbook(io.BytesIO((await client.get(f"/v1/reports/{s['report_id']}/xlsx",
                                                              headers=headers)).content))
            assert book.sheetnames[:3] == ["预警概况", "按类别", "按规则"]
            sheet = book["预警概况"]
            assert sheet["A1"].value.startswith("2026年3月财政扶贫资金动态监控情况报告")
            assert [c.value for c in sheet[3]] == ["本月新发", 0, 2, 1, 0, 3]
            assert len(sheet._charts) == 1
            funds = book["资金支出进度（按资金）"]
            assert Decimal(str(funds.cell(3, 5).value)) == Decimal(overview["by_fund"][0]["paid"])
            html = (await client.get(f"/v1/reports/{s['report_id']}/html", headers=headers)).text
            assert "<svg" in html and "追回资金" in html and "8000.00" in html and "@page{size:A4" in html
            assert "6000.00" in html and "1500.50" in html
            pdf = await client.get(f"/v1/reports/{s['report_id']}/pdf", headers=headers)
            assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
            reader = PdfReader(io.BytesIO(pdf.content))
            text = " ".join(" ".join(page.extract_text() for page in reader.pages).split())  # a cell a line
            assert reader.metadata.title.startswith("2026年3月财政扶贫资金动态监控情况报告")
            assert "2026年3月财政扶贫资金动态监控情况报告 — 国库业务组（汇总） — 区划410300" in text
            assert "本月新发 0 2 1 0 3" in text and "月末未办结 0 1 1 0 2" in text
            assert "追回资金 1 8000.00 6000.00" in text and "暂停拨付 1 8000.00 1500.50" in text
            assert "合计 6000.00 1500.50" in text
            assert overview["by_fund"][0]["paid"] in text  # the ledger's figure, as the ledger API says it
            assert sum(len(page.images) + len(page.get("/Contents").get_object().get_data()) > 0
                       for page in reader.pages) == len(reader.pages)
            money = book["追回与暂停拨付金额"]
            assert [c.value for c in money[money.max_row]][2:] == [6000, 1500.5]

            member = token_header(settings, "410324", ("agri",))
            mine = await client.post("/v1/reports", json={"month": "2026-03", "region": "410324",
                                                          "group_code": "agri"}, headers=member)
            assert mine.status_code == 201 and mine.json()["raised"]["total"] == 2  # 410325 is not in its region
            assert (await client.post("/v1/reports", json={"month": "2026-03", "region": "410324"},
                                      headers=member)).status_code == 403
            assert [r["report_id"] for r in (await client.get("/v1/reports", headers=member)).json()] == [
                "2026-03.410324.agri"]

        # Scheduled: on the first working day of April, March's reports are made once and mailed.
        smtp = SmtpReceiver()
        await store.create_target(engine, {"group_code": "agri", "channel": "email", "target": "nongye@czj.example",
                                           "secret": None, "levels": [], "categories": [], "rule_ids": [],
                                           "recipients": [], "enabled": True}, "tests")
        scheduled = settings_for(database_url=sqlite_url, notify_report_regions="410324,410325",
                                 notify_smtp_port=smtp.port)
        worker = ReminderWorker(scheduled, engine, ledger=ledger, alerts=alerts)
        assert report.first_working_day(2026, 4) == dt.date(2026, 4, 1)
        assert await worker.monthly(dt.date(2026, 4, 2)) == 0
        assert await worker.monthly(dt.date(2026, 4, 1)) == 3  # 410324 overall (agri's exists), 410325 both
        assert await worker.monthly(dt.date(2026, 4, 1)) == 0
        await drain(DeliveryWorker(scheduled, engine))
        smtp.close()
        [mail] = smtp.messages
        assert mail["Subject"] == "2026年3月财政扶贫资金动态监控情况报告 — agri业务组 — 区划410325"
        attachment, mailed_pdf = list(mail.iter_attachments())
        assert attachment.get_filename() == "月度监控情况报告-2026-03.410325.agri.xlsx"
        assert mailed_pdf.get_filename() == "月度监控情况报告-2026-03.410325.agri.pdf"
        assert "agri业务组" in PdfReader(io.BytesIO(mailed_pdf.get_content())).pages[0].extract_text()
        sheet = load_workbook(io.BytesIO(attachment.get_content()))["预警概况"]
        assert [c.value for c in sheet[3]] == ["本月新发", 0, 1, 0, 0, 1]
    finally:
        await ledger.aclose()
        await alerts.aclose()
        await engine.dispose()
