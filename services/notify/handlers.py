"""What each consumed event means for notify's tables (called by the Projection inside its
transaction, so a batch, its tracking offsets and these rows commit together).

- `group.assigned` (reference topic): the group's routes within the event's region scope.
- `alert.transitioned` (alert topic): one inbox row for the responsible group, the alert's state
  (for reminders), and for each target of the group and of every group (routing.targets_for):
  a pending delivery (generic webhook, one per transition) or an item waiting for its group's
  message (the other channels). A transition seen before (same
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
from services.notify import channels, store
from services.notify.routing import Route, Target, group_key, route_alert, settings_targets, targets_for
from services.runtime.projection import Apply, Delivery, Outgoing
from services.runtime.settings import Settings


def make_apply(settings: Settings) -> Apply:
    secret = channels.webhook_secret(settings)
    configured = settings_targets(settings.notify_webhook_url, settings.notify_group_webhooks, secret)

    async def apply(conn: AsyncConnection, batch: Sequence[Delivery]) -> list[Outgoing]:
        # Reference data first: an assignment and an alert in one batch come from two topics
        # whose relative order the broker does not define.
        ordered = sorted(batch, key=lambda d: d.event.family != Family.reference)
        routes: list[Route] | None = None
        targets: list[Target] | None = None
        for delivery in ordered:
            event = delivery.event
            if isinstance(event.data, GroupAssigned):
                await assign_group(conn, event, event.data)
                routes = None
            elif isinstance(event.data, AlertTransitioned):
                if routes is None:
                    routes = await store.load_routes(conn)
                if targets is None:
                    targets = configured + await store.load_targets(conn)
                await receive_alert(conn, event, event.data, routes, targets)
        return []

    return apply


async def assign_group(conn: AsyncConnection, event: Envelope, data: GroupAssigned) -> None:
    await store.replace_routes(
        conn, scope=region_prefix(event.region), group_code=data.group_code, group_name=data.group_name,
        fund_codes=data.fund_codes,
    )


def _seq(transition_id: str) -> int:
    tail = transition_id.rsplit(".", 1)[-1].rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 1


async def receive_alert(conn: AsyncConnection, event: Envelope, alert: AlertTransitioned, routes: list[Route],
                        targets: list[Target]) -> None:
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
    await store.record_alert_state(conn, {
        "alert_id": alert.alert_id, "region": event.region, "rule_id": alert.rule_id, "category": alert.category,
        "title_zh": alert.title_zh, "subject": alert.subject, "group_code": group, "level": alert.level.value,
        "open": alert.open, "since": store.naive(alert.at), "seq": _seq(alert.transition_id),
    })
    found = targets_for(group, level=alert.level.value, category=alert.category, rule_id=alert.rule_id,
                        targets=targets)
    await fan_out(conn, alert_id=alert.alert_id, transition_id=alert.transition_id, rule_id=alert.rule_id,
                  group=group, region=event.region, payload=payload, targets=found)


async def fan_out(conn: AsyncConnection, *, alert_id: str, transition_id: str, rule_id: str, group: str,
                  region: str, payload: str, targets: list[Target]) -> None:
    """A generic webhook gets each transition at once; the other channels get it in a grouped message."""
    for target in targets:
        if target.channel == DeliveryChannel.webhook:
            await store.add_delivery(conn, {
                "alert_id": alert_id, "transition_id": transition_id, "channel": target.channel,
                "target_key": target.key, "group_code": group, "region": region, "target": target.target,
                "payload": payload,
            })
        else:
            await store.add_item(conn, {
                "alert_id": alert_id, "transition_id": transition_id, "target_key": target.key,
                "group_key": group_key(target.key, group, rule_id, region), "group_code": group, "region": region,
                "payload": payload,
            })
