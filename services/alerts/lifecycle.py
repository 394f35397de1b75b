"""The alert life cycle (seed 000 arts. 17–20) as a pure state machine.

    bell ──clear (done in time)──▶ green (closed)
      └───escalate (deadline passed)──▶ yellow | red
    yellow ──verify_normal──▶ green (closed)
      └─────verify_violation──▶ red
    red ──rectify (recover / suspend / notice / referral)──▶ green (closed)

`on_finding` and `on_disposition` take the current state (None: no alert yet) and return the
next state with the transitions it implies, or a refusal saying why nothing may happen. One
open alert per (rule, subject): a finding for an open alert changes nothing, and a finding
whose evidence the alert has already seen (a redelivery, a replay) does not reopen a closed
one; new evidence after green opens the next generation (`<base id>.2`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec
from msgspec.structs import replace

from contracts.alert import AlertLevel, AlertTransitionKind
from contracts.control import DispositionAction
from services.alerts.catalogue import CATALOGUE
from services.alerts.findings import BELL, CLEAR, ESCALATE, RAISE, Finding

GREEN, YELLOW, RED, BELL_LEVEL = AlertLevel.green, AlertLevel.yellow, AlertLevel.red, AlertLevel.bell
MAX_SEEN = 50


class AlertState(msgspec.Struct, frozen=True, array_like=True):
    base_id: str
    generation: int
    rule_id: str
    subject: str
    region: str
    level: str
    open: bool
    seq: int
    shadow: bool = False
    fund_code: str | None = None
    group_code: str | None = None
    budget_year: int | None = None
    due: str | None = None
    seen: tuple[str, ...] = ()  # evidence event ids of every generation (redelivery guard)
    dispositions: tuple[str, ...] = ()  # disposition ids applied (a redelivered command is a no-op)

    @property
    def alert_id(self) -> str:
        return self.base_id if self.generation == 1 else f"{self.base_id}.{self.generation}"


@dataclass(frozen=True)
class Transition:
    """One life-cycle event, before it becomes an `alert.transitioned` envelope."""

    alert_id: str
    transition_id: str
    kind: AlertTransitionKind
    rule_id: str
    subject: str
    region: str
    from_level: str | None
    level: str
    open: bool
    at: str
    actor: str = "system"
    method: str | None = None
    findings: str = ""
    evidence: tuple = ()
    fund_code: str | None = None
    group_code: str | None = None
    due: str | None = None
    shadow: bool = False
    budget_year: int | None = None
    disposition_id: str | None = None
    corrective_actions: tuple[str, ...] = ()
    attachments: tuple[str, ...] = ()
    findings_zh: str = ""  # the rule's finding in Chinese (a disposition's text is the operator's own)


@dataclass(frozen=True)
class Decision:
    state: AlertState | None
    transitions: tuple[Transition, ...] = ()
    refusal: str | None = None


@dataclass(frozen=True)
class Disposition:
    """A disposition form (处理单) as the state machine sees it."""

    disposition_id: str
    alert_id: str
    action: DispositionAction
    actor: str
    findings: str
    at: str
    method: str | None = None
    corrective_actions: tuple[str, ...] = ()
    attachments: tuple[str, ...] = ()


@dataclass(frozen=True)
class Settings:
    """What the rule configuration says for the finding's budget year."""

    level: AlertLevel
    escalate_to: AlertLevel | None = None
    shadow: bool = False
    group_code: str | None = None
    extra: dict = field(default_factory=dict)


def _step(state: AlertState, kind: AlertTransitionKind, level: str, open_: bool, at: str, **kw: Any
          ) -> tuple[AlertState, Transition]:
    seq = state.seq + 1
    new = replace(state, level=level, open=open_, seq=seq)
    t = Transition(new.alert_id, f"{new.alert_id}.{seq}", kind, new.rule_id, new.subject, new.region,
                   state.level if state.seq else None, level, open_, at, fund_code=new.fund_code,
                   group_code=new.group_code, due=new.due, shadow=new.shadow, budget_year=new.budget_year, **kw)
    return new, t


def _seen(state: AlertState, ids: tuple[str, ...]) -> tuple[str, ...]:
    merged = state.seen + tuple(i for i in ids if i not in state.seen)
    return merged[-MAX_SEEN:]


