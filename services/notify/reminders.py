"""Reminders and escalation in Chinese working days (seed 000 arts. 19–20), pure functions.

A yellow alert without a disposition stays yellow: after `remind_after` working days at that
level its group is reminded (催办), again every `repeat_every`; after `escalate_after` it is
escalated (督办) to the treasury group and the upper bureau. A red alert gets tracking
reminders (跟踪提醒) every `repeat_every` working days after `remind_after`, until rectified
(green). Configurable per rule and level; a missing entry falls back to every rule's, then
to DEFAULTS. Only the latest due reminder of each kind is sent (a service down for a week
does not send the week's reminders at once); its id names alert, kind and ordinal, so it is
sent once."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.alert import AlertLevel, AlertReminded, ReminderKind
from contracts.envelope import make_event
from contracts.topics import Family
from services.notify import channels, report, store
from services.notify.handlers import fan_out
from services.notify.report_pdf import to_pdf
from services.notify.routing import TREASURY, settings_targets, targets_for
from services.runtime.auth import Role, issue_token
from services.runtime.calendar import local_date, working_days_between
from services.runtime.settings import Settings

log = logging.getLogger(__name__)

BUREAU = "bureau"  # 上级财政: the upper bureau, a group whose targets the treasury group sets
EVERY_RULE = "*"


@dataclass(frozen=True)
class Policy:
    remind_after: int
    escalate_after: int | None
    repeat_every: int


DEFAULTS: dict[str, Policy] = {"yellow": Policy(3, 5, 2), "red": Policy(5, None, 5)}


@dataclass(frozen=True)
class OpenAlert:
    alert_id: str
    rule_id: str
    level: str
    group_code: str
    since: dt.datetime  # aware, when the alert reached its level


@dataclass(frozen=True)
class Reminder:
    reminder_id: str
    alert_id: str
    kind: str  # reminder | escalation | tracking
    ordinal: int
    level: str
    recipients: tuple[str, ...]
    working_days: int
    text_zh: str


def policy_for(rule_id: str, level: str, policies: Mapping[tuple[str, str], Policy]) -> Policy | None:
    return policies.get((rule_id, level)) or policies.get((EVERY_RULE, level)) or DEFAULTS.get(level)


def _latest(days: int, first: int, every: int) -> int:
    """How many reminders are due after `days` working days: the first at `first`, then every `every`."""
    if days < first:
        return 0
    return 1 + (days - first) // max(every, 1)


def due(alert: OpenAlert, policy: Policy | None, today: dt.date, sent: set[str]) -> list[Reminder]:
    if policy is None or alert.level not in ("yellow", "red"):
        return []
    days = working_days_between(local_date(alert.since), today)
    out: list[Reminder] = []

    def add(kind: str, n: int, recipients: tuple[str, ...], text: str) -> None:
        rid = f"{alert.alert_id}.{kind}.{n}"
        if n and rid not in sent:
            out.append(Reminder(rid, alert.alert_id, kind, n, alert.level, recipients, days, text))

    if alert.level == "yellow":
        escalated = policy.escalate_after is not None and days >= policy.escalate_after
        if not escalated:
            add("reminder", _latest(days, policy.remind_after, policy.repeat_every), (alert.group_code,),
                f"黄灯预警已{days}个工作日未提交处理单，请尽快核实处理。")
        else:
            add("escalation", 1, tuple(dict.fromkeys((alert.group_code, TREASURY, BUREAU))),
                f"黄灯预警已{days}个工作日未处理，已提请国库业务组和上级财政督办。")
    else:
        add("tracking", _latest(days, policy.remind_after, policy.repeat_every), (alert.group_code,),
            f"红灯预警已{days}个工作日未整改到位，请跟踪整改（追回资金、暂停拨付等）。")
    return out


# ---------------------------------------------------------------- I/O: the reminder loop


class ReminderWorker:
    """Each poll: every open yellow/red alert's due reminders, each sent in one transaction with
    its `alert.reminded` event (the alert's history, via the outbox) and its messages."""

    def __init__(self, settings: Settings, engine: AsyncEngine, on_event: Callable[[], None] | None = None,
                 ledger: httpx.AsyncClient | None = None, alerts: httpx.AsyncClient | None = None) -> None:
        self.ledger = ledger
        self.alerts = alerts
        self.settings = settings
        self.engine = engine
        self.on_event = on_event or (lambda: None)

    async def run(self, stop: asyncio.Event) -> None:
        """A check every `notify_reminder_poll_s`, the first one poll after start (reminders are a
        matter of days; a start is no reason to remind)."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.settings.notify_reminder_poll_s)
            if stop.is_set():
                return
            try:
                sent = await self.tick(dt.datetime.now(dt.UTC))
                if sent:
                    log.info("sent %d reminders", sent)
                made = await self.monthly(local_date(dt.datetime.now(dt.UTC)))
                if made:
                    log.info("made %d monthly reports", made)
            except Exception:  # DB or ledger hiccup: try at the next poll
                log.exception("reminders / monthly reports")

    async def monthly(self, today: dt.date) -> int:
        """On the first working day of a month: last month's reports, each group's and the
        treasury group's overall one, for every configured region (once; on demand by API too)."""
        if self.ledger is None or self.alerts is None or today != report.first_working_day(today.year, today.month):
            return 0
        if self.settings.auth_secret is None:
            log.warning("monthly reports need auth_secret (to read the ledger and alerts APIs); none made")
            return 0
        month = report.previous_month(today)
        start, end = report.month_bounds(month)
        made = 0
        for region in [r.strip() for r in self.settings.notify_report_regions.split(",") if r.strip()]:
            headers = {"Authorization": f"Bearer {issue_token(self.settings, 'notify', region, roles=(Role.auditor,))}"}
            # the groups whose alerts moved in the month, as the alerts API knows them
            groups = sorted({t["group_code"] for t in await report.alert_transitions(
                self.alerts, region, None, end, headers) if t["group_code"] and t["at"] >= start})
            for group in [None, *groups]:
                if await store.report_exists(self.engine, report.report_id(month, region, group)):
                    continue
                made_report = await report.generate(self.engine, self.ledger, self.alerts, month, region, group,
                                                    "notify", headers=headers)
                await self.mail_report(made_report, region, group or TREASURY)
                made += 1
        return made

    async def mail_report(self, made: dict, region: str, group: str) -> None:
        """The report to the group's own e-mail targets, with its workbook attached (once)."""
        row = await store.get_report(self.engine, made["report_id"])
        assert row is not None
        title = report.title_of(made)
        pdf = base64.b64encode(await asyncio.to_thread(to_pdf, json.loads(row["summary"]))).decode()
        async with self.engine.begin() as conn:
            for t in await store.load_targets(conn):
                if t.channel != "email" or t.group_code != group:
                    continue
                body = {"to": [a.strip() for a in t.target.split(",") if a.strip()], "subject": title,
                        "text": f"{title}\n\n详见附件，或登录平台查看：{self.settings.notify_console_url}\n",
                        "html": row["html"],
                        "attachments": [{"filename": f"月度监控情况报告-{made['report_id']}.xlsx",
                                         "mime": report.XLSX,
                                         "content_b64": base64.b64encode(row["xlsx"]).decode()},
                                        {"filename": f"月度监控情况报告-{made['report_id']}.pdf",
                                         "mime": "application/pdf", "content_b64": pdf}]}
                await store.add_delivery(conn, {
                    "alert_id": f"report:{made['report_id']}"[:100], "transition_id": "report", "channel": "email",
                    "target_key": t.key, "group_code": group, "region": region, "target": t.target, "alerts": 0,
                    "payload": json.dumps(body, ensure_ascii=False)})

    async def tick(self, now: dt.datetime) -> int:


        today = local_date(now)
        async with self.engine.connect() as conn:
            alerts = await store.open_alerts(conn)
            sent = await store.sent_reminder_ids(conn)
            policies = {(p["rule_id"], p["level"]): Policy(p["remind_after"], p["escalate_after"], p["repeat_every"])
                        for p in await store.load_policies(conn)}
        count = 0
        configured = settings_targets(self.settings.notify_webhook_url, self.settings.notify_group_webhooks,
                                      channels.webhook_secret(self.settings))
        for a in alerts:
            state = OpenAlert(a["alert_id"], a["rule_id"], a["level"], a["group_code"],
                              a["since"].replace(tzinfo=dt.UTC))
            for r in due(state, policy_for(a["rule_id"], a["level"], policies), today, sent):
                data = AlertReminded(reminder_id=r.reminder_id, alert_id=r.alert_id, kind=ReminderKind(r.kind),
                                     ordinal=r.ordinal, level=AlertLevel(r.level), rule_id=a["rule_id"],
                                     group_code=a["group_code"], recipients=list(r.recipients),
                                     working_days=r.working_days, at=now, text_zh=r.text_zh)
                event = make_event("alert.reminded", data, id=r.reminder_id, region=a["region"], time=now,
                                   source="/fundwatch/notify", subject=r.alert_id)
                listed = json.loads(event.to_json())
                listed["data"] |= {"category": a["category"], "title_zh": a["title_zh"], "subject": a["subject"]}
                payload = json.dumps(listed, ensure_ascii=False)
                async with self.engine.begin() as conn:
                    if not await store.add_reminder(conn, {
                            "reminder_id": r.reminder_id, "alert_id": r.alert_id, "kind": r.kind, "ordinal": r.ordinal,
                            "level": r.level, "group_code": a["group_code"], "recipients": json.dumps(r.recipients),
                            "working_days": r.working_days, "region": a["region"], "at": store.naive(now)}):
                        continue
                    await store.add_outgoing(conn, topic=self.settings.topic(Family.alert), key=event.key,
                                             value=event.to_json())
                    targets = configured + await store.load_targets(conn)
                    for group in r.recipients:
                        await store.add_inbox(conn, {
                            "alert_id": r.alert_id, "transition_id": r.reminder_id, "group_code": group,
                            "region": a["region"], "rule_id": a["rule_id"], "level": r.level, "transition": r.kind,
                            "title_zh": a["title_zh"], "subject": a["subject"], "payload": payload,
                            "received_at": store.utcnow()})
                        found = [t for t in targets_for(group, level=r.level, category=a["category"],
                                                        rule_id=a["rule_id"], targets=targets)
                                 if t.group_code == group or group == a["group_code"]]  # defaults once
                        await fan_out(conn, alert_id=r.alert_id, transition_id=r.reminder_id, rule_id=a["rule_id"],
                                      group=group, region=a["region"], payload=payload, targets=found)
                count += 1
        if count:
            self.on_event()
        return count
