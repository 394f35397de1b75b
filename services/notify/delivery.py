"""Delivery worker: group waiting alerts into messages, send due messages on their channel,
retry with exponential backoff, publish the outcome.

Grouping (`flush`): the items of one target, rule and region become one message (several
when a receiver's size limit splits it) once routing.flush_due says so; the message rows
and the items' link to them commit in one transaction, so each (alert, transition, target)
is listed in exactly one message, across crashes. Robots' per-minute limits are kept by
deferring a message (routing.robot_slot), never by dropping it.

Sending (`run`, `lane`): one lane per target at a time, up to `LANES` targets at once; a lane
sends its target's messages in order. At-least-once: the send happens before the attempt is
recorded (a lane records its sends together), so a crash between the two re-sends those
messages after their lease expires; webhook receivers de-duplicate by the
Standard Webhooks `webhook-id` (also sent as `X-Fundwatch-Delivery`), which is
`<alert_id>/<transition_id>/<channel>` and the same on every attempt. The final outcome
(delivered, or failed after `notify_max_attempts`) and its
`notification.delivered` event are committed in one transaction; the Projection's outbox relay
then publishes the event on the notification topic."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import uuid
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.alert import DeliveryStatus, NotificationDelivered
from contracts.envelope import Envelope, make_event
from contracts.topics import Family
from services.notify import channels, store
from services.notify.channels import Listed, Smtp
from services.notify.routing import flush_due, redact_url, robot_slot
from services.runtime.settings import Settings

log = logging.getLogger(__name__)

LANES = 16  # targets sending at once
LANE_ROWS = 100  # a target's messages one lane takes (then the next due ones, in a fresh lane)
WINDOW = 20  # a lane's messages in flight at once (a robot's: one)
RECORD_EVERY = 10  # a lane's outcomes recorded together
IDLE_POLL_S = 0.25
_EVENT_NS = uuid.UUID("5b0c7a44-52a4-4c52-9d43-8f1f3b0c6e11")


def backoff_s(settings: Settings, attempts_made: int) -> float:
    """Wait after the n-th failed attempt: `notify_retry_base_s · 2^(n-1)` (base, 2·base, 4·base …)."""
    return settings.notify_retry_base_s * 2 ** (attempts_made - 1)


def delivery_header(row: dict[str, Any]) -> str:
    return f"{row['alert_id']}/{row['transition_id']}/{row['channel']}"


ROBOTS = frozenset({"wecom", "dingtalk"})
MAX_GROUP_ITEMS = 5000  # items taken into one flush of a group (the rest go in the next)


class DeliveryWorker:
    def __init__(self, settings: Settings, engine: AsyncEngine,
                 on_outcome: Callable[[], None] | None = None) -> None:
        self.settings = settings
        self.engine = engine
        self.on_outcome = on_outcome or (lambda: None)
        self.secret = channels.webhook_secret(settings)
        self.smtp = Smtp(settings.notify_smtp_host, settings.notify_smtp_port, settings.notify_mail_from,
                         settings.notify_timeout_s)
        self.robot_locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def run(self, stop: asyncio.Event) -> None:
        """One lane per target at a time, up to `LANES` targets at once: a lane sends its target's
        due messages in order, one after the other (so a target sees them in order and a robot's
        minute is counted right), while other targets' lanes send beside it (a webhook backlog
        no longer holds up the grouped channels)."""
        lanes: dict[str, asyncio.Task[None]] = {}
        async with httpx.AsyncClient(timeout=self.settings.notify_timeout_s, follow_redirects=False) as client:
            while not stop.is_set():
                for key, task in list(lanes.items()):
                    if task.done():
                        del lanes[key]
                        if not task.cancelled() and task.exception() is not None:  # retried after the lease
                            log.error("delivery lane %s: %r", redact_url(key), task.exception())
                try:
                    await self.flush(store.utcnow())
                    by_target = await store.due_by_target(self.engine, store.utcnow(), LANE_ROWS, set(lanes))
                except Exception:
                    log.exception("cannot read due deliveries")
                    by_target = {}
                for key, rows in by_target.items():
                    if rows and len(lanes) < LANES:
                        lanes[key] = asyncio.create_task(self.lane(client, rows))
                if lanes:  # look again as soon as a lane is through (its target may have more)
                    await asyncio.wait(list(lanes.values()), timeout=IDLE_POLL_S,
                                       return_when=asyncio.FIRST_COMPLETED)
                else:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=IDLE_POLL_S)
            await asyncio.gather(*lanes.values(), return_exceptions=True)

    async def lane(self, client: httpx.AsyncClient, rows: list[dict[str, Any]]) -> None:
        """One target's due messages. A robot's go one by one, in order (its minute counts claims).
        The others are claimed together, sent with up to `WINDOW` in flight, each alert's in order
        (its raise before its rectification), and their outcomes recorded `RECORD_EVERY` at a time:
        one commit for the lane's claims and one per ten outcomes, not two a message."""
        if rows[0]["channel"] in ROBOTS:
            for i, row in enumerate(rows):
                slot = await self.attempt(client, row)
                if slot is not None:  # the minute is full: the rest wait behind it, in order
                    await store.release(self.engine, [r["id"] for r in rows[i + 1:]], slot)
                    return
            return
        secret = await self.secret_of(rows[0])
        lease_s = self.settings.notify_timeout_s + 5
        lease = {"until": store.utcnow() + dt.timedelta(seconds=lease_s)}
        claimed = await store.claim_many(self.engine, rows, lease["until"])
        unsent = {r["id"] for r in claimed}
        renewing = asyncio.Lock()
        window = asyncio.Semaphore(WINDOW)
        outcomes: list[tuple[dict[str, Any], str | None]] = []
        chains: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in claimed:
            chains[row["alert_id"]].append(row)

        async def leased(row: dict[str, Any]) -> bool:
            """A slow receiver: what is left is leased again before a send could outlive the lease."""
            async with renewing:
                if store.utcnow() + dt.timedelta(seconds=self.settings.notify_timeout_s + 1) > lease["until"]:
                    lease["until"] = store.utcnow() + dt.timedelta(seconds=lease_s)
                    unsent.intersection_update(await store.renew(self.engine, sorted(unsent), lease["until"]))
                return row["id"] in unsent

        async def chain(rows_of_alert: list[dict[str, Any]]) -> None:
            for row in rows_of_alert:
                async with window:
                    if not await leased(row):
                        return
                    error = await channels.send(client, self.smtp, channel=row["channel"], target=row["target"],
                                                secret=secret, body=row["payload"], msg_id=delivery_header(row))
                    unsent.discard(row["id"])
                    outcomes.append((row, error))
                if len(outcomes) >= RECORD_EVERY:  # few sends left unrecorded at any time (a crash re-sends them)
                    batch = outcomes[:]
                    outcomes.clear()
                    await self.record(batch)

        try:
            await asyncio.gather(*(chain(c) for c in chains.values()))
        finally:
            await self.record(outcomes)

    async def flush(self, now: dt.datetime) -> int:
        """Every group whose wait is over becomes its message(s); returns the messages made."""
        made = 0
        for key, oldest, last in await store.waiting_groups(self.engine):
            if not flush_due(oldest, last, now, wait_s=self.settings.notify_group_wait_s,
                             interval_s=self.settings.notify_group_interval_s):
                continue
            async with self.engine.begin() as conn:
                waiting = await store.waiting_items(conn, key, MAX_GROUP_ITEMS)
                if not waiting:
                    continue
                target = await self.target_of(conn, waiting[0]["target_key"])
                if target is None:  # the target was deleted since: its items have nowhere to go
                    log.warning("group %s: target %s no longer exists", key, waiting[0]["target_key"])
                    continue
                messages = self.messages(target, waiting)
                if await store.flush_group(conn, key, messages, now):
                    made += len(messages)
                else:
                    await conn.rollback()
        return made

    async def target_of(self, conn: Any, target_key: str) -> Any:
        for t in await store.load_targets(conn):
            if t.key == target_key:
                return t
        return None

    def messages(self, target: Any, waiting: list[dict[str, Any]]) -> list[tuple[dict[str, Any], list[int]]]:
        listed = [Listed.from_event(json.loads(i["payload"])) for i in waiting]
        bodies = channels.format_message(target.channel, listed, target=target.target,
                                         receiver=waiting[0]["group_code"],
                                         console=self.settings.notify_console_url, recipients=target.recipients)
        out, at = [], 0
        for part, (body, n) in enumerate(bodies, 1):
            chunk = waiting[at:at + n]
            at += n
            first = chunk[0]
            out.append(({"alert_id": first["alert_id"], "transition_id": f"g{first['id']}.{part}",
                         "channel": target.channel, "target_key": target.key, "group_code": first["group_code"],
                         "region": first["region"], "target": target.target, "alerts": n,
                         "payload": json.dumps(body, ensure_ascii=False)}, [i["id"] for i in chunk]))
        return out

    async def attempt(self, client: httpx.AsyncClient, row: dict[str, Any]) -> dt.datetime | None:
        """One message; for a robot whose minute is full, deferred instead (returns the slot)."""
        if row["channel"] in ROBOTS:
            async with self.robot_locks[row["target_key"]]:  # the count and the send, one at a time per robot
                now = store.utcnow()
                sent = await store.sent_times(self.engine, row["target_key"], now - dt.timedelta(seconds=60))
                slot = robot_slot(sent, now, self.settings.notify_robot_per_minute)
                if slot is not None:
                    await store.defer(self.engine, row["id"], slot)
                    return slot
                await self._attempt(client, row)
        else:
            await self._attempt(client, row)
        return None

    async def _attempt(self, client: httpx.AsyncClient, row: dict[str, Any]) -> None:
        lease = store.utcnow() + dt.timedelta(seconds=self.settings.notify_timeout_s + 5)
        if not await store.claim(self.engine, row, lease):
            return
        secret = await self.secret_of(row)
        error = await channels.send(client, self.smtp, channel=row["channel"], target=row["target"], secret=secret,
                                    body=row["payload"], msg_id=delivery_header(row))
        await self.record([(row, error)])

    async def secret_of(self, row: dict[str, Any]) -> str | None:
        """The target's own secret; a webhook without one is signed with the settings' secret
        (Standard Webhooks has no unsigned form)."""
        key = row.get("target_key") or ""
        if key.startswith("settings:") or not key:
            return self.secret
        own = (await store.target_secrets(self.engine, [key])).get(key)
        return own or (self.secret if row["channel"] == "webhook" else None)

    async def record(self, outcomes: list[tuple[dict[str, Any], str | None]]) -> None:
        """The attempts' outcomes, and each final one's `notification.delivered`, in one transaction."""
        if not outcomes:
            return
        finals = []
        async with self.engine.begin() as conn:
            for row, error in outcomes:
                attempts = row["attempts"] + 1
                if error is None:
                    status = store.DELIVERED
                elif attempts >= self.settings.notify_max_attempts:
                    status = store.FAILED
                else:
                    status = store.PENDING
                next_at = store.utcnow() + dt.timedelta(seconds=backoff_s(self.settings, attempts))
                recorded = await store.record_attempt(
                    conn, row["id"], status=status, attempts=attempts, next_attempt_at=next_at, last_error=error
                )
                if recorded and status != store.PENDING:
                    event = outcome_event(row, status=status, attempts=attempts, error=error)
                    await store.add_outgoing(conn, topic=self.settings.topic(Family.notification),
                                             key=event.key, value=event.to_json())
                    finals.append(row)
                if status == store.FAILED:  # an operator must see this and can resend it (POST /v1/deliveries/{id}/resend)
                    log.warning("delivery %s (id %s) to %s failed after %d attempts: %s", delivery_header(row),
                                row["id"], redact_url(row["target"]), attempts, error)
                elif error:
                    log.info("delivery %s attempt %d failed, retrying: %s", delivery_header(row), attempts, error)
        if finals:
            self.on_outcome()  # the relay publishes the outcome events now rather than at its next poll


def outcome_event(row: dict[str, Any], *, status: str, attempts: int, error: str | None) -> Envelope:
    """The `notification.delivered` event of a final outcome; its id is derived from the
    delivery key, so a repeated outcome is recognisably the same event."""
    data = NotificationDelivered(
        alert_id=row["alert_id"], transition_id=row["transition_id"][:100], channel=row["channel"],
        group_code=row["group_code"], target=redact_url(row["target"]), status=DeliveryStatus(status),
        attempts=attempts, last_error=error if status == store.FAILED else None,
    )
    return make_event(
        "notification.delivered", data,
        id=str(uuid.uuid5(_EVENT_NS, f"{delivery_header(row)}/{row.get('target_key') or ''}")),
        region=row["region"], time=dt.datetime.now(dt.UTC), source="/fundwatch/notify", subject=row["alert_id"],
    )
