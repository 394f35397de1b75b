"""What each consumed event means for the alerts read model (called by the Projection inside
its transaction, so a batch, its tracking offsets and these rows commit together).

- `alert.transitioned`: the transition in the alert's history, the alert's current state.
- `alert.disposition_refused`: the disposition is marked refused, with the state machine's reason.
- `alert.disposition_filed` (command topic): the disposition is recorded as filed.
- `rule.configured` (rule-config topic): the configuration the API shows.
- `alert.reminded` (notify's reminders and escalations): an entry in the alert's history."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from contracts.alert import AlertReminded, AlertTransitioned, DispositionRefused
from contracts.control import DispositionFiled, RuleConfigured
from services.alerts import store
from services.runtime.projection import Delivery, Outgoing


async def apply(conn: AsyncConnection, batch: Sequence[Delivery]) -> list[Outgoing]:
    for delivery in batch:
        event = delivery.event
        data = event.data
        if isinstance(data, AlertTransitioned):
            await store.record_transition(conn, event.region, data)
        elif isinstance(data, DispositionFiled):
            await store.record_filed(conn, event.region, event.time, data)
        elif isinstance(data, DispositionRefused):
            await store.record_refused(conn, event.region, data)
        elif isinstance(data, AlertReminded):
            await store.record_reminder(conn, data)
        elif isinstance(data, RuleConfigured):
            await store.record_config(conn, data, event.time, event_id=event.id, region=event.region)
    return []
