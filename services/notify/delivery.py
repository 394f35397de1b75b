"""Webhook delivery worker: POST due deliveries, retry with exponential backoff, publish the outcome.

Guarantee: at-least-once. The POST happens before the attempt is recorded, so a crash between
the two re-sends the alert after the lease expires. Receivers de-duplicate by the
`X-Fundwatch-Delivery: <alert_id>/<transition_id>/webhook` header, which is the same on every
attempt. The final outcome (delivered, or failed after `notify_max_attempts`) and its
`notification.delivered` event are committed in one transaction; the Projection's outbox relay
then publishes the event on the notification topic."""

from __future__ import annotations

from collections.abc import Callable

import asyncio
import datetime as dt
import logging
import uuid
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.alert import DeliveryStatus, NotificationDelivered
from contracts.envelope import Envelope, make_event
from contracts.topics import Family
from services.notify import store
from services.notify.routing import redact_url
from services.runtime.settings import Settings

log = logging.getLogger(__name__)

BATCH = 20
IDLE_POLL_S = 0.25
_EVENT_NS = uuid.UUID("5b0c7a44-52a4-4c52-9d43-8f1f3b0c6e11")


def backoff_s(settings: Settings, attempts_made: int) -> float:
    """Wait after the n-th failed attempt: `notify_retry_base_s · 2^(n-1)` (base, 2·base, 4·base …)."""
    return settings.notify_retry_base_s * 2 ** (attempts_made - 1)


def delivery_header(row: dict[str, Any]) -> str:
    return f"{row['alert_id']}/{row['transition_id']}/{row['channel']}"


class DeliveryWorker:
    def __init__(self, settings: Settings, engine: AsyncEngine,
                 on_outcome: Callable[[], None] | None = None) -> None:
        self.settings = settings
        self.engine = engine
        self.on_outcome = on_outcome or (lambda: None)

    async def run(self, stop: asyncio.Event) -> None:
        async with httpx.AsyncClient(timeout=self.settings.notify_timeout_s, follow_redirects=False) as client:
            while not stop.is_set():
                try:
                    due = await store.due_deliveries(self.engine, store.utcnow(), BATCH)
                except Exception:  # noqa: BLE001 - DB hiccup: keep the loop alive
                    log.exception("cannot read due deliveries")
                    due = []
                outcomes = await asyncio.gather(*(self.attempt(client, row) for row in due), return_exceptions=True)
                errors = [(row, o) for row, o in zip(due, outcomes, strict=True) if isinstance(o, Exception)]
                for row, error in errors:  # the row is retried when its lease runs out
                    log.error("delivery %s: %r", delivery_header(row), error)
                if not due or errors:
                    try:
                        await asyncio.wait_for(stop.wait(), timeout=IDLE_POLL_S)
                    except TimeoutError:
                        pass

    async def attempt(self, client: httpx.AsyncClient, row: dict[str, Any]) -> None:
        lease = store.utcnow() + dt.timedelta(seconds=self.settings.notify_timeout_s + 5)
        if not await store.claim(self.engine, row, lease):
            return
        error = await self.post(client, row)
        attempts = row["attempts"] + 1
        if error is None:
            status = store.DELIVERED
        elif attempts >= self.settings.notify_max_attempts:
            status = store.FAILED
        else:
            status = store.PENDING
        next_at = store.utcnow() + dt.timedelta(seconds=backoff_s(self.settings, attempts))
        async with self.engine.begin() as conn:
            recorded = await store.record_attempt(
                conn, row["id"], status=status, attempts=attempts, next_attempt_at=next_at, last_error=error
            )
            if recorded and status != store.PENDING:
                event = outcome_event(row, status=status, attempts=attempts, error=error)
                await store.add_outgoing(conn, topic=self.settings.topic(Family.notification),
                                         key=event.key, value=event.to_json())
        if recorded and status != store.PENDING:
            self.on_outcome()  # the relay publishes the outcome event now rather than at its next poll
        log.info("delivery %s attempt %d: %s%s", delivery_header(row), attempts, status,
                 f" ({error})" if error else "")

    async def post(self, client: httpx.AsyncClient, row: dict[str, Any]) -> str | None:
        """One POST; None on 2xx, else a short reason."""
        try:
            response = await client.post(
                row["target"],
                content=row["payload"].encode(),
                headers={"content-type": "application/json", "X-Fundwatch-Delivery": delivery_header(row)},
            )
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"[:500]
        if response.is_success:
            return None
        return f"HTTP {response.status_code}: {response.text[:200]}"[:500]


def outcome_event(row: dict[str, Any], *, status: str, attempts: int, error: str | None) -> Envelope:
    """The `notification.delivered` event of a final outcome; its id is derived from the
    delivery key, so a repeated outcome is recognisably the same event."""
    data = NotificationDelivered(
        alert_id=row["alert_id"], transition_id=row["transition_id"], channel=row["channel"],
        group_code=row["group_code"], target=redact_url(row["target"]), status=DeliveryStatus(status),
        attempts=attempts, last_error=error if status == store.FAILED else None,
    )
    return make_event(
        "notification.delivered", data, id=str(uuid.uuid5(_EVENT_NS, delivery_header(row))),
        region=row["region"], time=dt.datetime.now(dt.UTC), source="/fundwatch/notify", subject=row["alert_id"],
    )
