"""The console's map, Sankey and 用户与权限 pages in a real browser against a real platform: the
counties coloured by the ledger's progress and the alerts' counts, a click on the map drilling
down, a traced payment's central document drawn with its number and amount, and the art. 22
procedure applied → confirmed → granted by three people, with refusals in the access API's words."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from services.console import geo, text
from tests.console.conftest import api, shot

pytestmark = pytest.mark.integration

SERIES = "echarts.getInstanceByDom(document.getElementById('region-map')).getOption().series[0].data"


def drawn_values(page) -> dict[str, float]:
    """Code → value of the map's series (ECharts lists the map's other regions without one)."""
    return {d["name"]: d["value"] for d in page.evaluate(SERIES) if d.get("value") is not None}


def _inside(point: tuple[float, float], ring: list[list[float]]) -> bool:
    x, y = point
    hit = False
    for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1], strict=True):
        if (y1 > y) != (y2 > y) and x < (x2 - x1) * (y - y1) / (y2 - y1) + x1:
            hit = not hit
    return hit


def interior_point(region_map: str, code: str) -> tuple[float, float]:
    """A point well inside the region's largest polygon (grid search: centroids can fall outside)."""
    features = json.loads((geo.GEO_DIR / f"{region_map}.json").read_text(encoding="utf-8"))["features"]
    g = next(f["geometry"] for f in features if f["properties"]["adcode"] == code)
    polygons = [g["coordinates"]] if g["type"] == "Polygon" else g["coordinates"]
    ring = max((p[0] for p in polygons), key=len)
    xs, ys = [p[0] for p in ring], [p[1] for p in ring]
    best, depth = None, -1.0
    for i in range(1, 20):
        for j in range(1, 20):
            pt = (min(xs) + (max(xs) - min(xs)) * i / 20, min(ys) + (max(ys) - min(ys)) * j / 20)
            if _inside(pt, ring):
                d = min((pt[0] - x) ** 2 + (pt[1] - y) ** 2 for x, y in ring)
                if d > depth:
                    best, depth = pt, d
    assert best is not None, f"no interior point for {code}"
    return best


def _item_colours(page) -> dict[str, str]:
    return page.evaluate("""() => {
      const chart = echarts.getInstanceByDom(document.getElementById('region-map'));
      const data = chart.getModel().getSeriesByIndex(0).getData();
      const out = {};
      for (let i = 0; i < data.count(); i++) {
        const v = data.getItemVisual(i, 'style');
        out[data.getName(i)] = v && v.fill;
      }
      return out;
    }""")


def test_the_region_map_colours_the_counties_and_a_click_drills_down(login, platform):
    page = login("guoku")
    page.goto(f"{platform['url']}/regions")
    expect(page.locator("#region-map[data-ready='1']")).to_be_visible(timeout=30_000)
    cities = api(platform, "ledger", "/v1/regions/tree", region="410000")["children"]["items"]
    drawn = drawn_values(page)
    assert drawn == {c["code"]: float(text.percent(c["progress"]).rstrip("%")) for c in cities}
    shot(page, "regions-map-province")

    # 洛阳市's counties: the ledger's progress, then the open alerts, as the map's values and colours
    page.goto(f"{platform['url']}/regions?region=410300")
    expect(page.locator("#region-map[data-ready='1']")).to_be_visible(timeout=30_000)
    counties = api(platform, "ledger", "/v1/regions/tree", region="410300")["children"]["items"]
    assert {c["code"] for c in counties} == {"410324", "410325", "410326"}
    drawn = drawn_values(page)
    assert drawn == {c["code"]: float(text.percent(c["progress"]).rstrip("%")) for c in counties}
    colours = _item_colours(page)
    assert all(colours[c["code"]] for c in counties)
    by_progress = sorted(counties, key=lambda c: float(c["progress"]))
    if by_progress[0]["progress"] != by_progress[-1]["progress"]:
        assert colours[by_progress[0]["code"]] != colours[by_progress[-1]["code"]]
    assert colours["410322"] != colours["410324"]  # 孟津: no data, the grey of the map, not the scale's
    expect(page.locator("#map-missing")).to_have_count(0)  # every county of the demo has a boundary
    shot(page, "regions-map-city-progress")

    page.click("#map-mode >> text=按未办结预警")
    expect(page.locator("#region-map[data-mode='alerts']")).to_be_visible()
    summary = api(platform, "alerts", "/v1/alert-summary", region="410300")
    open_by = {}
    for r in summary["regions"]:
        open_by[r["region"]] = open_by.get(r["region"], 0) + r["open"]
    drawn = drawn_values(page)
    assert drawn == {c["code"]: open_by.get(c["code"], 0) for c in counties}
    assert sum(drawn.values()) > 0
    shot(page, "regions-map-city-alerts")

    # a click on 栾川县 drills down as the table's link does
    lng, lat = interior_point("410300", "410324")
    x, y = page.evaluate("([p]) => echarts.getInstanceByDom(document.getElementById('region-map'))"
                         ".convertToPixel({seriesIndex: 0}, p)", [[lng, lat]])
    box = page.locator("#region-map").bounding_box()
    page.mouse.click(box["x"] + x, box["y"] + y)
    expect(page).to_have_url(re.compile(r"/regions\?region=410324"))
    expect(page.locator("h1")).to_have_text("地区 · 栾川县")
    # townships have no boundaries: the page says so and the table still drills down
    expect(page.locator("#map-missing")).to_contain_text("没有地图边界")
    expect(page.locator("#region-table tbody tr").first).to_contain_text("镇")
    shot(page, "regions-county-no-map")

    # 周口市: 淮阳区 (411603, a county until 2019) is drawn under today's code
    page.goto(f"{platform['url']}/regions?region=411600")
    expect(page.locator("#region-map[data-ready='1']")).to_be_visible(timeout=30_000)
    assert "411603" in drawn_values(page)


