"""What a rule returns: a `Finding` about one subject, with the evidence it rests on.

Findings travel to the alert's partition as plain dicts (`to_wire` / `from_wire`), where the
life-cycle state machine turns them into transitions. `op` says what the finding asks for:
`raise` (an irregularity), or for deadline rules `bell`, `clear` (done in time) and
`escalate` (the deadline passed)."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Any

RAISE, BELL, CLEAR, ESCALATE = "raise", "bell", "clear", "escalate"


@dataclass(frozen=True)
class Evidence:
    """One event a finding rests on, summarised: its id and the fields the rule looked at."""

    event_id: str
    type: str
    time: str | None = None  # ISO 8601
    region: str | None = None
    facts: tuple[tuple[str, str], ...] = ()

    def to_wire(self) -> dict[str, Any]:
        return {"id": self.event_id, "type": self.type, "time": self.time, "region": self.region,
                "facts": dict(self.facts)}

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> Evidence:
        return cls(d["id"], d["type"], d.get("time"), d.get("region"), tuple((d.get("facts") or {}).items()))

    def fact(self, name: str) -> str | None:
        return dict(self.facts).get(name)


def evidence(event_id: str, type_: str, time: str | None, region: str | None, **facts: Any) -> Evidence:
    return Evidence(event_id, type_, time, region,
                    tuple((k, str(v)) for k, v in facts.items() if v is not None))


@dataclass(frozen=True)
class Finding:
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
    details: dict = field(default_factory=dict)

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

    def to_wire(self) -> dict[str, Any]:
        return {"rule": self.rule_id, "subject": self.subject, "region": self.region, "text": self.findings,
                "ev": [e.to_wire() for e in self.evidence], "fund": self.fund_code, "at": self.at,
                "year": self.budget_year, "op": self.op, "due": self.due, "details": self.details}

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> Finding:
        return cls(d["rule"], d["subject"], d["region"], d.get("text") or "",
                   tuple(Evidence.from_wire(e) for e in d.get("ev") or ()), d.get("fund"), d.get("at"),
                   d.get("year"), d.get("op") or RAISE, d.get("due"), d.get("details") or {})


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
