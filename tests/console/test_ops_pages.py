"""实时监控 and 数据导入 in a real browser against a real platform: the rates are non-zero while
events flow and the totals are what ingest's API says; a bad record on a Kafka intake topic shows
as a dead letter with its reason and is replayed (fixed) from the page; a template is downloaded,
filled, uploaded and imported, its second upload is refused, and a file with one bad cell names
the row and column and imports nothing."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openpyxl
import pytest
from aiokafka import AIOKafkaProducer
from playwright.sync_api import expect

from contracts.topics import Family, intake_topic
from services.ingest.streams_api import FRESH_S
from services.runtime.auth import Role
from tests.alerts.test_integration import headers
from tests.clients import api_key
from tests.console.conftest import shot

pytestmark = pytest.mark.integration


def streams(platform, region: str = "410000") -> dict:
    r = httpx.get(f"{platform['settings'].url('ingest')}/v1/streams", headers=headers(platform["settings"], region),
                  timeout=60)
    r.raise_for_status()
    return r.json()


def until(check, timeout_s: float, what: str, page=None):
    """Poll `check` until it returns something truthy (the machine is loaded: end states, not times)."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            if page is not None:
                shot(page, "ops-failed")
            raise AssertionError(f"not within {timeout_s:.0f} s: {what}")
        if page is not None:
            page.wait_for_timeout(1000)
        else:
            time.sleep(1)