def test_the_sankey_draws_a_payment_up_to_the_central_document(login, platform):
    page = login("guoku")
    # a payment of 栾川县 whose money came down from the Ministry (others start at the province)
    for pay in api(platform, "ledger", "/v1/payments", region="410324", status="counted", limit=100)["items"]:
        trace = api(platform, "ledger", f"/v1/payments/{pay['payment_id']}/trace")
        top = trace["top_document"]
        if top and top["region"] == "000000":
            break
    else:
        pytest.fail("no payment of 栾川县 traced to a central document")
    page.goto(f"{platform['url']}/trace/payment/{pay['payment_id']}")
    expect(page.locator("#sankey[data-ready='1']")).to_be_visible(timeout=30_000)
    sankey = page.locator("#sankey svg")
    expect(sankey).to_contain_text(top["doc_no"])
    expect(sankey).to_contain_text(text.money(top["amount"]))
    expect(sankey).to_contain_text(text.money(pay["amount"]))
    expect(sankey).to_contain_text("最上级文件")
    option = page.evaluate("echarts.getInstanceByDom(document.getElementById('sankey')).getOption().series[0]")
    levels = [c for c in trace["chain"] if c["kind"] == "indicator"]  # the transfers are drawn on the links
    assert len(option["data"]) == len(levels) + 1 and len(option["links"]) == len(levels)
    transfers = [c["doc_no"] for c in trace["chain"] if c["kind"] == "transfer"]
    for doc_no in transfers:
        expect(sankey).to_contain_text(doc_no)
    # the chain boxes stay beside it
    expect(page.locator("#chain .docno")).to_have_count(len(trace["chain"]))
    shot(page, "trace-sankey-payment")

    # the paying indicator traced down: its payees in the drawing
    detail = api(platform, "ledger", f"/v1/indicators/{pay['indicator_id']}", payments_limit=100)
    page.goto(f"{platform['url']}/trace/indicator/{pay['indicator_id']}")
    expect(page.locator("#sankey[data-ready='1']")).to_be_visible(timeout=30_000)
    expect(page.locator("#sankey svg")).to_contain_text(pay["payee_name"])
    expect(page.locator("#sankey svg")).to_contain_text(top["doc_no"])
    assert detail["payments"]["total"] >= 1
    shot(page, "trace-sankey-indicator")


def _apply(page, username: str, *, display_name: str, region: str, roles: list[str], groups: str = "",
           unit: str = "栾川县财政局农业股") -> None:
    form = page.locator("#apply-form")
    form.locator("select[name=kind]").select_option("open")
    form.locator("input[name=username]").fill(username)
    form.locator("input[name=unit]").fill(unit)
    form.locator("input[name=display_name]").fill(display_name)
    form.locator("select[name=region]").select_option(region)
    for r in roles:
        form.locator(f"input[name=roles][value={r}]").check()
    form.locator("input[name=groups_text]").fill(groups)
    form.locator("textarea[name=reason]").fill("新增农业股经办人员")
    form.locator("button[type=submit]").click()
    page.wait_for_load_state("networkidle")


