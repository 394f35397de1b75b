"""The console in a real browser (Debian's chromium through Playwright) against a real platform:
what the pages show — Chinese texts, amounts as the ledger has them, the alert's id — and what a
person can do there: log in as each role, overview, drill-down, trace, a disposition yellow → red
→ green, a rule change and its refusal, search, export."""

from __future__ import annotations

import io
import re
import time

import httpx
import openpyxl
import pytest
from playwright.sync_api import expect

from services.console import text
from tests.console.conftest import api, shot

pytestmark = pytest.mark.integration


def test_login_as_each_role_shows_who_and_the_overview(login, platform):
    page = login("guoku")
    expect(page.locator("h1")).to_contain_text("总览")
    o = api(platform, "ledger", "/v1/overview", region="410000")
    expect(page.locator("#kpi-scale")).to_have_text(text.money(o["totals"]["scale"]))
    expect(page.locator("#kpi-paid")).to_have_text(text.money(o["totals"]["paid"]))
    expect(page.locator("#kpi-progress")).to_have_text(text.percent(o["totals"]["progress"]))
    summary = api(platform, "alerts", "/v1/alert-summary", region="410000")
    reds = sum(c["open"] for c in summary["cells"] if c["level"] == "red")
    expect(page.locator("#lights td[data-level=red]")).to_have_text(str(reds))
    expect(page.locator("header .roles")).to_have_text("国库组")
    expect(page.locator("#ranking tbody tr").first).to_contain_text("1")
    shot(page, "overview-guoku")
    # 万元: the same amount, in ten-thousands
    page.click("text=万元")
    expect(page.locator("#kpi-scale")).to_have_text(text.money(o["totals"]["scale"], "wan"))

    for username, role in (("yewu", "业务组/主管科室"), ("guize", "规则管理员（上级财政）"), ("shenji", "审计员（只读）"),
                           ("xianguoku", "国库组")):
        p = login(username)
        expect(p.locator("header .roles")).to_have_text(role)
        expect(p.locator("h1")).to_contain_text("总览")
    county = login("yewu")
    expect(county.locator("h1")).to_contain_text("栾川县")
    # the system administrator reads no fiscal data: the ledger's refusal is shown as it is worded
    sysadmin = login("admin")
    expect(sysadmin.locator(".alert-box.error")).to_contain_text("this needs the role")


def test_wrong_password_is_refused_in_chinese(platform, browser):
    page = browser.new_page()
    page.goto(f"{platform['url']}/login")
    page.fill("input[name=username]", "guoku")
    page.fill("input[name=password]", "wrong-password")
    page.click("button[type=submit]")
    expect(page.locator(".alert-box.error")).to_have_text("用户名或密码错误")
    page.goto(f"{platform['url']}/alerts")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Falerts"))
    page.close()


def test_drill_down_and_trace_a_payment_to_the_central_document(login, platform):
    page = login("guoku")
    page.click("header nav >> text=地区")
    tree = api(platform, "ledger", "/v1/regions/tree", region="410000")
    first = tree["children"]["items"][0]
    expect(page.locator("#region-table tbody tr").first).to_contain_text(first["name"])
    page.click(f"#region-table >> text={first['name']}")
    expect(page.locator("h1")).to_have_text(f"地区 · {first['name']}")
    counties = api(platform, "ledger", "/v1/regions/tree", region=first["code"])["children"]["items"]
    expect(page.locator("#region-table tbody tr")).to_have_count(max(len(counties), 1))
    shot(page, "regions-city")

    pay = api(platform, "ledger", "/v1/payments", region="410324", status="counted", limit=1)["items"][0]
    trace = api(platform, "ledger", f"/v1/payments/{pay['payment_id']}/trace")
    page.goto(f"{platform['url']}/trace/payment/{pay['payment_id']}")
    expect(page.locator("#chain .node.pay .id")).to_have_text(pay["payment_id"])
    top = trace["top_document"]
    expect(page.locator("#top-document")).to_contain_text(top["doc_no"])
    expect(page.locator("#top-document")).to_contain_text(text.money(top["amount"]))
    expect(page.locator("#chain .docno")).to_have_count(len(trace["chain"]))
    shot(page, "trace-payment")


