"""The alert state machine (seed 000 arts. 17–20): every legal transition, every illegal one."""

from __future__ import annotations

import pytest

from contracts.alert import AlertLevel
from contracts.control import DispositionAction
from services.alerts.findings import BELL, CLEAR, ESCALATE, RAISE, Evidence, Finding
from services.alerts.lifecycle import Disposition, Settings, on_disposition, on_finding

YELLOW = Settings(AlertLevel.yellow, group_code="agri-410324")
DEADLINE = Settings(AlertLevel.bell, escalate_to=AlertLevel.yellow)


def finding(op: str = RAISE, event: str = "e1", rule: str = "BEN-01", subject: str = "payment/ZF1") -> Finding:
    return Finding(rule, subject, "410324", "why", (Evidence(event, "payment.made"),), "C22",
                   "2026-03-02T10:00:00+08:00", 2026, op, "2026-03-09" if op != RAISE else None,
                   bell_at="2026-03-05T00:00:00+08:00" if op == ESCALATE else None)


def dispose(state, action: DispositionAction, n: int = 1, **kw):
    d = Disposition(f"D-{n}", state.alert_id if state else "BEN-01-x", action, "王科长", "核实情况",
                    "2026-03-10T09:00:00+08:00", kw.pop("method", "phone"), **kw)
    return on_disposition(state, d)


def test_raise_then_duplicates_change_nothing():
    d = on_finding(None, finding(), YELLOW)
    assert [t.kind.value for t in d.transitions] == ["raised"] and d.state.level == "yellow" and d.state.open
    t = d.transitions[0]
    assert t.transition_id == f"{t.alert_id}.1" and t.group_code == "agri-410324" and t.from_level is None
    again = on_finding(d.state, finding(), YELLOW)
    assert again.transitions == () and again.state == d.state
    other_evidence = on_finding(d.state, finding(event="e2"), YELLOW)  # one open alert per (rule, subject)
    assert other_evidence.transitions == ()


def test_yellow_verified_normal_is_green_and_closed():
    state = on_finding(None, finding(), YELLOW).state
    d = dispose(state, DispositionAction.verify_normal, method="documents")
    (t,) = d.transitions
    assert (t.kind.value, t.from_level, t.level, t.open) == ("verified_normal", "yellow", "green", False)
    assert t.actor == "王科长" and t.method == "documents" and t.disposition_id == "D-1"


def test_yellow_verified_violation_is_red_then_rectified_green():
    state = on_finding(None, finding(), YELLOW).state
    red = dispose(state, DispositionAction.verify_violation, method="visit")
    assert red.state.level == "red" and red.state.open
    green = dispose(red.state, DispositionAction.rectify, 2, method=None, corrective_actions=("recover", "notice"),
                    attachments=("oss://docs/处理单-1.pdf",))
    (t,) = green.transitions
    assert (t.kind.value, t.level, t.open) == ("rectified", "green", False)
    assert t.corrective_actions == ("recover", "notice") and t.attachments == ("oss://docs/处理单-1.pdf",)


def test_red_by_configuration_goes_straight_to_rectification():
    state = on_finding(None, finding(rule="USE-01"), Settings(AlertLevel.red)).state
    assert state.level == "red"
    assert dispose(state, DispositionAction.rectify, method=None, corrective_actions=("suspend",)).state.level == "green"


def test_bell_cleared_when_done_in_time():
    bell = on_finding(None, finding(BELL, rule="IND-01", subject="transfer/XD-1"), DEADLINE)
    assert bell.state.level == "bell"
    cleared = on_finding(bell.state, finding(CLEAR, rule="IND-01", subject="transfer/XD-1"), DEADLINE)
    (t,) = cleared.transitions
    assert (t.kind.value, t.from_level, t.level, t.open) == ("cleared", "bell", "green", False)


