"""Performance rules (绩效): PERF-01 … PERF-04."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from services.alerts.config import RuleConfig
from services.alerts.deadlines import DeadlineItem, open_item, working_deadline
from services.alerts.findings import Evidence, Finding, evidence


def perf01_deadline(project: str, region: str, allocated_on: dt.date, ev: tuple[Evidence, ...], cfg: RuleConfig,
                    fund_code: str | None = None) -> DeadlineItem:
    """PERF-01: performance targets set within N working days after the project got its money."""
    due, bell = working_deadline(allocated_on, cfg.int("working_days"), cfg.lead_time_days)
    return open_item("PERF-01", f"project/{project}/targets", region, f"performance/{region[:6]}", allocated_on, due,
                     bell, f"performance targets of project {project} (allocated {allocated_on})", ev, fund_code,
                     allocated_on.year)


def perf03_deadline(project: str, region: str, period_end: dt.date, ev: tuple[Evidence, ...], cfg: RuleConfig,
                    fund_code: str | None = None) -> DeadlineItem:
    """PERF-03: the monitoring (progress) report for a period is submitted within N working days after it."""
    due, bell = working_deadline(period_end, cfg.int("working_days"), cfg.lead_time_days)
    return open_item("PERF-03", f"project/{project}/period/{period_end}", region, f"performance/{region[:6]}",
                     period_end, due, bell, f"monitoring report of project {project} for the period ending {period_end}",
                     ev, fund_code, period_end.year)


def perf03_applies(first_allocated: dt.date, period_end: dt.date, cfg: RuleConfig) -> bool:
    return (period_end - first_allocated).days > cfg.int("min_age_days")


def perf02_behind(project: str, region: str, at: str, metric: str, metric_name: str, target: Decimal,
                  actual: Decimal, start: dt.date, deadline: dt.date, period_end: dt.date, cfg: RuleConfig,
                  ev: tuple[Evidence, ...]) -> Finding | None:
    """PERF-02: reported progress below `factor` × the time-proportional share of the target."""
    span = (deadline - start).days
    if span <= 0 or target <= 0:
        return None
    share = Decimal(min(max((period_end - start).days, 0), span)) / Decimal(span)
    if share < cfg.num("min_expected_share"):
        return None
    expected = target * share
    if actual >= cfg.num("factor") * expected:
        return None
    return Finding("PERF-02", f"project/{project}/metric/{metric}/period/{period_end}", region,
                   f"project {project}, {metric_name}: {actual} at {period_end}, far behind the {expected:.2f} "
                   f"expected by then (target {target} by {deadline})", ev, None, at, period_end.year)


def perf04_below_target(project: str, region: str, event_id: str, at: str, score: Decimal, target: Decimal,
                        evaluated_on: str) -> Finding | None:
    """PERF-04: the self-evaluation scored below its target."""
    if score >= target:
        return None
    ev = evidence(event_id, "performance.self_evaluated", at, region, project_code=project, score=score,
                  target_score=target, evaluated_on=evaluated_on)
    return Finding("PERF-04", f"project/{project}/evaluation", region,
                   f"project {project} self-evaluated {score}, below the target {target}", (ev,), None, at,
                   int(evaluated_on[:4]))
