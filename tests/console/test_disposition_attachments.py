"""The alert page in a real browser: the finding shown in Chinese (no English left), a disposition
(处理单) filed with an attached PDF, the page waiting for the decided level, the PDF downloaded back
byte for byte, and an unaccepted file refused naming it."""

from __future__ import annotations

import hashlib
import re

import pytest
from playwright.sync_api import expect

from tests.console.conftest import api, shot
from tests.console.test_console import _open_alert, until_level

pytestmark = pytest.mark.integration

PDF = (b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [] /Count 0 >>"
       b" endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")
ENGLISH_WORD = re.compile(r"\b[a-z]{3,}\b")


def test_a_disposition_with_an_attached_pdf_downloaded_back(login, platform, tmp_path):
    alert = _open_alert(platform, "yellow")[-1]  # test_console files on the first ones
    page = login("yewu")
    page.goto(f"{platform['url']}/alerts/{alert['alert_id']}")
    expect(page.locator("#alert-level")).to_contain_text("黄灯")
    finding = page.locator("#findings").inner_text()
    assert finding == alert["findings_zh"] and re.search(r"[\u4e00-\u9fff]", finding)
    assert ENGLISH_WORD.findall(finding) == [], finding
    assert ENGLISH_WORD.findall(page.locator("#timeline li").first.inner_text()) == []
    if re.search(r"\d\.\d{2} yuan", alert["findings"]):
        assert "¥" in finding
    evidence = page.locator("#evidence tbody").inner_text()  # field names in Chinese, not the events' keys
    assert "payment_id" not in evidence and "payment.made" not in evidence and "支付单号" in evidence

    # a file the platform does not keep: refused in the page, naming the file, nothing filed
    exe = tmp_path / "工具.exe"
    exe.write_bytes(b"MZ\x90\x00\x03")
    page.select_option("#action", "verify_violation")
    page.select_option("select[name=method]", "documents")
    page.fill("textarea[name=findings]", "调阅材料核实：情况属实")
    page.set_input_files("#files", str(exe))
    page.click("#disposition-form button[type=submit]")
    expect(page.locator("#refusal")).to_contain_text("工具.exe")
    expect(page.locator("#refusal")).to_contain_text("415")

    pdf = tmp_path / "处理单-核实.pdf"
    pdf.write_bytes(PDF)
    page.select_option("#action", "verify_violation")
    page.select_option("select[name=method]", "documents")
    page.fill("textarea[name=findings]", "调阅材料核实：情况属实")
    page.set_input_files("#files", str(pdf))
    expect(page.locator("#file-names")).to_have_text("已选择：处理单-核实.pdf")
    page.click("#disposition-form button[type=submit]")
    until_level(page, "红灯")
    link = page.locator("#attachments a", has_text="处理单-核实.pdf")
    expect(link).to_have_count(1)
    expect(page.locator("#attachments")).to_contain_text(hashlib.sha256(PDF).hexdigest()[:12])
    expect(page.locator("#timeline li").last).to_contain_text("附件：处理单-核实.pdf")
    shot(page, "alert-with-attachment")

    with page.expect_download() as info:
        link.click()
    assert info.value.suggested_filename == "处理单-核实.pdf"
    with open(info.value.path(), "rb") as fh:
        assert fh.read() == PDF

    detail = api(platform, "alerts", f"/v1/alerts/{alert['alert_id']}")
    (kept,) = detail["attachments"]
    assert kept["disposition_id"] == detail["history"][-1]["disposition_id"]
    assert detail["history"][-1]["attachments"] == [kept["attachment_id"]]
    assert kept["sha256"] == hashlib.sha256(PDF).hexdigest() and kept["uploaded_by"] == "yewu"

    # the inbox shows the finding in Chinese under the rule's title
    page.goto(f"{platform['url']}/alerts?level=red&rule_id={alert['rule_id']}")
    row = page.locator(f"tr[data-alert='{alert['alert_id']}'] .finding")
    expect(row).to_contain_text(alert["findings_zh"][:20])
