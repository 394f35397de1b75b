"""Topic registry: names, keys and partitions. Every producer and consumer takes topic names
from here (the prefix is configurable, see services.runtime.settings)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Family(StrEnum):
    reference = "reference"
    indicator = "indicator"
    payment = "payment"
    performance = "performance"
    ledger = "ledger"
    alert = "alert"
    notification = "notification"
    alert_command = "alert-command"
    rule_config = "rule-config"
    deadletter = "deadletter"
    audit = "audit"


@dataclass(frozen=True)
class TopicSpec:
    family: Family
    partitions: int
    key: str
    description: str
    compacted: bool = False

    def name(self, prefix: str = "fundwatch") -> str:
        return f"{prefix}.{self.family.value}.v1"


_FISCAL_UNIT_KEY = "fiscal unit: first 6 digits of the envelope region (one county's events stay in order)"

TOPICS: dict[Family, TopicSpec] = {
    spec.family: spec
    for spec in (
        TopicSpec(Family.reference, 6, _FISCAL_UNIT_KEY, "reference data from upstream registries"),
        TopicSpec(Family.indicator, 6, _FISCAL_UNIT_KEY, "indicator registration, issue, allocation, correction"),
        TopicSpec(Family.payment, 6, _FISCAL_UNIT_KEY, "payments, payment plans and returns"),
        TopicSpec(Family.performance, 6, _FISCAL_UNIT_KEY, "performance targets, progress, self-evaluation"),
        TopicSpec(Family.ledger, 6, _FISCAL_UNIT_KEY, "what the ledger applied (derived stream)"),
        TopicSpec(Family.alert, 6, _FISCAL_UNIT_KEY, "alert life-cycle transitions"),
        TopicSpec(Family.notification, 3, _FISCAL_UNIT_KEY, "notification delivery outcomes"),
        TopicSpec(Family.alert_command, 6, _FISCAL_UNIT_KEY, "dispositions (处理单) for the alert state machine"),
        TopicSpec(Family.rule_config, 1, "rule_id/budget_year", "rule configuration per budget year", compacted=True),
        TopicSpec(Family.deadletter, 1, "source topic", "poison messages with the reason they were refused"),
        TopicSpec(Family.audit, 3, _FISCAL_UNIT_KEY, "audit log: who did what, when, from where (access keeps it)"),
    )
}

INPUT_FAMILIES = (Family.reference, Family.indicator, Family.payment, Family.performance)

INTAKE_PARTITIONS = 6


def intake_topic(family: Family, prefix: str = "fundwatch") -> str:
    """Where an upstream system that publishes straight to Kafka writes its events of `family`:
    ingest validates each record (the contract code of HTTP) and forwards it to `family`'s topic."""
    return f"{prefix}.intake.{family.value}.v1"
