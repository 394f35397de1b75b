"""Findings in Chinese (issue 11 §3): every rule writes one beside its English, in the seeds' terms,
with money as ¥1,234.50, and the numbers of the English text in it."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest

from services import demo
from services.alerts import deadlines, zh
from services.alerts.catalogue import CATALOGUE
from tests.alerts.harness import demo_run

CJK = re.compile(r"[\u4e00-\u9fff]")
ENGLISH_WORD = re.compile(r"\b[a-z]{3,}\b")  # ids are upper case and digits; a lower-case word is English
AMOUNT = re.compile(r"(-?\d+\.\d{2}) yuan")
DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
RULE_KINDS = ("raised", "escalated", "cleared")


def test_money_is_written_as_bureaus_read_it():
    assert zh.fen(123450) == "¥1,234.50"
    assert zh.fen(-5) == "-¥0.05"
    assert zh.fen(100000000000) == "¥1,000,000,000.00"
    assert zh.yuan(Decimal("396148.66")) == "¥396,148.66"
    assert zh.yuan("50000") == "¥50,000.00"
    assert zh.yuan(Decimal("-12.3")) == "-¥12.30"
    assert zh.pct(Decimal("0.178")) == "17.8%"


def test_a_deadline_item_speaks_chinese_at_every_step():
    start = dt.date(2026, 3, 2)
    due, bell = deadlines.working_deadline(start, 5, 2)
    item = deadlines.open_item("IND-01", "transfer/T1", "410324", "indicator", start, due, bell, "transfer T1",
                               text_zh="转移支付指标 T1 应在 5 个工作日内登记接收")
    rung, (bell_f,) = deadlines.tick(item, dt.datetime.combine(bell, dt.time(9), dt.UTC))
    assert bell_f.findings_zh == f"转移支付指标 T1 应在 5 个工作日内登记接收：办理期限 {due}，尚未办理"
    _, (clear,) = deadlines.complete(rung, due)
    assert clear.findings_zh.endswith(f"已于 {due} 按时办理（期限 {due}）")
    _, (late,) = deadlines.complete(item, due + dt.timedelta(days=3))
    assert late.findings_zh.endswith(f"办理期限 {due}，逾期至 {due + dt.timedelta(days=3)} 才办理")
    _, (missed,) = deadlines.tick(item, dt.datetime.combine(due + dt.timedelta(days=1), dt.time(9), dt.UTC))
    assert missed.findings_zh.endswith(f"办理期限 {due} 已过，仍未办理")


@pytest.fixture(scope="module")
def demo_transitions(tmp_path_factory):
    dataset = demo.generate(size=600)
    h = demo_run(dataset.events, db_path=str(tmp_path_factory.mktemp("zh") / "ledger.db"))
    return [t for t in h.transitions if t.kind.value in RULE_KINDS]


@pytest.mark.store  # the demo through the real ledger on SQLite
def test_every_rule_of_the_demo_writes_its_finding_in_chinese(demo_transitions):
    rules = {t.rule_id for t in demo_transitions}
    assert rules == set(CATALOGUE), "the demo injects a case of every rule"
    problems = []
    for t in demo_transitions:
        text = t.findings_zh
        if not CJK.search(text) or ENGLISH_WORD.search(text):
            problems.append(f"{t.rule_id}: not Chinese: {text!r}")
            continue
        for amount in AMOUNT.findall(t.findings):
            if zh.yuan(Decimal(amount)) not in text:
                problems.append(f"{t.rule_id}: {amount} yuan of {t.findings!r} missing from {text!r}")
        for day in DATE.findall(t.findings):
            if day not in text:
                problems.append(f"{t.rule_id}: {day} of {t.findings!r} missing from {text!r}")
    assert problems == []


@pytest.mark.store
def test_chinese_findings_name_things_in_the_seeds_terms(demo_transitions):
    first = {}
    for t in demo_transitions:
        first.setdefault(t.rule_id, t.findings_zh)
    expected = {"IND-02": "咬合", "IND-03": "扫描件", "IND-06": "上年结转", "ALC-02": "待分配指标余额",
                "ALC-03": "项目名称", "USE-06": "化整为零", "USE-07": "一卡通", "ACC-06": "资金回流",
                "BEN-01": "建档立卡", "BEN-02": "契税", "BEN-09": "稳定脱贫（不再享受政策）", "PRG-04": "财政专户",
                "PRG-05": "资金滞留", "PRG-06": "年末突击支出"}
    assert {r: w for r, w in expected.items() if w not in first[r]} == {}


def test_notify_writes_the_chinese_finding_when_the_alert_carries_one():
    from services.notify.channels import Listed
    envelope = {"type": "alert.transitioned", "region": "410324", "data": {
        "alert_id": "USE-04-a", "transition_id": "USE-04-a.1", "transition": "raised", "rule_id": "USE-04",
        "category": "usage", "title_zh": "现金支付超过限额", "subject": "payment/P1", "level": "yellow",
        "at": "2026-03-02T10:00:00+00:00", "findings": "payment P1 of 52036.00 yuan settled in cash",
        "findings_zh": "支付 P1 金额 ¥52,036.00 以现金结算"}}
    assert Listed.from_event(envelope).findings == "支付 P1 金额 ¥52,036.00 以现金结算"
    del envelope["data"]["findings_zh"]  # an alert raised before the Chinese text existed
    assert Listed.from_event(envelope).findings == "payment P1 of 52036.00 yuan settled in cash"
