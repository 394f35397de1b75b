"""Alert life cycle (seed 000 arts. 17–20) and notification delivery."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from pydantic import Field

from contracts.base import Data
from contracts.types import FundCode, Identifier


class AlertLevel(StrEnum):
    bell = "bell"  # 黄色警铃: deadline approaching
    yellow = "yellow"  # 黄灯: suspected irregularity
    red = "red"  # 红灯: confirmed violation
    green = "green"  # 绿灯: normal / rectified


class AlertTransitionKind(StrEnum):
    raised = "raised"
    escalated = "escalated"  # bell → yellow/red when the deadline passes
    cleared = "cleared"  # bell auto-cleared, work done in time
    verified_normal = "verified_normal"  # yellow → green
    verified_violation = "verified_violation"  # yellow → red
    rectified = "rectified"  # red → green


class AlertEvidence(Data):
    """One event an alert rests on, summarised (personal data only in masked or hashed form)."""

    event_id: Identifier
    type: str = Field(max_length=60)
    time: dt.datetime | None = None
    region: str | None = Field(None, max_length=12)
    facts: dict[str, str] = Field(default_factory=dict, description="the fields the rule looked at")


class AlertTransitioned(Data):
    """One transition of one alert; the first one of an alert is `raised`."""

    alert_id: Identifier
    transition_id: Identifier
    transition: AlertTransitionKind
    rule_id: str = Field(pattern=r"^[A-Z]+-[0-9]{2}$")
    category: str = Field(max_length=40)
    title_zh: str = Field(max_length=120)
    title_en: str = Field(max_length=160)
    subject: str = Field(min_length=1, max_length=200, description="what the alert is about")
    from_level: AlertLevel | None = None
    level: AlertLevel
    open: bool = True
    fund_code: FundCode | None = None
    group_code: str | None = Field(None, max_length=40)
    actor: str = Field("system", max_length=60)
    at: dt.datetime
    method: str | None = Field(None, max_length=60)
    findings: str = Field("", max_length=2000)
    findings_zh: str = Field("", max_length=2000, description="the rule's finding in Chinese, as operators read it "
                                                               "(empty on dispositions: their findings are the operator's)")
    evidence_event_ids: list[Identifier] = Field(default_factory=list, max_length=100)
    due: dt.date | None = None
    shadow: bool = False
    evidence: list[AlertEvidence] = Field(default_factory=list, max_length=20,
                                          description="the triggering events, summarised")
    budget_year: int | None = Field(None, ge=2000, le=2100, description="budget year whose rule configuration applied")
    disposition_id: Identifier | None = Field(None, description="the disposition (处理单) that caused this transition")
    corrective_actions: list[str] = Field(default_factory=list, max_length=10,
                                          description="rectification: recover / suspend / notice / referral")
    attachments: list[str] = Field(default_factory=list, max_length=20, description="references to stored files")
    traceparent: str | None = Field(None, pattern=r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
                                    description="W3C trace context of the event that raised the alert, when it had one")


class DispositionRefused(Data):
    """The alert state machine refused a disposition (illegal transition, unknown alert …)."""

    disposition_id: Identifier
    alert_id: Identifier
    action: str = Field(max_length=40)
    actor: str = Field(max_length=60)
    reason: str = Field(max_length=500)
    level: AlertLevel | None = Field(None, description="the alert's level when the disposition arrived")
    at: dt.datetime


class DeliveryChannel(StrEnum):
    inbox = "inbox"
    webhook = "webhook"  # generic, signed per Standard Webhooks; one message per transition
    email = "email"  # SMTP, HTML + text
    wecom = "wecom"  # 企业微信 group robot (markdown)
    dingtalk = "dingtalk"  # 钉钉 robot (signed markdown)
    alertmanager = "alertmanager"  # Prometheus Alertmanager webhook payload, version 4


class DeliveryStatus(StrEnum):
    delivered = "delivered"
    failed = "failed"  # gave up after the configured attempts


class NotificationDelivered(Data):
    """Outcome of pushing one alert transition to one channel of its responsible group."""

    alert_id: Identifier
    transition_id: Identifier
    channel: DeliveryChannel
    group_code: str = Field(max_length=40)
    target: str = Field(max_length=300)
    status: DeliveryStatus
    attempts: int = Field(ge=1)
    last_error: str | None = Field(None, max_length=500)


class ReminderKind(StrEnum):
    reminder = "reminder"  # 催办: yellow without a disposition after N working days, to the group
    escalation = "escalation"  # 督办: after M working days, to the treasury group and the upper bureau
    tracking = "tracking"  # 跟踪提醒: red, until rectified


class AlertReminded(Data):
    """notify reminded a group of an open alert (or escalated it): an entry in the alert's history."""

    reminder_id: Identifier = Field(description="alert_id, kind and ordinal: the same reminder has the same id")
    alert_id: Identifier
    kind: ReminderKind
    ordinal: int = Field(ge=1, description="the n-th reminder of this kind for this alert")
    level: AlertLevel
    rule_id: str = Field(pattern=r"^[A-Z]+-[0-9]{2}$")
    group_code: str = Field(max_length=40)
    recipients: list[str] = Field(default_factory=list, max_length=10, description="groups reminded (group codes)")
    working_days: int = Field(ge=0, description="working days the alert has been at this level")
    at: dt.datetime
    text_zh: str = Field(max_length=500)
