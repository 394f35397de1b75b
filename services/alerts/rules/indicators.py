"""Indicator receipt rules (指标接收): IND-01 … IND-07."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from decimal import Decimal
from functools import lru_cache

from services.alerts.config import RuleConfig
from services.alerts.deadlines import DeadlineItem, open_item, working_deadline
from services.alerts.findings import Evidence, Finding
from services.alerts.model import Fund, IndicatorDoc
from services.alerts.rules.registry import rule
from services.alerts.zh import FUND_LEVELS, word, yuan

UPPER_LEVELS = ("central", "provincial")
_TITLE_WORDS = ("关于", "请示", "报告", "纪要", "函", "通知", "申请", "追加", "会议")
_BRACKETS = re.compile(r"[\[【(（〔]\s*((19|20)\d{2})\s*[\]】)）〕]")


@lru_cache(maxsize=16)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def doc_no_problem(doc_no: str, pattern: str) -> str | None:
    """Why a document number is irregular (None: it follows 〈机关代字〉〔年份〕序号号)."""
    text = doc_no.strip()
    if _compiled(pattern).fullmatch(text):
        return None
    if re.fullmatch(r"[\d\s\-—_./、]+", text):
        return "bare digits instead of a document number"
    if any(w in text for w in _TITLE_WORDS) and not re.search(r"\d+号$", text):
        return "a title (request, report, minutes, letter) instead of a document number"
    if _BRACKETS.search(text):
        return "non-standard brackets around the year (use 〔年份〕)"
    return "does not follow 〈机关代字〉〔年份〕序号号"


_DOC_PROBLEM_ZH = {"bare digits instead of a document number": "使用数字代替文号",
                   "a title (request, report, minutes, letter) instead of a document number":
                       "使用请示、报告、纪要、函等标题代替文号",
                   "non-standard brackets around the year (use 〔年份〕)": "年份括号不规范（应使用六角括号〔年份〕）",
                   "does not follow 〈机关代字〉〔年份〕序号号": "不符合“机关代字〔年份〕序号号”的格式"}


def doc_year(doc_no: str) -> int | None:
    match = _BRACKETS.search(doc_no)
    return int(match.group(1)) if match else None


def _doc_subject(doc: IndicatorDoc) -> str:
    return f"indicator/{doc.indicator_id}"


@rule("IND-03")
def ind03_missing_scan(cfg: RuleConfig, doc: IndicatorDoc) -> Finding | None:
    """IND-03: an indicator registered or issued without the scan of its document."""
    if doc.scan:
        return None
    issued = doc.event_type == "indicator.issued"
    what = "issued to a lower level" if issued else "registered"
    return Finding("IND-03", _doc_subject(doc), doc.region,
                   f"indicator {doc.indicator_id} ({doc.doc_no}) {what} without the document scan",
                   (doc.evidence(),), doc.fund, doc.at, doc.budget_year,
                   findings_zh=f"指标 {doc.indicator_id}（{doc.doc_no}）{'下达下级' if issued else '登记'}时"
                               f"未上传预算指标文件扫描件")


@rule("IND-04")
def ind04_irregular_doc_no(cfg: RuleConfig, doc: IndicatorDoc) -> Finding | None:
    """IND-04: the document number is a title, bare digits, or not in 〔年〕号 form."""
    problem = doc_no_problem(doc.doc_no, cfg.text("pattern"))
    if problem is None:
        return None
    return Finding("IND-04", _doc_subject(doc), doc.region,
                   f"indicator {doc.indicator_id}: document number {doc.doc_no!r} is irregular: {problem}",
                   (doc.evidence(),), doc.fund, doc.at, doc.budget_year,
                   findings_zh=f"指标 {doc.indicator_id} 的文号“{doc.doc_no}”不规范：{_DOC_PROBLEM_ZH[problem]}")


@rule("IND-01")
def ind01_deadline(cfg: RuleConfig, issue: IndicatorDoc) -> DeadlineItem:
    """IND-01: the receiver registers an issued (or horizontally allocated) transfer within N working
    days (bell first). Decided on the indicator family's watermark: every registration up to the
    deadline has arrived, whichever county sent it — a receiver that never sends anything still
    reaches the deadline."""
    start = dt.date.fromisoformat(issue.on)
    due, bell = working_deadline(start, cfg.int("working_days"), cfg.lead_time_days)
    receiver = issue.to_region or issue.region
    return open_item("IND-01", f"transfer/{issue.indicator_id}", receiver, "indicator", start, due,
                     bell, f"transfer {issue.indicator_id} ({issue.doc_no}) issued {issue.on} to be registered by "
                     f"{receiver}", (issue.evidence(),), issue.fund, issue.budget_year,
                     text_zh=f"{issue.on} 下达的转移支付指标 {issue.indicator_id}（{issue.doc_no}）应由接收地区 {receiver} "
                             f"在 {cfg.int('working_days')} 个工作日内登记接收")


@rule("IND-02")
def ind02_interlock_break(cfg: RuleConfig, transfer_id: str, region: str, at: str, state: str, issued: str,
                          received: str, fund_code: str | None, ev: Evidence, window_closed: bool) -> Finding | None:
    """IND-02: what the lower level received differs from what the upper level issued (the ledger's
    interlock). More received than issued breaks it at once; less only once the registration window
    (IND-01's deadline) has closed — a transfer received in parts is not broken half way."""
    if state != "mismatch":
        return None
    if not window_closed and Decimal(received) <= Decimal(issued):
        return None
    return Finding("IND-02", f"transfer/{transfer_id}", region,
                   f"transfer {transfer_id}: received {received} yuan but {issued} yuan were issued (interlock break)",
                   (ev,), fund_code, at,
                   findings_zh=f"转移支付 {transfer_id}：上级下达 {yuan(issued)}，下级接收 {yuan(received)}，"
                               f"金额不一致（咬合关系断裂）")


@rule("IND-05")
def ind05_wrong_link(cfg: RuleConfig, issue: IndicatorDoc, receipt: IndicatorDoc, funds: Mapping[str, Fund]
                     ) -> Finding | None:
    """IND-05: an upper transfer received under a fund that does not designate the issued fund."""
    if receipt.fund == issue.fund:
        return None
    local = funds.get(receipt.fund)
    if local is not None and local.upper == issue.fund:
        return None
    designated = local.upper if local else None
    return Finding("IND-05", f"indicator/{receipt.indicator_id}", receipt.region,
                   f"transfer {issue.indicator_id} of fund {issue.fund} received under fund {receipt.fund}, "
                   f"which designates {designated or 'no upper fund'} (指定关联 broken)",
                   (receipt.evidence(), issue.evidence()), receipt.fund, receipt.at, receipt.budget_year,
                   findings_zh=f"上级专项资金 {issue.fund} 的转移支付 {issue.indicator_id} 被接收到本级专项资金 "
                               f"{receipt.fund}，而该资金指定关联的上级专项资金是 {designated or '（未指定）'}，"
                               f"未与指定的上级专项资金关联")


@rule("IND-05")
def ind05_self_entered(cfg: RuleConfig, reg: IndicatorDoc, funds: Mapping[str, Fund], region_level: str
                       ) -> Finding | None:
    """IND-05: a city or county enters an upper-level fund as its own arrangement instead of
    receiving the upper indicator (自行再录入)."""
    fund = funds.get(reg.fund)
    if reg.source != "own_arrangement" or fund is None or fund.level not in UPPER_LEVELS:
        return None
    if region_level not in ("city", "county", "township"):
        return None
    return Finding("IND-05", f"indicator/{reg.indicator_id}", reg.region,
                   f"indicator {reg.indicator_id}: {fund.level} fund {reg.fund} entered as an own arrangement "
                   f"instead of being received from the upper level", (reg.evidence(),), reg.fund, reg.at,
                   reg.budget_year,
                   findings_zh=f"指标 {reg.indicator_id}：{word(FUND_LEVELS, fund.level)}专项资金 {reg.fund} "
                               f"被作为本级安排自行录入，未通过上下级贯通接收上级指标")


@rule("IND-06")
def ind06_carry_over(cfg: RuleConfig, issue: IndicatorDoc, receipt: IndicatorDoc) -> Finding | None:
    """IND-06: a transfer of an earlier budget year registered as a current-year indicator instead of
    a carry-over (上年结转)."""
    if receipt.source == "carry_over" or receipt.advance or issue.advance:
        return None
    if issue.budget_year >= receipt.budget_year:
        return None
    return Finding("IND-06", f"indicator/{receipt.indicator_id}", receipt.region,
                   f"indicator {receipt.indicator_id}: {issue.budget_year} transfer {issue.indicator_id} registered "
                   f"as a {receipt.budget_year} indicator instead of a carry-over (上年结转)",
                   (receipt.evidence(), issue.evidence()), receipt.fund, receipt.at, receipt.budget_year,
                   findings_zh=f"指标 {receipt.indicator_id}：{issue.budget_year} 年的转移支付 {issue.indicator_id} "
                               f"被登记为 {receipt.budget_year} 年预算指标，未作为上年结转资金")


@rule("IND-06")
def ind06_old_document(cfg: RuleConfig, reg: IndicatorDoc) -> Finding | None:
    """IND-06: an indicator registered as the current year's own arrangement whose money is from an
    earlier year — its document dates from before the budget year (a carry-over says so:
    `source=carry_over` with its `origin_year`)."""
    if reg.source != "own_arrangement" or reg.advance:
        return None
    years = [y for y in (doc_year(reg.doc_no), int(reg.doc_date[:4])) if y]
    year = min(years)
    if year >= reg.budget_year:
        return None
    return Finding("IND-06", f"indicator/{reg.indicator_id}", reg.region,
                   f"indicator {reg.indicator_id}: document {reg.doc_no} of {year} registered as a {reg.budget_year} "
                   f"indicator instead of a carry-over (上年结转)", (reg.evidence(),), reg.fund, reg.at,
                   reg.budget_year,
                   findings_zh=f"指标 {reg.indicator_id}：{year} 年的文件 {reg.doc_no} 被登记为 {reg.budget_year} "
                               f"年预算指标，未作为上年结转资金")


@rule("IND-07")
def ind07_several_uppers(cfg: RuleConfig, fund_code: str, uppers: list[str], ev: Evidence, region: str
                         ) -> Finding | None:
    """IND-07: a local fund linked to more than one upper fund (指定关联 allows exactly one)."""
    distinct = sorted(set(uppers))
    if len(distinct) < 2:
        return None
    return Finding("IND-07", f"fund/{fund_code}", region,
                   f"fund {fund_code} is linked to {len(distinct)} upper funds: {', '.join(distinct)}",
                   (ev,), fund_code, ev.time,
                   findings_zh=f"本级专项资金 {fund_code} 关联了 {len(distinct)} 项上级专项资金：{'、'.join(distinct)}"
                               f"（一项专项资金只能对应上级一项专项资金）")