def off_loop(fn, *args, **kwargs):
    """Run `fn` (which calls asyncio.run) in a thread: Playwright's loop runs in this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args, **kwargs).result()


def number(text: str) -> float | None:
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


def test_the_monitor_shows_rates_lag_and_the_latest_events(login, platform):
    settings = platform["settings"]
    client = f"monitor-{uuid.uuid4().hex[:6]}"
    key = off_loop(api_key, settings, scope="410000", client_id=client)  # the province: guoku sees its clients
    reference = [e for e in platform["dataset"].events if e["type"] in ("project.registered", "region.registered")
                 and e["region"].startswith("41")][:300]
    assert len(reference) >= 50
    page = login("guoku")
    page.click("header nav >> text=实时监控")
    expect(page.locator("h1")).to_have_text("实时监控")

    stop = threading.Event()

    def send() -> None:  # the demo's reference events again (consumers are idempotent by id), a batch a second
        i = 0
        while not stop.is_set():
            batch = [reference[(i + k) % len(reference)] for k in range(10)]
            i += 10
            httpx.post(f"{settings.url('ingest')}/v1/events/batch", json=batch,
                       headers={"Authorization": f"Bearer {key}"}, timeout=60).raise_for_status()
            stop.wait(0.5)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        row = page.locator(f"#sources tr[data-source='{client}|reference']")
        until(lambda: row.count() and (number(row.locator(".rate").inner_text()) or 0) > 0, 120,
              "a non-zero rate for the client", page)
        topic = settings.topic(Family.reference)
        until(lambda: (number(page.locator(f"#topics tr[data-topic='{topic}'] .rate").inner_text()) or 0) > 0, 60,
              "a non-zero rate on the reference topic", page)
        shot(page, "monitor-flowing")
    finally:
        stop.set()
        sender.join(60)

    # the flow stopped (every batch acknowledged): the page's totals come to what ingest's API says,
    # once its broker reading (shared by the watchers for FRESH_S) is one taken after the flow
    time.sleep(FRESH_S + 0.5)
    want = streams(platform)
    mine = next(s for s in want["sources"] if s["client_id"] == client and s["family"] == "reference")
    assert mine["events"] % 10 == 0 and mine["events"] >= 10
    expect(row.locator(".total")).to_have_text(f"{mine['events']:,}", timeout=30000)
    records = next(t["records"] for t in want["topics"] if t["topic"] == topic)
    expect(page.locator(f"#topics tr[data-topic='{topic}'] .total")).to_have_text(f"{records:,}", timeout=30000)
    # once the rate window has passed the flow, the rate is 0 again
    expect(row.locator(".rate")).to_have_text("0.0", timeout=90000)
    # the API's newest event is among the page's latest, by id, type and client (arrivals of the same
    # millisecond on different partitions may be listed in either order)
    newest = want["latest"][0]
    shown = page.locator(f"#latest tr[data-event='{newest['id']}']")
    expect(shown).to_have_count(1, timeout=30000)
    expect(shown).to_contain_text(newest["type"])
    expect(shown).to_contain_text(client)
    # the consumers work off what came: the ledger's and the alerts router's lag come to 0
    for service in ("ledger", "alerts", "alerts-router", "alerts-agent"):
        expect(page.locator(f"#lags tr[data-service='{service}'] .lag")).to_have_text("0", timeout=180000)
    expect(page.locator("#lags tr[data-service='notify']")).to_contain_text("未运行")  # no notify in this platform
    expect(page.locator("#dl-error")).to_contain_text("this needs the role sysadmin")  # the treasury sees no dead letters
    shot(page, "monitor")


def _produce(settings, topic: str, event: dict, key: str) -> None:
    async def go() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(topic, json.dumps(event, ensure_ascii=False).encode(),
                                         key=event["region"][:6].encode(),
                                         headers=[("content-type", b"application/cloudevents+json"),
                                                  ("authorization", f"Bearer {key}".encode())])
        finally:
            await producer.stop()

    asyncio.run(go())


def _indicator(indicator_id: str, amount) -> dict:
    return {"specversion": "1.0", "id": f"ev-{indicator_id}", "source": "/budget-execution/410324",
            "type": "indicator.registered", "time": "2026-03-02T10:00:00+08:00", "region": "410324",
            "data": {"indicator_id": indicator_id, "fund_code": "C22", "amount": amount, "budget_year": 2026,
                     "doc_no": "栾财农〔2026〕91号", "doc_date": "2026-02-01", "functional_class": "21305",
                     "registered_on": "2026-02-02"}}


def _indicator_status(platform, indicator_id: str) -> int:
    return httpx.get(f"{platform['settings'].url('ledger')}/v1/indicators/{indicator_id}",
                     headers=headers(platform["settings"], "410000"), timeout=30).status_code


def test_a_bad_kafka_record_is_a_dead_letter_with_its_reason_and_is_replayed_fixed(login, platform):
    settings = platform["settings"]
    key = off_loop(api_key, settings, scope="410324", client_id=f"kafka-{uuid.uuid4().hex[:6]}")
    indicator_id = f"DL-{uuid.uuid4().hex[:8]}"
    bad = _indicator(indicator_id, 10.5)  # amounts are strings: refused
    off_loop(_produce, settings, intake_topic(Family.indicator, settings.topic_prefix), bad, key)
    admin = headers(settings, "000000", roles=(Role.sysadmin,))

    def letter():
        items = httpx.get(f"{settings.url('ingest')}/v1/deadletters", params={"replayed": "false", "limit": 500},
                          headers=admin, timeout=30).json()["items"]
        return next((d for d in items if indicator_id in d["value"]), None)

    found = until(letter, 120, "the dead letter of the bad record")
    assert found["consumer"] == "ingest intake" and "amount" in found["reason"]

    page = login("admin")
    page.goto(f"{platform['url']}/monitor?consumer=ingest+intake")
    row = page.locator(f"#dl-table tr[data-letter='{found['letter_id']}']")
    expect(row.locator(".reason")).to_have_text(found["reason"])
    expect(row).to_contain_text("Kafka 接入（ingest intake）")
    expect(row.locator(".state")).to_have_text("未重放")
    # the stored copy is still refused: in the API's words
    row.locator("summary").click()
    row.locator("button[type=submit]").click()
    row = page.locator(f"#dl-table tr[data-letter='{found['letter_id']}']")
    expect(row.locator(".refusal")).to_contain_text("重放未被接受（422）")
    expect(row.locator(".refusal")).to_contain_text("amount")
    shot(page, "monitor-deadletter-refused")
    # a fixed copy goes through
    row.locator("input[value=fixed]").check()
    row.locator("textarea").fill(json.dumps(_indicator(indicator_id, "10.50"), ensure_ascii=False))
    row.locator("button[type=submit]").click()
    expect(page.locator("#replayed")).to_contain_text(f"ev-{indicator_id}")
    expect(page.locator(f"#dl-table tr[data-letter='{found['letter_id']}'] .state")).to_contain_text("已重放")
    shot(page, "monitor-deadletter-replayed")
    until(lambda: _indicator_status(platform, indicator_id) == 200, 120, "the replayed indicator in the ledger")


def _filled(template: Path, rows: list[dict[str, str]], out: Path) -> Path:
    book = openpyxl.load_workbook(template)
    sheet = book.active
    header = [c.value for c in sheet[1]]
    for values in rows:
        sheet.append([values.get(h, "") for h in header])
    book.save(out)
    return out


def _row(indicator_id: str, amount: str = "50000.00") -> dict[str, str]:
    return {"区划代码": "410324", "指标编号": indicator_id, "资金代码": "C22", "金额": amount, "预算年度": "2026",
            "文号": f"栾财农〔2026〕{indicator_id[-3:]}号", "发文日期": "2026-02-01", "功能分类": "21305",
            "提前下达": "否", "登记日期": "2026-02-02"}


def upload(page, template_title: str, path: Path) -> None:
    page.select_option("select[name=template]", label=template_title)
    page.set_input_files("input[name=file]", str(path))
    page.click("#upload-form button[type=submit]")
    page.wait_for_load_state("networkidle")


def test_a_template_is_downloaded_filled_and_imported_and_a_bad_cell_imports_nothing(login, platform, tmp_path):
    page = login("guoku")
    page.click("header nav >> text=数据导入")
    expect(page.locator("h1")).to_have_text("数据导入")
    titles = ["上级指标文件", "指标登记", "指标分配", "支付明细", "贫困人员明细", "贫困人口登记", "项目库"]
    expect(page.locator("#templates tbody tr td:first-child")).to_have_text(titles)
    with page.expect_download() as info:
        page.click("#templates tr[data-template='indicator-registered'] >> text=Excel 模板")
    assert info.value.suggested_filename == "指标登记-导入模板.xlsx"
    template = tmp_path / "template.xlsx"
    info.value.save_as(template)
    with page.expect_download() as csv_info:
        page.click("#templates tr[data-template='projects'] >> text=CSV 模板")
    assert Path(csv_info.value.path()).read_bytes().decode("utf-8-sig").startswith("区划代码,事件编号,发生时间,项目编码")

    good_id, other_id = f"IMP-{uuid.uuid4().hex[:6]}", f"IMP-{uuid.uuid4().hex[:6]}"
    good = _filled(template, [_row(good_id)], tmp_path / "指标.xlsx")
    upload(page, "指标登记", good)
    expect(page.locator("#result")).to_have_attribute("data-status", "202")
    expect(page.locator("#rows")).to_have_text("1")
    shot(page, "imports-done")
    until(lambda: _indicator_status(platform, good_id) == 200, 120, "the imported indicator in the ledger")
    detail = httpx.get(f"{platform['settings'].url('ledger')}/v1/indicators/{good_id}",
                       headers=headers(platform["settings"], "410000"), timeout=30).json()
    assert detail["indicator"]["indicator_id"] == good_id

    upload(page, "指标登记", good)  # the same file again
    expect(page.locator("#result")).to_have_attribute("data-status", "409")
    expect(page.locator("#result")).to_contain_text("该文件已导入过")
    expect(page.locator("#result")).to_contain_text("nothing imported again")

    bad = _filled(template, [_row(other_id), _row(f"{other_id}X", amount="五万元")], tmp_path / "错误.xlsx")
    upload(page, "指标登记", bad)
    expect(page.locator("#result")).to_have_attribute("data-status", "422")
    message = page.locator("#errors td.message")
    expect(message).to_have_count(1)
    expect(message).to_contain_text('第 3 行 "金额"列')
    # the page shows the API's own words for the same file
    said = httpx.post(f"{platform['settings'].url('ingest')}/v1/imports/indicator-registered", content=bad.read_bytes(),
                      headers={**headers(platform["settings"], "410000"),
                               "Content-Type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
                      timeout=60)
    assert said.status_code == 422
    expect(message).to_have_text(said.json()["errors"][0]["message"])
    shot(page, "imports-error")
    # nothing of it was imported: a later file's row of the same county (same partition) arrives, its good row not
    marker = f"IMP-{uuid.uuid4().hex[:6]}"
    upload(page, "指标登记", _filled(template, [_row(marker)], tmp_path / "标记.xlsx"))
    expect(page.locator("#result")).to_have_attribute("data-status", "202")
    until(lambda: _indicator_status(platform, marker) == 200, 120, "the marker indicator in the ledger")
    assert _indicator_status(platform, other_id) == 404

    # an auditor may not import: refused in the API's words
    auditor = login("shenji")
    auditor.goto(f"{platform['url']}/imports")
    upload(auditor, "指标登记", _filled(template, [_row(f"IMP-{uuid.uuid4().hex[:6]}")], tmp_path / "审计.xlsx"))
    expect(auditor.locator("#result")).to_have_attribute("data-status", "403")
    expect(auditor.locator("#result")).to_contain_text("this needs the role treasury or member")

