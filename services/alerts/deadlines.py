"""Deadline items (seed 000 art. 17(1), 黄色警铃) as pure functions.

A deadline rule opens an item when the work becomes due (a transfer issued, a project
allocated …). The bell rings `lead` working days before the due date unless the work is done;
done in time clears the bell; once the due date has passed the item escalates (yellow/red by
configuration). Completion carries its own business date, so an item decides the same way
whether the clock ticked before the completion arrived or not — a replay rings the bells a
live run would have rung, at their own times."""

from __future__ import annotations

import datetime as dt

import msgspec
from msgspec.structs import replace

from services.alerts.findings import BELL, CLEAR, ESCALATE, Evidence, Finding
from services.runtime.calendar import add_working_days, end_of, start_of


class DeadlineItem(msgspec.Struct, frozen=True, array_like=True):
    rule_id: str
    subject: str
    region: str
    family: str  # the source family whose completeness decides the item (watermarks.py)
    start: str  # ISO dates
    due: str
    bell: str
    text: str  # what is due, for the findings
    evidence: tuple[Evidence, ...] = ()
    fund_code: str | None = None
    budget_year: int | None = None
    done: str | None = None  # completion date
    belled: bool = False
    escalated: bool = False
    text_zh: str = ""  # what is due, in Chinese (last: items stored before it decode unchanged)

    @property
    def closed(self) -> bool:
        return self.done is not None or self.escalated

    @property
    def due_date(self) -> dt.date:
        return dt.date.fromisoformat(self.due)

    def next_check(self) -> str | None:
        """The date whose start makes the item act again (None: nothing left to do on the clock)."""
        if self.closed:
            return None
        return self.bell if not self.belled else (dt.date.fromisoformat(self.due) + dt.timedelta(days=1)).isoformat()


def working_deadline(start: dt.date, working_days: int, lead: int) -> tuple[dt.date, dt.date]:
    """(due, bell): `working_days` working days after `start`, bell `lead` working days before."""
    due = add_working_days(start, working_days)
    bell = add_working_days(due, -lead) if lead else due
    return due, max(bell, start)


def calendar_deadline(start: dt.date, days: int, lead: int) -> tuple[dt.date, dt.date]:
    """(due, bell): `days` calendar days after `start` (Budget Law style), bell `lead` working days before."""
    due = start + dt.timedelta(days=days)
    bell = add_working_days(due, -lead) if lead else due
    return due, max(bell, start)


def open_item(rule_id: str, subject: str, region: str, family: str, start: dt.date, due: dt.date, bell: dt.date,
              text: str, evidence: tuple[Evidence, ...] = (), fund_code: str | None = None,
              budget_year: int | None = None, *, text_zh: str = "") -> DeadlineItem:
    return DeadlineItem(rule_id, subject, region, family, start.isoformat(), due.isoformat(), bell.isoformat(), text,
                        tuple(evidence), fund_code, budget_year, text_zh=text_zh)


def _finding(item: DeadlineItem, op: str, at: dt.datetime, text: str, zh: str, extra: tuple[Evidence, ...] = (),
             bell_at: str | None = None) -> Finding:
    return Finding(item.rule_id, item.subject, item.region, text, item.evidence + extra, item.fund_code,
                   at.isoformat(), item.budget_year, op, item.due, bell_at=bell_at,
                   findings_zh=f"{item.text_zh}：{zh}" if item.text_zh else "")


def _bell(item: DeadlineItem) -> Finding:
    return _finding(item, BELL, start_of(dt.date.fromisoformat(item.bell)),
                    f"{item.text}: due {item.due}, not done yet", f"办理期限 {item.due}，尚未办理")


def _escalation(item: DeadlineItem, why: str, zh: str, extra: tuple[Evidence, ...] = ()) -> Finding:
    return _finding(item, ESCALATE, end_of(dt.date.fromisoformat(item.due)), why, zh, extra,
                    bell_at=start_of(dt.date.fromisoformat(item.bell)).isoformat())


def complete(item: DeadlineItem, on: dt.date, evidence: tuple[Evidence, ...] = ()) -> tuple[DeadlineItem, list[Finding]]:
    """The work was done on `on`. In time: the bell (rung or due to have rung by then) is cleared.
    Late: the deadline had passed — escalate if not done already; the late completion is evidence."""
    if item.done is not None:
        return item, []
    due, bell = dt.date.fromisoformat(item.due), dt.date.fromisoformat(item.bell)
    out: list[Finding] = []
    if on <= due:
        if item.escalated:
            return replace(item, done=on.isoformat()), []
        belled = item.belled
        if not belled and on >= bell and on > dt.date.fromisoformat(item.start):
            out.append(_bell(item))
            belled = True
        if belled:
            out.append(_finding(item, CLEAR, start_of(on) if on > bell else start_of(bell),
                                f"{item.text}: done on {on.isoformat()}, in time (due {item.due})",
                                f"已于 {on.isoformat()} 按时办理（期限 {item.due}）", evidence))
        return replace(item, done=on.isoformat(), belled=belled), out
    if not item.escalated:
        out.append(_escalation(item, f"{item.text}: due {item.due}, done late on {on.isoformat()}",
                               f"办理期限 {item.due}，逾期至 {on.isoformat()} 才办理", evidence))
    return replace(item, done=on.isoformat(), belled=True, escalated=True), out


def tick(item: DeadlineItem, now: dt.datetime | None) -> tuple[DeadlineItem, list[Finding]]:
    """The item's family is complete up to `now`: ring the bell, escalate past the due date."""
    if now is None or item.closed:
        return item, []
    due, bell = dt.date.fromisoformat(item.due), dt.date.fromisoformat(item.bell)
    out: list[Finding] = []
    if now >= end_of(due):
        out.append(_escalation(item, f"{item.text}: due {item.due}, not done", f"办理期限 {item.due} 已过，仍未办理"))
        return replace(item, belled=True, escalated=True), out
    if not item.belled and now >= start_of(bell):
        out.append(_bell(item))
        return replace(item, belled=True), out
    return item, out
