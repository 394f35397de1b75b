"""What a rule returns: a `Finding` about one subject, with the evidence it rests on.

Findings travel to the alert's partition inside a `facts.FindingRaised`, where the life-cycle
state machine turns them into transitions. `op` says what the finding asks for: `raise` (an
irregularity), or for deadline rules `bell`, `clear` (done in time) and `escalate` (the
deadline passed)."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import msgspec

RAISE, BELL, CLEAR, ESCALATE = "raise", "bell", "clear", "escalate"


class Evidence(msgspec.Struct, frozen=True, array_like=True):
    """One event a finding rests on, summarised: its id and the fields the rule looked at."""

    event_id: str
    type: str
    time: str | None = None  # ISO 8601
    region: str | None = None
    facts: tuple[tuple[str, str], ...] = ()
    traceparent: str | None = None  # W3C trace context of the event, carried to the alert it causes

    def fact(self, name: str) -> str | None:
        return dict(self.facts).get(name)


def evidence(event_id: str, type_: str, time: str | None, region: str | None, *, traceparent: str | None = None,
             **facts: Any) -> Evidence:
    return Evidence(event_id, type_, time, region, tuple((k, str(v)) for k, v in facts.items() if v is not None),
                    traceparent)


class Finding(msgspec.Struct, frozen=True, array_like=True):
    """A rule's verdict: `rule_id` applies to `subject` in `region` (one open alert per pair)."""

    rule_id: str
    subject: str
    region: str
    findings: str
    evidence: tuple[Evidence, ...] = ()
    fund_code: str | None = None
    at: str | None = None  # when it was observed (ISO): event time, or the deadline for bells/escalations
    budget_year: int | None = None
    op: str = RAISE
    due: str | None = None  # deadline rules: the due date (ISO)
    indicator_id: str | None = None  # the indicator the money came from (its fund names the responsible group)
    bell_at: str | None = None  # escalations: when the bell was (or would have been) rung
    findings_zh: str = ""  # the same finding in Chinese, as operators read it (issue 11 §3)

    @property
    def dedupe_key(self) -> str:
        """One open alert per (rule, subject)."""
        return f"{self.rule_id}|{self.subject}"

    @property
    def alert_id(self) -> str:
        return alert_base_id(self.rule_id, self.subject)

    @property
    def evidence_ids(self) -> tuple[str, ...]:
        return tuple(e.event_id for e in self.evidence)


def alert_base_id(rule_id: str, subject: str) -> str:
    """Deterministic id of the alerts about (rule, subject); later generations append `.N`."""
    digest = hashlib.sha256(f"{rule_id}|{subject}".encode()).hexdigest()[:20]
    return f"{rule_id}-{digest}"


def base_of(alert_id: str) -> str:
    return alert_id.split(".", 1)[0]


def year_of(*dates: str | dt.date | None) -> int | None:
    """Budget year of a finding: the year of the first business date given."""
    for d in dates:
        if d:
            return d.year if isinstance(d, dt.date) else int(str(d)[:4])
    return None