def _open_alert(platform, level: str) -> list[dict]:
    groups = {"agri-410324", "social-410324", "edu-410324", "econ-410324"}
    found = [a for a in api(platform, "alerts", "/v1/alerts", region="410324", level=level, status="open",
                            limit=500)["items"] if a["group_code"] in groups and a["rule_id"].startswith(("BEN", "ACC", "USE"))]
    assert len(found) >= 2, f"no two open {level} alerts of 栾川县's groups"
    return found


def test_a_disposition_yellow_to_red_to_green_and_a_refusal(login, platform):
    alert, other = _open_alert(platform, "yellow")[:2]  # a suspected irregularity of 栾川县's groups
    page = login("yewu")
    page.click("header nav >> text=预警监控")
    page.select_option("select[name=level]", "yellow")
    page.select_option("select[name=rule_id]", alert["rule_id"])
    page.click("#alert-filters button[type=submit]")
    expect(page.locator(f"tr[data-alert='{alert['alert_id']}']")).to_contain_text("黄灯")
    shot(page, "alerts-inbox")
    page.click(f"text={alert['alert_id']}")
    expect(page.locator("#alert-id")).to_have_text(alert["alert_id"])
    expect(page.locator("#alert-level")).to_contain_text("黄灯")
    expect(page.locator("#timeline li").first).to_contain_text("触发预警")
    if alert["subject"].startswith("payment/"):  # the ledger chain behind it, up to the top document
        expect(page.locator("#chain .node.pay .id")).to_have_text(alert["subject"].split("/")[1])

    # rectifying a yellow light is refused, in the words of the state machine's rule
    page.select_option("#action", "rectify")
    page.check("input[value=recover]")
    page.fill("textarea[name=findings]", "追回资金")
    page.click("#disposition-form button[type=submit]")
    expect(page.locator("#refusal")).to_contain_text("黄灯预警不能“整改纠正”：只有红灯预警可整改为绿灯")
    expect(page.locator("#refusal")).to_contain_text("only a red")  # and the state machine's own words

    page.select_option("#action", "verify_violation")
    page.select_option("select[name=method]", "visit")
    page.fill("textarea[name=findings]", "走访核实：非建档立卡户")
    page.click("#disposition-form button[type=submit]")
    until_level(page, "红灯")
    expect(page.locator("#timeline")).to_contain_text("核实违规")
    expect(page.locator("#timeline")).to_contain_text("实地走访")

    page.select_option("#action", "rectify")
    page.check("input[value=recover]")
    page.check("input[value=notice]")
    page.fill("textarea[name=findings]", "已追回资金并通报")
    page.fill("input[name=amount_recovered]", "1,234.50")
    page.fill("textarea[name=attachments]", "oss://dispositions/处理单-001.pdf")
    page.click("#disposition-form button[type=submit]")
    until_level(page, "绿灯")
    expect(page.locator("#alert-status")).to_have_text("已办结")
    expect(page.locator("#timeline li").last).to_contain_text("纠正措施：收回资金、通报")
    expect(page.locator("#dispositions .ds-applied")).to_have_count(2)
    expect(page.locator("#dispositions")).to_contain_text("收回 ¥1,234.50")
    shot(page, "alert-rectified")
    detail = api(platform, "alerts", f"/v1/alerts/{alert['alert_id']}")
    assert [t["kind"] for t in detail["history"]][-2:] == ["verified_violation", "rectified"]
    assert detail["history"][-1]["actor"] == "yewu" and detail["history"][-1]["attachments"] == [
        "oss://dispositions/处理单-001.pdf"]
    assert [x["amount_recovered"] for x in detail["dispositions"]] == [None, "1234.50"]

    # the treasury group watches but does not file: no form, the reason said
    watcher = login("guoku")
    watcher.goto(f"{platform['url']}/alerts/{other['alert_id']}")
    expect(watcher.locator("#alert-id")).to_have_text(other["alert_id"])
    expect(watcher.locator("#disposition-form")).to_have_count(0)


