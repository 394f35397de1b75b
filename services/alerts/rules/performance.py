"""Performance rules (绩效): PERF-01 … PERF-04."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from services.alerts.config import RuleConfig
from services.alerts.deadlines import DeadlineItem, open_item, working_deadline
from services.alerts.findings import Evidence, Finding
from services.alerts.rules.registry import rule


@rule("PERF-01")
def perf01_deadline(cfg: RuleConfig, project: str, region: str, allocated_on: dt.date, ev: tuple[Evidence, ...],
                    fund_code: str | None = None) -> DeadlineItem:
    """PERF-01: performance targets set within N working days after the project got its money.
    Decided on the performance family's watermark: a project that never gets a performance event
    reaches its deadline as the platform's time moves on."""
    due, bell = working_deadline(allocated_on, cfg.int("working_days"), cfg.lead_time_days)
    return open_item("PERF-01", f"project/{project}/targets", region, "performance", allocated_on, due,
                     bell, f"performance targets of project {project} (allocated {allocated_on})", ev, fund_code,
                     allocated_on.year,
                     text_zh=f"项目 {project}（{allocated_on} 分配资金）应在 {cfg.int('working_days')} 个工作日内设定绩效目标")


@rule("PERF-03")
def perf03_deadline(cfg: RuleConfig, project: str, region: str, period_end: dt.date, ev: tuple[Evidence, ...],
                    fund_code: str | None = None) -> DeadlineItem:
    """PERF-03: the monitoring (progress) report for a period is submitted within N working days after it."""
    due, bell = working_deadline(period_end, cfg.int("working_days"), cfg.lead_time_days)
    return open_item("PERF-03", f"project/{project}/period/{period_end}", region, "performance", period_end, due,
                     bell, f"monitoring report of project {project} for the period ending {period_end}",
                     ev, fund_code, period_end.year,
                     text_zh=f"项目 {project} 截至 {period_end} 的绩效运行监控情况应在 {cfg.int('working_days')} "
                             f"个工作日内报送")


def perf03_applies(cfg: RuleConfig, first_allocated: dt.date, period_end: dt.date) -> bool:
    return (period_end - first_allocated).days > cfg.int("min_age_days")


@rule("PERF-02")
def perf02_behind(cfg: RuleConfig, project: str, region: str, at: str, metric: str, metric_name: str,
                  target: Decimal, actual: Decimal, start: dt.date, deadline: dt.date, period_end: dt.date,
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
                   f"expected by then (target {target} by {deadline})", ev, None, at, period_end.year,
                   findings_zh=f"项目 {project} 的绩效指标“{metric_name}”截至 {period_end} 完成 {actual}，"
                               f"严重低于按序时应完成的 {expected:.2f}（目标值 {target}，期限 {deadline}）")


@rule("PERF-04")
def perf04_below_target(cfg: RuleConfig, project: str, region: str, score: Decimal, target: Decimal,
                        scale: Decimal, evaluated_on: str, at: str, ev: Evidence) -> Finding | None:
    """PERF-04: the self-evaluation scored below its target by more than `tolerance_share` of the
    evaluation's scale (百分制 or any other: a 4.5 of 5 against a target of 4.8 is 6 points on 100)."""
    if target - score <= cfg.num("tolerance_share") * scale:
        return None
    return Finding("PERF-04", f"project/{project}/evaluation", region,
                   f"project {project} self-evaluated {score} of {scale}, below the target {target}", (ev,), None, at,
                   int(evaluated_on[:4]),
                   findings_zh=f"项目 {project} 绩效自评得分 {score}（满分 {scale}），低于目标 {target}")
