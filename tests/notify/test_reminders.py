"""Reminders and escalation in working days: the pure schedule, and the worker on a real
database — each reminder sent once, as an `alert.reminded` event that the alerts read model
keeps in the alert's history."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select

from contracts.alert import AlertLevel, AlertTransitioned, AlertTransitionKind
from contracts.envelope import make_event, parse_event
from services.alerts import handlers as alert_handlers
from services.alerts import store as alert_store
from services.notify import store
from services.notify.reminders import OpenAlert, Policy, ReminderWorker, due
from services.runtime.db import make_engine, migrate_async
from services.runtime.projection import Delivery
from tests.notify.test_channels import project, settings_for

BJ = dt.timezone(dt.timedelta(hours=8))
RAISED = dt.datetime(2026, 9, 28, 10, 0, tzinfo=BJ)  # Monday before the National Day holiday (Oct 1–7)


def test_yellow_reminded_then_escalated_in_working_days_red_tracked() -> None:
    a = OpenAlert("A1", "USE-05", "yellow", "agri", RAISED)
    policy = Policy(remind_after=3, escalate_after=5, repeat_every=2)
    assert due(a, policy, dt.date(2026, 9, 30), set()) == []  # 2 working days
    [r] = due(a, policy, dt.date(2026, 10, 8), set())  # 9-30 … 10-7 holiday: 10-8 is the 3rd working day
    assert (r.reminder_id, r.kind, r.recipients, r.working_days) == ("A1.reminder.1", "reminder", ("agri",), 3)
    assert due(a, policy, dt.date(2026, 10, 8), {"A1.reminder.1"}) == []
    [r] = due(a, policy, dt.date(2026, 10, 10), {"A1.reminder.1"})  # Saturday 10-10 is a working day (调休)
    assert (r.reminder_id, r.working_days) == ("A1.escalation.1", 5)
    assert r.recipients == ("agri", "treasury", "bureau") and "督办" in r.text_zh
    red = OpenAlert("A2", "USE-05", "red", "agri", RAISED)
    [t] = due(red, Policy(2, None, 2), dt.date(2026, 10, 12), set())  # 6 working days: the 3rd tracking
    assert (t.reminder_id, t.kind) == ("A2.tracking.3", "tracking")
    assert due(OpenAlert("A3", "IND-01", "bell", "agri", RAISED), Policy(1, 2, 1), dt.date(2026, 12, 1), set()) == []


@pytest.mark.store
async def test_worker_sends_each_reminder_once_into_the_alerts_history(sqlite_url) -> None:
    await migrate_async(sqlite_url, "notify")
    await migrate_async(sqlite_url, "alerts")
    engine = make_engine(sqlite_url)
    settings = settings_for()
    try:
        data = AlertTransitioned(
            alert_id="USE-05.P-1", transition_id="USE-05.P-1.1", transition=AlertTransitionKind.raised,
            rule_id="USE-05", category="fund usage", title_zh="重复支付", title_en="Duplicate payment",
            subject="payment:P-1", level=AlertLevel.yellow, group_code="agri", at=RAISED)
        raised = make_event("alert.transitioned", data, id="e1", region="410324", time=RAISED,
                            source="/fundwatch/alerts", subject=data.alert_id)
        await project(engine, settings, raised)
        async with engine.begin() as conn:
            await alert_handlers.apply(conn, [Delivery(None, raised)])  # type: ignore[arg-type]
        await store.set_policy(engine, {"rule_id": "USE-05", "level": "yellow", "remind_after": 3,
                                        "escalate_after": 5, "repeat_every": 2, "updated_by": "tests"})
        worker = ReminderWorker(settings, engine)
        assert await worker.tick(dt.datetime(2026, 10, 8, 9, tzinfo=BJ)) == 1
        assert await worker.tick(dt.datetime(2026, 10, 8, 15, tzinfo=BJ)) == 0  # same day: nothing new
        assert await worker.tick(dt.datetime(2026, 10, 10, 9, tzinfo=BJ)) == 1

        sent = await store.reminders_of(engine, data.alert_id)
        assert [(r["reminder_id"], r["kind"], json.loads(r["recipients"])) for r in sent] == [
            ("USE-05.P-1.reminder.1", "reminder", ["agri"]),
            ("USE-05.P-1.escalation.1", "escalation", ["agri", "treasury", "bureau"])]
        inbox = await store.list_inbox(engine)
        assert sorted((i["group_code"], i["transition"]) for i in inbox.items) == [
            ("agri", "escalation"), ("agri", "raised"), ("agri", "reminder"), ("bureau", "escalation"),
            ("treasury", "escalation")]
        async with engine.connect() as conn:
            rows = await conn.execute(select(store.outbox).order_by(store.outbox.c.seq))
            events = [parse_event(r.value) for r in rows]
        assert [(e.type, e.data.kind.value, e.data.working_days) for e in events] == [
            ("alert.reminded", "reminder", 3), ("alert.reminded", "escalation", 5)]
        async with engine.begin() as conn:  # what the alerts read model does with them
            await alert_handlers.apply(conn, [Delivery(None, e) for e in events])  # type: ignore[arg-type]
            history = await alert_store.history(conn, data.alert_id)
        assert [(h["kind"], h["actor"], h["level"]) for h in history] == [
            ("raised", "system", "yellow"), ("reminder", "notify", "yellow"), ("escalation", "notify", "yellow")]
        assert "督办" in history[2]["findings"]
    finally:
        await engine.dispose()
