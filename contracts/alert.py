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


class AlertTransitioned(Data):
    """One transition of one alert; the first one of an alert is `raised`."""

    alert_id: Identifier
    transition_id: Identifier
    transition: AlertTransitionKind
    rule_id: str = Field(pattern=r"^[A-Z]+-\d{2}$")
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
    evidence_event_ids: list[Identifier] = Field(default_factory=list, max_length=100)
    due: dt.date | None = None
    shadow: bool = False


class DeliveryChannel(StrEnum):
    inbox = "inbox"
    webhook = "webhook"
    email = "email"


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