@pytest.mark.parametrize("target", [AlertLevel.yellow, AlertLevel.red])
def test_bell_escalates_when_the_deadline_passes(target):
    settings = Settings(AlertLevel.bell, escalate_to=target)
    bell = on_finding(None, finding(BELL, rule="IND-01", subject="transfer/XD-1"), settings)
    up = on_finding(bell.state, finding(ESCALATE, rule="IND-01", subject="transfer/XD-1"), settings)
    (t,) = up.transitions
    assert (t.kind.value, t.from_level, t.level, t.open) == ("escalated", "bell", target.value, True)


def test_escalation_without_a_bell_rings_it_first_at_its_own_time():
    d = on_finding(None, finding(ESCALATE, rule="IND-01", subject="transfer/XD-1"), DEADLINE)
    assert [(t.kind.value, t.level, t.at) for t in d.transitions] == [
        ("raised", "bell", "2026-03-05T00:00:00+08:00"), ("escalated", "yellow", "2026-03-02T10:00:00+08:00")]


def test_clear_and_escalate_do_nothing_out_of_place():
    yellow = on_finding(None, finding(), YELLOW).state
    assert on_finding(yellow, finding(CLEAR), YELLOW).transitions == ()
    assert on_finding(yellow, finding(ESCALATE), YELLOW).transitions == ()
    assert on_finding(None, finding(CLEAR), YELLOW).transitions == ()


@pytest.mark.parametrize("level,action,why", [
    ("bell", DispositionAction.verify_normal, "only a yellow"),
    ("bell", DispositionAction.rectify, "only a red"),
    ("yellow", DispositionAction.rectify, "only a red"),
    ("red", DispositionAction.verify_normal, "only a yellow"),
    ("red", DispositionAction.verify_violation, "only a yellow"),
])
def test_illegal_dispositions_are_refused_with_the_reason(level, action, why):
    settings = {"bell": DEADLINE, "yellow": YELLOW, "red": Settings(AlertLevel.red)}[level]
    state = on_finding(None, finding(BELL if level == "bell" else RAISE), settings).state
    d = dispose(state, action, method=None if action == DispositionAction.rectify else "phone",
                corrective_actions=("recover",) if action == DispositionAction.rectify else ())
    assert d.transitions == () and d.state == state and why in d.refusal and f"a {level} alert" in d.refusal


def test_closed_unknown_and_superseded_alerts_refuse_dispositions():
    green = dispose(on_finding(None, finding(), YELLOW).state, DispositionAction.verify_normal).state
    assert "closed" in dispose(green, DispositionAction.verify_violation, 2).refusal
    assert "does not exist" in dispose(None, DispositionAction.verify_normal).refusal
    reopened = on_finding(green, finding(event="e9"), YELLOW).state  # new evidence after green: next generation
    stale = on_disposition(reopened, Disposition("D-3", green.alert_id, DispositionAction.verify_normal, "x", "y",
                                                 "2026-03-11T09:00:00+08:00", "phone"))
    assert "superseded" in stale.refusal


def test_a_redelivered_disposition_is_applied_once():
    state = on_finding(None, finding(), YELLOW).state
    first = dispose(state, DispositionAction.verify_normal)
    again = dispose(first.state, DispositionAction.verify_normal)  # same D-1 redelivered
    assert again.transitions == () and again.refusal is None


def test_closed_alert_stays_closed_on_replay_and_reopens_on_new_evidence():
    green = dispose(on_finding(None, finding(), YELLOW).state, DispositionAction.verify_normal).state
    assert on_finding(green, finding(), YELLOW).transitions == ()  # the same facts again: a replay
    d = on_finding(green, finding(event="e2"), YELLOW)  # a new occurrence
    (t,) = d.transitions
    assert t.alert_id == f"{green.base_id}.2" and t.transition_id == f"{green.base_id}.2.1" and t.kind.value == "raised"


def test_shadow_follows_the_alert():
    state = on_finding(None, finding(), Settings(AlertLevel.yellow, shadow=True)).state
    (t,) = dispose(state, DispositionAction.verify_normal).transitions
    assert state.shadow and t.shadow