def _open_new(state: AlertState | None, f: Finding, cfg: Settings, level: str, at: str
              ) -> tuple[AlertState, Transition]:
    generation = state.generation + 1 if state else 1
    fresh = AlertState(f.alert_id, generation, f.rule_id, f.subject, f.region, level, True, 0,
                       shadow=cfg.shadow, fund_code=f.fund_code, group_code=cfg.group_code,
                       budget_year=f.budget_year, due=f.due,
                       seen=_seen(state, f.evidence_ids) if state else f.evidence_ids[-MAX_SEEN:])
    return _step(fresh, AlertTransitionKind.raised, level, True, at, findings=f.findings, evidence=f.evidence,
                 findings_zh=f.findings_zh)


def on_finding(state: AlertState | None, f: Finding, cfg: Settings) -> Decision:
    """Apply a rule's finding. Findings never refuse: what is not applicable is ignored."""
    at = f.at or ""
    if state is not None and not state.open and f.op in (RAISE, BELL, ESCALATE) and (
            not f.evidence_ids or set(f.evidence_ids) <= set(state.seen)):
        return Decision(state)  # the same facts again (redelivery, replay): the closed alert stays closed
    if f.op == RAISE:
        if state is not None and state.open:
            return Decision(state)
        new, t = _open_new(state, f, cfg, cfg.level, at)
        return Decision(new, (t,))
    if f.op == BELL:
        if state is not None and state.open:
            return Decision(state)
        new, t = _open_new(state, f, cfg, BELL_LEVEL, at)
        return Decision(new, (t,))
    if f.op == CLEAR:
        if state is None or not state.open or state.level != BELL_LEVEL:
            return Decision(state)
        new, t = _step(state, AlertTransitionKind.cleared, GREEN, False, at, findings=f.findings, evidence=f.evidence,
                       findings_zh=f.findings_zh)
        return Decision(new, (t,))
    if f.op == ESCALATE:
        target = cfg.escalate_to or CATALOGUE[f.rule_id].escalate_to or YELLOW
        transitions: list[Transition] = []
        if state is None or not state.open:
            # the bell time and the deadline both passed before anyone looked (a replay jumping
            # ahead): ring the bell at its own time first, as a live run would have
            bell_at = f.bell_at or at
            state, t = _open_new(state, f, cfg, BELL_LEVEL, bell_at)
            transitions.append(t)
        if state.level != BELL_LEVEL:
            return Decision(state, tuple(transitions))
        new, t = _step(state, AlertTransitionKind.escalated, target, True, at, findings=f.findings,
                       evidence=f.evidence, findings_zh=f.findings_zh)
        return Decision(new, (*transitions, t))
    raise ValueError(f"unknown finding op {f.op!r}")


_ACTIONS = {
    DispositionAction.verify_normal: (YELLOW, GREEN, False, AlertTransitionKind.verified_normal),
    DispositionAction.verify_violation: (YELLOW, RED, True, AlertTransitionKind.verified_violation),
    DispositionAction.rectify: (RED, GREEN, False, AlertTransitionKind.rectified),
}
_EXPLAIN = {
    YELLOW: "only a yellow (黄灯) alert is verified, to green (normal) or red (violation)",
    RED: "only a red (红灯) alert is rectified to green",
}


def check_disposition(state: AlertState | None, alert_id: str, action: DispositionAction) -> str | None:
    """Why a disposition may not apply to the alert as it stands (None: it may)."""
    if state is None:
        return f"alert {alert_id} does not exist"
    if alert_id != state.alert_id:
        return f"alert {alert_id} is superseded by {state.alert_id}"
    if not state.open:
        return f"alert {alert_id} is closed ({state.level}); nothing more can be filed on it"
    need, _to, _open, _kind = _ACTIONS[action]
    if state.level != need:
        return f"cannot {action.value} a {state.level} alert: {_EXPLAIN[need]}"
    return None


def on_disposition(state: AlertState | None, d: Disposition) -> Decision:
    """Apply a disposition (处理单) of the responsible group, or refuse it with the reason."""
    if state is not None and d.disposition_id in state.dispositions:
        return Decision(state)  # redelivered command: already applied
    reason = check_disposition(state, d.alert_id, d.action)
    if reason:
        return Decision(state, refusal=reason)
    assert state is not None
    _need, to, open_, kind = _ACTIONS[d.action]
    new, t = _step(state, kind, to, open_, d.at, actor=d.actor, method=d.method, findings=d.findings,
                   disposition_id=d.disposition_id, corrective_actions=d.corrective_actions,
                   attachments=d.attachments)
    new = replace(new, dispositions=(*new.dispositions, d.disposition_id)[-MAX_SEEN:])
    return Decision(new, (t,))


__all__ = [
    "BELL",
    "CLEAR",
    "ESCALATE",
    "RAISE",
    "AlertState",
    "Decision",
    "Disposition",
    "Settings",
    "Transition",
    "check_disposition",
    "on_disposition",
    "on_finding",
]
