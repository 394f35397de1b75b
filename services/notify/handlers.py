"""What each consumed event means for notify's tables (called by the Projection inside its
transaction, so a batch, its tracking offsets and these rows commit together).

- `group.assigned` (reference topic): the group's routes within the event's region scope.
- `alert.transitioned` (alert topic): one inbox row for the responsible group, plus a pending
  webhook delivery when a URL is configured for that group. A transition seen before (same
  alert_id and transition_id, e.g. republished upstream) adds nothing. Shadow transitions
  (a rule on trial) are not pushed to groups.
Other reference events are ignored."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from contracts.alert import AlertTransitioned, DeliveryChannel
from contracts.envelope import Envelope
from contracts.reference import GroupAssigned
from contracts.topics import Family
from contracts.types import region_prefix
from services.notify import store
from services.notify.routing import Route, route_alert, webhook_for
from services.runtime.projection import Apply, Delivery, Outgoing
from services.runtime.settings import Settings


def make_apply(settings: Settings) -> Apply:
    async def apply(conn: AsyncConnection, batch: Sequence[Delivery]) -> list[Outgoing]:
        # Reference data first: an assignment and an alert in one batch come from two topics
        # whose relative order the broker does not define.
        ordered = sorted(batch, key=lambda d: d.event.family != Family.reference)
        routes: list[Route] | None = None
        for delivery in ordered:
            event = delivery.event
            if isinstance(event.data, GroupAssigned):
                await assign_group(conn, event, event.data)
                routes = None
            elif isinstance(event.data, AlertTransitioned):
                if routes is None:
                    routes = await store.load_routes(conn)
                await receive_alert(conn, settings, event, event.data, routes)
        return []

    return apply


async def assign_group(conn: AsyncConnection, event: Envelope, data: GroupAssigned) -> None:
    await store.replace_routes(
        conn, scope=region_prefix(event.region), group_code=data.group_code, group_name=data.group_name,
        fund_codes=data.fund_codes,
    )


async def receive_alert(
    conn: AsyncConnection, settings: Settings, event: Envelope, alert: AlertTransitioned, routes: list[Route]
) -> None:
    if alert.shadow or await store.transition_known(conn, alert.alert_id, alert.transition_id):
        return
    group = route_alert(region=event.region, fund_code=alert.fund_code, group_code=alert.group_code, routes=routes)
    payload = event.to_json().decode()
    await store.add_inbox(conn, {
        "alert_id": alert.alert_id, "transition_id": alert.transition_id, "group_code": group,
        "region": event.region, "rule_id": alert.rule_id, "level": alert.level.value,
        "transition": alert.transition.value, "title_zh": alert.title_zh, "subject": alert.subject,
        "payload": payload, "received_at": store.utcnow(),
    })
    url = webhook_for(group, settings.notify_group_webhooks, settings.notify_webhook_url)
    if url:
        await store.add_delivery(conn, {
            "alert_id": alert.alert_id, "transition_id": alert.transition_id,
            "channel": DeliveryChannel.webhook.value, "group_code": group, "region": event.region,
            "target": url, "payload": payload,
        })
