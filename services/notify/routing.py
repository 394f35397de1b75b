"""Who receives an alert: pure functions, no I/O.

Rule (seed 000 art. 19): the group named on the alert if any, else the `group.assigned`
route with the longest region prefix that contains the alert's region and covers its fund
(a route without a fund covers every fund), else the treasury group (国库组), which
organises the monitoring and owns whatever nobody else does."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

TREASURY = "treasury"  # 国库组


@dataclass(frozen=True)
class Route:
    """One row of a `group.assigned` event: `scope` is a region prefix ('' = everywhere)."""

    scope: str
    fund_code: str | None
    group_code: str
    group_name: str
    seq: int = 0  # larger = assigned later; breaks ties between equally specific routes


def route_alert(*, region: str, fund_code: str | None, group_code: str | None, routes: Iterable[Route]) -> str:
    """The code of the responsible group for an alert raised in `region` about `fund_code`.

    Among matching routes the longest scope wins; at equal scope a fund-specific route beats
    an every-fund route, then the later assignment wins."""
    if group_code:
        return group_code
    matching = [
        r for r in routes
        if region.startswith(r.scope) and (r.fund_code is None or r.fund_code == fund_code)
    ]
    if not matching:
        return TREASURY
    best = max(matching, key=lambda r: (len(r.scope), r.fund_code is not None, r.seq))
    return best.group_code


EVERY_GROUP = "*"  # a target of every group: the default, to which a group's own targets add


@dataclass(frozen=True)
class Target:
    """Where a group's alerts go on one channel; empty filters match everything."""

    key: str  # "t<id>" for a target kept in notify_targets, "settings:…" for one from the settings
    group_code: str
    channel: str
    target: str
    secret: str | None = None
    levels: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    rule_ids: tuple[str, ...] = ()
    recipients: tuple[str, ...] = field(default=())

    def matches(self, group_code: str, level: str, category: str, rule_id: str) -> bool:
        return (self.group_code in (EVERY_GROUP, group_code) and (not self.levels or level in self.levels)
                and (not self.categories or category in self.categories)
                and (not self.rule_ids or rule_id in self.rule_ids))


def targets_for(group_code: str, *, level: str, category: str, rule_id: str,
                targets: Iterable[Target]) -> list[Target]:
    """Every target an alert of `group_code` goes to: the defaults and the group's own (they add up)."""
    return [t for t in targets if t.matches(group_code, level, category, rule_id)]


def settings_targets(default_url: str | None, group_webhooks: dict[str, str], secret: str) -> list[Target]:
    """The generic webhooks named in the settings, as targets (the default and each group's)."""
    found = [Target("settings:default", EVERY_GROUP, "webhook", default_url, secret)] if default_url else []
    return found + [Target(f"settings:{code}"[:40], code, "webhook", url, secret)
                    for code, url in sorted(group_webhooks.items())]


def group_key(target_key: str, group_code: str, rule_id: str, region: str) -> str:
    """Alerts of one group, rule and region to one target are listed in one message."""
    return f"{target_key}|{group_code}|{rule_id}|{region}"


def flush_due(oldest: dt.datetime, last_flush: dt.datetime | None, now: dt.datetime, *, wait_s: float,
              interval_s: float) -> bool:
    """Alertmanager's group_wait / group_interval: a group's first message waits `wait_s` after its
    oldest alert for more to join; later ones go at most every `interval_s`."""
    if (now - oldest).total_seconds() < wait_s:
        return False
    return last_flush is None or (now - last_flush).total_seconds() >= interval_s


ROBOT_WINDOW_S = 61.0  # a minute, plus a second for the send itself: the robot counts arrivals, not claims


def robot_slot(sent: Sequence[dt.datetime], now: dt.datetime, per_minute: int) -> dt.datetime | None:
    """None when a robot may take one more message now (fewer than `per_minute` sent in the last
    minute), else the moment it may: the message waits in the queue until then, never dropped."""
    recent = sorted(t for t in sent if (now - t).total_seconds() < ROBOT_WINDOW_S)
    if len(recent) < per_minute:
        return None
    return recent[len(recent) - per_minute] + dt.timedelta(seconds=ROBOT_WINDOW_S)


def redact_url(url: str) -> str:
    """A webhook URL fit for logs, events and the API: no credentials, query or fragment
    (chat-bot webhooks carry their secret there)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))[:300]
