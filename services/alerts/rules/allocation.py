"""Allocation rules (资金分配): ALC-01 … ALC-06."""

from __future__ import annotations

import datetime as dt
import re

from services.alerts.config import RuleConfig
from services.alerts.deadlines import DeadlineItem, calendar_deadline, open_item
from services.alerts.findings import Evidence, Finding
from services.alerts.model import Allocation, Fund, IndicatorDoc, Posting
from services.alerts.rules.registry import rule
from services.alerts.zh import fen, yuan
from services.runtime.calendar import add_working_days

_FUND_NAME_AS_PROJECT = re.compile(r"(资金|经费|补助|专项)$|下达|提前下达|文$|号文|〔\d{4}〕|【\d{4}】")


@rule("ALC-01")
def alc01_deadline(cfg: RuleConfig, reg: IndicatorDoc, became_pending_on: dt.date) -> DeadlineItem | None:
    """ALC-01: a received upper transfer is allocated or passed down within N days of becoming
    available (registration; for an advance issue, its compilation into the year's budget)."""
    if reg.source not in ("upper_transfer", "horizontal_transfer"):
        return None
    due, bell = calendar_deadline(became_pending_on, cfg.int("days"), cfg.lead_time_days)
    return open_item("ALC-01", f"indicator/{reg.indicator_id}", reg.region, "ledger",
                     became_pending_on, due, bell,
                     f"transfer {reg.indicator_id} ({reg.doc_no}) received {became_pending_on.isoformat()} to be "
                     f"allocated", (reg.evidence(),), reg.fund, reg.budget_year,
                     text_zh=f"{became_pending_on.isoformat()} 接收的上级转移支付指标 {reg.indicator_id}"
                             f"（{reg.doc_no}）应在 {cfg.int('days')} 日内分配下达")


@rule("ALC-02")
def alc02_beyond_pending(cfg: RuleConfig, post: Posting, pending_fen: int, amount_fen: int, fund_code: str | None,
                         ev: tuple[Evidence, ...]) -> Finding | None:
    """ALC-02: an allocation or issue larger than the indicator's pending balance (待分配指标) — in
    the order the events happened — or a red-ink correction that took the pending balance negative."""
    if amount_fen <= pending_fen:
        return None
    what = "allocation" if post.kind == "indicator.allocated" else "issue" if post.kind == "indicator.issued" else \
        "correction"
    subject = f"allocation/{post.subject}" if post.subject and what != "correction" else \
        f"indicator/{post.indicator_id}/overallocated"
    return Finding("ALC-02", subject, post.region,
                   f"{what} {post.subject or post.source_event_id} of {amount_fen / 100:.2f} yuan exceeds the pending "
                   f"balance {pending_fen / 100:.2f} yuan of indicator {post.indicator_id}", ev, fund_code, post.at,
                   int(post.on[:4]), indicator_id=post.indicator_id,
                   findings_zh=f"{_WHAT_ZH[what]} {post.subject or post.source_event_id} 金额 {fen(amount_fen)}，"
                               f"超过指标 {post.indicator_id} 的待分配指标余额 {fen(pending_fen)}")


_WHAT_ZH = {"allocation": "指标分配", "issue": "指标下达", "correction": "红字冲销"}
_PROBLEM_ZH = {"no project name": "未填写项目名称", "a number instead of a project name": "使用数字代替项目名称",
               "a generic name that does not say what is built or supported": "项目名称未细化",
               "the fund or document name instead of a project name": "使用专项资金名称或文件名称代替项目名称"}


def project_name_problem(name: str | None, generic: tuple[str, ...], min_length: int) -> str | None:
    text = (name or "").strip()
    if not text:
        return "no project name"
    if re.fullmatch(r"[\d\s\-_.]+", text):
        return "a number instead of a project name"
    if text in generic or len(text) < min_length:
        return "a generic name that does not say what is built or supported"
    if _FUND_NAME_AS_PROJECT.search(text) and not text.endswith("项目"):
        return "the fund or document name instead of a project name"
    return None