def test_the_permission_procedure_across_three_logins_and_its_refusals(login, platform, browser):
    # 1. 业务组 (栾川县) applies for a new member of its agriculture group
    yewu = login("yewu")
    yewu.click("header nav >> text=用户与权限")
    expect(yewu.locator("h1")).to_have_text("用户与权限")
    expect(yewu.locator("#users-refused")).to_contain_text("this needs the role")  # users: sysadmin and auditors
    _apply(yewu, "nongye2", display_name="栾川县农业股经办人", region="410324", roles=["member"])
    expect(yewu.locator("#users-error")).to_contain_text("申请未被接受（422）")
    expect(yewu.locator("#users-error")).to_contain_text("name its groups")  # the API's words
    _apply(yewu, "nongye2", display_name="栾川县农业股经办人", region="410324", roles=["member"], groups="agri-410324")
    expect(yewu.locator("#users-done")).to_contain_text("已提交申请")
    row = yewu.locator("#applications tr[data-user=nongye2]")
    expect(row.locator(".status")).to_have_text("已申请，待国库组确认")
    expect(row.locator("button")).to_have_count(0)  # a member takes no step
    shot(yewu, "users-applied")

    _apply(yewu, "jiaoyu2", display_name="栾川县教育股经办人", region="410324", roles=["member"], groups="edu-410324")

    # 2. 国库组 rejects one (saying why: without a reason the API refuses) and confirms the other …
    guoku = login("guoku")
    guoku.goto(f"{platform['url']}/users?status=applied")
    guoku.locator("#applications tr[data-user=jiaoyu2] button[data-step=reject]").click()
    guoku.wait_for_load_state("networkidle")
    expect(guoku.locator("#users-error")).to_contain_text("退回未被接受（422）")
    expect(guoku.locator("#users-error")).to_contain_text("a rejection says why")
    guoku.locator("#applications tr[data-user=jiaoyu2] input[name=note]").fill("缺少股室负责人签字")
    guoku.locator("#applications tr[data-user=jiaoyu2] button[data-step=reject]").click()
    guoku.wait_for_load_state("networkidle")
    expect(guoku.locator("#applications tr[data-user=jiaoyu2] .status")).to_contain_text("已退回")
    expect(guoku.locator("#applications tr[data-user=jiaoyu2] .status")).to_contain_text("缺少股室负责人签字")
    guoku.goto(f"{platform['url']}/users?status=applied")
    row = guoku.locator("#applications tr[data-user=nongye2]")
    row.locator("button[data-step=confirm]").click()
    guoku.wait_for_load_state("networkidle")
    expect(guoku.locator("#users-done")).to_contain_text("已确认")
    expect(guoku.locator("#applications tr[data-user=nongye2] .status")).to_have_text("国库组已确认，待系统管理员开通")

    # … and a treasury operator who applied cannot confirm it as well (four eyes), in the API's words
    _apply(guoku, "zhouguoku", display_name="周口市国库科", region="411600", roles=["treasury"], unit="周口市财政局")
    expect(guoku.locator("#users-done")).to_contain_text("已提交申请")
    guoku.locator("#applications tr[data-user=zhouguoku] button[data-step=confirm]").click()
    guoku.wait_for_load_state("networkidle")
    expect(guoku.locator("#users-error")).to_contain_text("确认未被接受（403）")
    expect(guoku.locator("#users-error")).to_contain_text("applying, confirming and granting are done by different people")
    shot(guoku, "users-refused-four-eyes")

    # 3. the system administrator grants it: the one-time password, once
    admin = login("admin")
    admin.goto(f"{platform['url']}/users?status=confirmed")
    expect(admin.locator("#users tr[data-user=yewu]")).to_be_visible()  # the administrator lists users
    admin.locator("#applications tr[data-user=nongye2] button[data-step=grant]").click()
    admin.wait_for_load_state("networkidle")
    expect(admin.locator("#granted")).to_contain_text("nongye2")
    password = admin.locator("#initial-password").inner_text()
    assert len(password) >= 12
    expect(admin.locator("#applications tr[data-user=nongye2] .status")).to_have_text("已办结")
    expect(admin.locator("#users tr[data-user=nongye2]")).to_contain_text("业务组/主管科室")
    shot(admin, "users-granted")
    # the administrator takes no step on what the treasury group has not confirmed
    admin.goto(f"{platform['url']}/users?status=applied")
    expect(admin.locator("#applications tr[data-user=zhouguoku] button")).to_have_count(0)

    # the new user signs in with it and sees 栾川县
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai")
    try:
        page = context.new_page()
        page.goto(f"{platform['url']}/login")
        page.fill("input[name=username]", "nongye2")
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        expect(page.locator("h1")).to_contain_text("栾川县")
        expect(page.locator("header .roles")).to_have_text("业务组/主管科室")
    finally:
        context.close()
