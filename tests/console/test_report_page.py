"""The 月度报告 page against a real notify process beside the console platform: the treasury group
makes the overall report of a month and downloads it as Excel and PDF; the workbook and the PDF
carry the numbers notify's API gives for that report; a 业务组 member is offered only their own
groups and makes their group's report."""

from __future__ import annotations

import io

import httpx
import openpyxl
from playwright.sync_api import expect
from pypdf import PdfReader

from services.runtime.db import migrate
from tests.alerts.test_integration import headers
from tests.console.conftest import shot
from tests.console.test_routing_page import _in_thread
from tests.platform import ServiceProcess

MONTH = "2026-03"


def _download(page, selector: str) -> tuple[str, bytes]:
    with page.expect_download() as info:
        page.click(selector)
    download = info.value
    with open(download.path(), "rb") as fh:
        return download.suggested_filename, fh.read()


def test_the_monthly_report_is_made_and_downloaded_from_the_console(login, platform, tmp_path) -> None:
    # notify on a store of its own: reports read the ledger and alerts APIs; the shared store's notify
    # positions stay untouched for the routing page's test, which wants the demo's transitions delivered
    settings = platform["settings"].model_copy(update={"database_url": f"sqlite+aiosqlite:///{tmp_path / 'notify.db'}"})
    _in_thread(lambda: migrate(settings.database_url, "notify"))
    notify = ServiceProcess("notify", settings, tmp_path).start()
    try:
        notify.wait_healthy()
        page = login("guoku")
        page.goto(f"{platform['url']}/reports")
        form = page.locator("#report-form")
        form.locator("select[name=month]").select_option(MONTH)
        form.locator("select[name=region]").select_option("410000")
        form.locator("select[name=group_code]").select_option("")  # the treasury group's overall report
        form.locator("button[type=submit]").click()
        expect(page.locator("#saved")).to_contain_text("已生成报告")
        report_id = page.locator("#saved").inner_text().split("已生成报告 ")[1].split("，")[0]
        row = page.locator(f"tr[data-report='{report_id}']")
        expect(row).to_contain_text("2026-03")
        expect(row).to_contain_text("国库组总报告")
        shot(page, "reports-guoku")

        numbers = httpx.get(f"{settings.url('notify')}/v1/reports/{report_id}", headers=headers(settings, "410000"),
                            timeout=30).json()
        assert numbers["month"] == MONTH and numbers["region"] == "410000"

        name, data = _download(page, f"tr[data-report='{report_id}'] a.xlsx")
        assert name == "月度监控情况报告-2026-03-河南省-国库组总报告.xlsx"
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
        cells = [str(c) for sheet in book.worksheets for r in sheet.iter_rows(values_only=True) for c in r
                 if c is not None]
        assert str(numbers["raised"]["total"]) in cells

        name, data = _download(page, f"tr[data-report='{report_id}'] a.pdf")
        assert name.endswith(".pdf") and data.startswith(b"%PDF")
        text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)
        assert "2026" in text and str(numbers["raised"]["total"]) in text

        member = login("yewu")
        member.goto(f"{platform['url']}/reports")
        options = member.locator("#report-form select[name=group_code] option")
        offered = {o.get_attribute("value") for o in options.all()}
        assert offered and "" not in offered and all(g.endswith("-410324") for g in offered)
        member.locator("#report-form select[name=month]").select_option(MONTH)
        member.locator("#report-form select[name=region]").select_option("410324")
        member.locator("#report-form button[type=submit]").click()
        expect(member.locator("#saved")).to_contain_text("已生成报告")
        # the member sees their group's report, not the treasury group's overall one
        expect(member.locator(f"tr[data-report='{report_id}']")).to_have_count(0)
    finally:
        notify.stop()
