"""Allocation rules (资金分配): ALC-01 … ALC-06."""

from __future__ import annotations

import datetime as dt
import re

from services.runtime.calendar import add_working_days
from services.alerts.config import RuleConfig
from services.alerts.deadlines import DeadlineItem, calendar_deadline, open_item
from services.alerts.findings import Finding, evidence
from services.alerts.model import Allocation, Fund, IndicatorDoc

_FUND_NAME_AS_PROJECT = re.compile(r"(资金|经费|补助|专项)$|下达|提前下达|文$|号文|〔\d{4}〕|【\d{4}】")


def alc01_deadline(reg: IndicatorDoc, became_pending_on: dt.date, cfg: RuleConfig) -> DeadlineItem | None:
    """ALC-01: a received upper transfer is allocated or passed down within N days of becoming
    available (registration; for an advance issue, its compilation into the year's budget)."""
    if reg.source != "upper_transfer":
        return None
    due, bell = calendar_deadline(became_pending_on, cfg.int("days"), cfg.lead_time_days)
    return open_item("ALC-01", f"indicator/{reg.indicator_id}", reg.region, f"ledger/{reg.region[:6]}",
                     became_pending_on, due, bell,
                     f"transfer {reg.indicator_id} ({reg.doc_no}) received {became_pending_on.isoformat()} to be "
                     f"allocated", (reg.evidence(),), reg.fund, reg.budget_year)


def alc02_beyond_pending(event_id: str, region: str, at: str, allocation_id: str | None, indicator_id: str,
                         amount: str, available: str, fund_code: str | None) -> Finding | None:
    """ALC-02: the ledger booked an allocation larger than the indicator's pending balance."""
    subject = f"allocation/{allocation_id}" if allocation_id else f"indicator/{indicator_id}/overallocated"
    ev = evidence(event_id, "ledger.balance_exceeded", at, region, indicator_id=indicator_id,
                  allocation_id=allocation_id, amount=amount, available=available)
    return Finding("ALC-02", subject, region,
                   f"allocation {allocation_id or '?'} of {amount} yuan exceeds the pending balance {available} yuan "
                   f"of indicator {indicator_id}", (ev,), fund_code, at,
                   details={"indicator_id": indicator_id})


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


def alc03_project_name(a: Allocation, cfg: RuleConfig) -> Finding | None:
    """ALC-03: a project allocation whose project name is missing, numeric or generic."""
    if a.kind != "project":
        return None
    problem = project_name_problem(a.project_name, cfg.words("generic"), cfg.int("min_length"))
    if problem is None:
        return None
    return Finding("ALC-03", f"allocation/{a.allocation_id}", a.region,
                   f"allocation {a.allocation_id} to project {a.project}: {a.project_name!r} is {problem}",
                   (a.evidence(),), None, a.at, int(a.on[:4]), details={"indicator_id": a.indicator_id})


def alc04_not_in_library(a: Allocation, project_known: bool) -> Finding | None:
    """ALC-04: a project allocation to a code the project library does not have."""
    if a.kind != "project" or project_known:
        return None
    return Finding("ALC-04", f"allocation/{a.allocation_id}", a.region,
                   f"allocation {a.allocation_id} of {a.amount} yuan to project {a.project}, which is not in the "
                   f"project library", (a.evidence(),), None, a.at, int(a.on[:4]),
                   details={"indicator_id": a.indicator_id})


def alc05_outside_scope(a: Allocation, fund: Fund | None, indicator_class: str | None, cfg: RuleConfig
                        ) -> Finding | None:
    """ALC-05: functional class outside the fund's scope, or basic expenditure (人员/公用经费)."""
    problems = []
    functional = a.functional_class or indicator_class
    if fund is not None and functional and not fund.covers(functional):
        problems.append(f"functional class {functional} is outside the scope of fund {fund.code} "
                        f"({', '.join(fund.classes)})")
    if a.economic_class and a.economic_class.startswith(cfg.words("basic_prefixes")):
        problems.append(f"economic class {a.economic_class} is basic expenditure, not project spending")
    if not problems:
        return None
    return Finding("ALC-05", f"allocation/{a.allocation_id}", a.region,
                   f"allocation {a.allocation_id}: " + "; ".join(problems), (a.evidence(),),
                   fund.code if fund else None, a.at, int(a.on[:4]), details={"indicator_id": a.indicator_id})


def alc06_deadline(reg: IndicatorDoc, cfg: RuleConfig) -> DeadlineItem | None:
    """ALC-06: an advance-issued transfer (提前下达) is compiled into its budget year by the due date."""
    if not reg.advance:
        return None
    month, day = (int(x) for x in cfg.text("due").split("-"))
    due = dt.date(reg.budget_year, month, day)
    start = dt.date.fromisoformat(reg.on)
    bell = max(add_working_days(due, -cfg.lead_time_days), start)
    return open_item("ALC-06", f"indicator/{reg.indicator_id}", reg.region, f"indicator/{reg.region[:6]}",
                     start, due, bell,
                     f"advance-issued transfer {reg.indicator_id} ({reg.doc_no}) to be compiled into the "
                     f"{reg.budget_year} budget", (reg.evidence(),), reg.fund, reg.budget_year)
