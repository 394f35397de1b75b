"""What the access service's projection does with the audit topic: append each record to the
audit table (a redelivered record is ignored by its event id)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from contracts.audit import AuditRecorded
from services.access import store
from services.runtime.projection import Delivery, Outgoing


def row_of(delivery: Delivery) -> dict | None:
    event = delivery.event
    data = event.data
    if not isinstance(data, AuditRecorded):
        return None
    return {"event_id": event.id, "at": store.naive(event.time), "region": event.region, "actor": data.actor,
            "actor_kind": data.actor_kind.value, "action": data.action, "outcome": data.outcome.value,
            "target": data.target, "reason": data.reason, "client_ip": data.client_ip, "service": data.service,
            "details": json.dumps(data.details, ensure_ascii=False, sort_keys=True)}


async def apply(conn: AsyncConnection, deliveries: Sequence[Delivery]) -> list[Outgoing]:
    rows = [r for r in (row_of(d) for d in deliveries) if r is not None]
    await store.add_audit(conn, rows)
    return []
