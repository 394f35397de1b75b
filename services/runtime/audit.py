"""The one way every service writes to the audit log (contracts.audit): build an `audit.recorded`
event, then either put it in the service's outbox in the transaction of the act it records
(dispositions, rule changes, user and client changes: recorded exactly when the act commits) or,
for what has no transaction (a refused credential, an accepted ingest request), send it to the
audit topic through the service's `AuditSink`. The access service projects the topic into its
append-only table."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import uuid
from typing import Any

from aiokafka import AIOKafkaProducer
from fastapi import Request

from contracts.audit import ActorKind, AuditRecorded, Outcome
from contracts.envelope import Envelope, make_event
from contracts.topics import Family
from contracts.types import CENTRAL
from services.runtime.settings import Settings

log = logging.getLogger(__name__)

_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _clean(value: str | None, limit: int) -> str | None:
    """What a caller sent (a user name at a failed login …) made fit for the record: unsafe
    characters shown as '?', cut to the field's length."""
    return None if value is None else _UNSAFE.sub("?", value)[:limit]


def client_ip(request: Request | None) -> str | None:
    return request.client.host if request is not None and request.client else None


def audit_event(service: str, action: str, *, actor: str, actor_kind: ActorKind = ActorKind.user,
                region: str = CENTRAL, outcome: Outcome = Outcome.ok, target: str | None = None,
                reason: str | None = None, ip: str | None = None, details: dict[str, str] | None = None,
                at: dt.datetime | None = None) -> Envelope:
    """One audit record. `region` is its scope (an auditor sees the records under their own code):
    the region acted on, the actor's own when there is none, the Ministry's when it is unknown."""
    data = AuditRecorded(
        actor=_clean(actor, 100) or "anonymous", actor_kind=actor_kind, action=action, outcome=outcome,
        target=_clean(target, 200), reason=_clean(reason, 500), client_ip=_clean(ip, 64), service=service,
        details={_clean(k, 40) or "": _clean(v, 200) or "" for k, v in (details or {}).items()},
    )
    return make_event("audit.recorded", data, id=f"audit-{uuid.uuid4().hex}", region=region,
                      time=at or dt.datetime.now(dt.UTC), source=f"/fundwatch/{service}",
                      subject=_clean(target, 200))


def outgoing(settings: Settings, event: Envelope) -> dict[str, Any]:
    """The outbox row of an audit event: `await store.add_outgoing(tx, **outgoing(settings, event))`."""
    return {"topic": settings.topic(Family.audit), "key": event.key, "value": event.to_json()}


class AuditSink:
    """Sends audit events straight to the audit topic, for what has no transaction to join.
    Sending does not wait for the broker's answer (a refused request should not wait on Kafka);
    what the broker then refuses is logged."""

    def __init__(self, settings: Settings, producer: AIOKafkaProducer | None, service: str) -> None:
        self.settings = settings
        self.producer = producer
        self.service = service
        self._pending: set[asyncio.Future] = set()

    async def emit(self, event: Envelope) -> None:
        if self.producer is None:
            log.warning("audit (no producer): %s", event.to_json().decode())
            return
        try:
            future = await self.producer.send(self.settings.topic(Family.audit), event.to_json(), key=event.key)
        except Exception:
            log.exception("audit record not sent: %s", event.data)
            return
        self._pending.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: asyncio.Future) -> None:
        self._pending.discard(future)
        if not future.cancelled() and future.exception() is not None:
            log.error("audit record lost: %r", future.exception())

    async def record(self, request: Request | None, action: str, **fields: Any) -> None:
        await self.emit(audit_event(self.service, action, ip=client_ip(request), **fields))


def sink_of(request: Request) -> AuditSink | None:
    return getattr(request.app.state, "audit", None)


async def record(request: Request, action: str, **fields: Any) -> None:
    """Record through the app's sink (`app.state.audit`); an app without one (a test building the
    API alone) logs the record instead."""
    sink = sink_of(request)
    if sink is None:
        log.info("audit (no sink): %s %s", action, fields)
        return
    await sink.record(request, action, **fields)


__all__ = ["ActorKind", "AuditSink", "Outcome", "audit_event", "client_ip", "outgoing", "record", "sink_of"]