@rule("ALC-03")
def alc03_project_name(cfg: RuleConfig, a: Allocation) -> Finding | None:
    """ALC-03: a project allocation whose project name is missing, numeric or generic."""
    if a.kind != "project":
        return None
    problem = project_name_problem(a.project_name, cfg.words("generic"), cfg.int("min_length"))
    if problem is None:
        return None
    return Finding("ALC-03", f"allocation/{a.allocation_id}", a.region,
                   f"allocation {a.allocation_id} to project {a.project}: {a.project_name!r} is {problem}",
                   (a.evidence(),), None, a.at, int(a.on[:4]), indicator_id=a.indicator_id,
                   findings_zh=f"分配 {a.allocation_id}（项目 {a.project}）的项目名称“{a.project_name or ''}”："
                               f"{_PROBLEM_ZH[problem]}")


@rule("ALC-04")
def alc04_not_in_library(cfg: RuleConfig, a: Allocation, project_known: bool) -> Finding | None:
    """ALC-04: a project allocation to a code the project library does not have."""
    if a.kind != "project" or project_known:
        return None
    return Finding("ALC-04", f"allocation/{a.allocation_id}", a.region,
                   f"allocation {a.allocation_id} of {a.amount} yuan to project {a.project}, which is not in the "
                   f"project library", (a.evidence(),), None, a.at, int(a.on[:4]), indicator_id=a.indicator_id,
                   findings_zh=f"分配 {a.allocation_id} 金额 {yuan(a.amount)} 安排给项目 {a.project}，该项目不在项目库中")


@rule("ALC-05")
def alc05_outside_scope(cfg: RuleConfig, a: Allocation, fund: Fund | None, indicator_class: str | None
                        ) -> Finding | None:
    """ALC-05: functional class outside the fund's scope, or basic expenditure (人员/公用经费)."""
    problems, zh = [], []
    functional = a.functional_class or indicator_class
    if fund is not None and functional and not fund.covers(functional):
        problems.append(f"functional class {functional} is outside the scope of fund {fund.code} "
                        f"({', '.join(fund.classes)})")
        zh.append(f"支出功能科目 {functional} 超出专项资金 {fund.code} 的使用范围（{'、'.join(fund.classes)}）")
    if a.economic_class and a.economic_class.startswith(cfg.words("basic_prefixes")):
        problems.append(f"economic class {a.economic_class} is basic expenditure, not project spending")
        zh.append(f"支出经济分类 {a.economic_class} 属于基本支出（人员经费、公用经费），不是项目支出")
    if not problems:
        return None
    return Finding("ALC-05", f"allocation/{a.allocation_id}", a.region,
                   f"allocation {a.allocation_id}: " + "; ".join(problems), (a.evidence(),),
                   fund.code if fund else None, a.at, int(a.on[:4]), indicator_id=a.indicator_id,
                   findings_zh=f"分配 {a.allocation_id}：" + "；".join(zh))


@rule("ALC-06")
def alc06_deadline(cfg: RuleConfig, reg: IndicatorDoc) -> DeadlineItem | None:
    """ALC-06: an advance-issued transfer (提前下达) is compiled into its budget year by the due date."""
    if not reg.advance:
        return None
    month, day = (int(x) for x in cfg.text("due").split("-"))
    due = dt.date(reg.budget_year, month, day)
    start = dt.date.fromisoformat(reg.on)
    bell = max(add_working_days(due, -cfg.lead_time_days), start)
    return open_item("ALC-06", f"indicator/{reg.indicator_id}", reg.region, "indicator",
                     start, due, bell,
                     f"advance-issued transfer {reg.indicator_id} ({reg.doc_no}) to be compiled into the "
                     f"{reg.budget_year} budget", (reg.evidence(),), reg.fund, reg.budget_year,
                     text_zh=f"提前下达的转移支付指标 {reg.indicator_id}（{reg.doc_no}）应编入 {reg.budget_year} 年度预算")