def test_a_rule_change_by_an_administrator_and_its_refusal_for_a_county_user(login, platform):
    page = login("guize")
    page.click("header nav >> text=规则配置")
    page.click("#rules >> text=USE-04")
    expect(page.locator("h1")).to_contain_text("USE-04")
    page.select_option("select[name=scope]", "410000")
    page.fill("input[name='param.cash_limit']", "abc")
    page.click("#rule-form button[type=submit]")
    expect(page.locator("#refusal")).to_contain_text("cash_limit")
    page.fill("input[name='param.cash_limit']", "1500")
    page.check("input[name=shadow]")
    page.click("#rule-form button[type=submit]")
    expect(page.locator("#saved")).to_contain_text("配置已发布")
    for _ in range(40):  # the configuration reaches the alerts API's read model through the broker
        if page.locator("#history").inner_text().count("cash_limit=1500"):
            break
        page.wait_for_timeout(500)
        page.reload()
    expect(page.locator("#history tbody tr").first).to_contain_text("cash_limit=1500")
    expect(page.locator("#history tbody tr").first).to_contain_text("guize")
    shot(page, "rule-configured")

    county = login("xianguoku")
    county.goto(f"{platform['url']}/rules/USE-04")
    expect(county.locator(".warn")).to_contain_text("只有规则管理员")
    county.click("#rule-form button[type=submit]")
    expect(county.locator("#refusal")).to_contain_text("rule_admin")


def test_search_finds_the_payments_whose_purpose_names_the_words(login, platform):
    page = login("guoku")
    page.click("header nav >> text=智能搜索")
    page.fill("input[name=q]", "公益性岗位")
    page.click("form.search button")
    want = api(platform, "ledger", "/v1/payments", region="410000", q="公益性岗位", limit=1)["total"]
    assert want > 0
    expect(page.locator("#payment-total")).to_have_text(f"共 {want} 笔")
    expect(page.locator("#payments tbody tr").first).to_contain_text("公益性岗位")
    shot(page, "search")


def test_the_alert_list_downloads_as_excel_with_chinese_headers(login, platform):
    page = login("guoku")
    page.goto(f"{platform['url']}/alerts?level=red&status=open")
    total = int(page.locator("#alert-total").inner_text())
    with page.expect_download() as info:
        page.click(".exports >> text=Excel")
    assert info.value.suggested_filename.startswith("预警列表-") and info.value.suggested_filename.endswith(".xlsx")
    with open(info.value.path(), "rb") as fh:
        book = openpyxl.load_workbook(io.BytesIO(fh.read()), read_only=True)
    rows = list(book.active.iter_rows(values_only=True))
    assert rows[0][:3] == ("预警编号", "预警等级", "类别") and len(rows) == total + 1
    assert all(r[1] == "红灯" and r[9] == "未办结" for r in rows[1:])
    csv = httpx.get(f"{platform['url']}/regions?format=csv", cookies={c["name"]: c["value"] for c in
                                                                       page.context.cookies()}).content
    assert csv.startswith("\ufeff排名,地区".encode())


def test_api_docs_render_without_the_internet(platform, browser):
    page = browser.new_page()
    outside: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(("http://127.0.0.1", "data:", "blob:http://127.0.0.1")) else outside.append(r.url))
    page.goto(f"{platform['settings'].url('ledger')}/docs")
    expect(page.get_by_role("heading", level=2).first).to_contain_text("fundwatch ledger", timeout=30000)
    page.goto(f"{platform['settings'].url('alerts')}/redoc")
    expect(page.locator("h1").first).to_contain_text("fundwatch alerts", timeout=30000)
    assert outside == []
    page.close()


def until_level(page, text: str, timeout_s: float = 180) -> None:
    """The alert page shows level `text`: the disposition goes through the broker to the worker and
    back to the alert read model, and the page may reload between the two (the disposition decided,
    the alert not stored yet), so look again until it shows — what is asserted is the end state."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            expect(page.locator("#alert-level")).to_contain_text(text, timeout=10000)
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            page.reload()
