"""What a rule returns, and how a finding becomes an alert-lifecycle event."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field

from contracts.alert import AlertLevel, AlertTransitioned, AlertTransitionKind
from contracts.envelope import Envelope, make_event
from services.alerts.catalogue import CATALOGUE


@dataclass(frozen=True)
class Finding:
    """A rule's verdict on one subject: raise `rule_id` about `subject` in `region`."""

    rule_id: str
    subject: str
    region: str
    findings: str
    evidence_event_ids: tuple[str, ...] = ()
    fund_code: str | None = None
    level: AlertLevel | None = None  # None = the rule's configured level
    details: dict = field(default_factory=dict)

    @property
    def dedupe_key(self) -> str:
        """One open alert per (rule, subject)."""
        return f"{self.rule_id}|{self.subject}"

    @property
    def alert_id(self) -> str:
        digest = hashlib.sha256(self.dedupe_key.encode()).hexdigest()[:20]
        return f"{self.rule_id}-{digest}"


def raised_event(finding: Finding, at: dt.datetime, *, shadow: bool = False) -> Envelope:
    spec = CATALOGUE[finding.rule_id]
    level = finding.level or spec.default_level
    data = AlertTransitioned(
        alert_id=finding.alert_id,
        transition_id=f"{finding.alert_id}.1",
        transition=AlertTransitionKind.raised,
        rule_id=spec.rule_id,
        category=spec.category,
        title_zh=spec.title_zh,
        title_en=spec.title_en,
        subject=finding.subject,
        level=level,
        fund_code=finding.fund_code,
        at=at,
        findings=finding.findings,
        evidence_event_ids=list(finding.evidence_event_ids),
        shadow=shadow,
    )
    return make_event("alert.transitioned", data, id=data.transition_id, region=finding.region, time=at,
                      source="/fundwatch/alerts", subject=finding.subject)
