"""Who receives an alert: pure functions, no I/O.

Rule (seed 000 art. 19): the group named on the alert if any, else the `group.assigned`
route with the longest region prefix that contains the alert's region and covers its fund
(a route without a fund covers every fund), else the treasury group (国库组), which
organises the monitoring and owns whatever nobody else does."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
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


def webhook_for(group_code: str, group_webhooks: dict[str, str], default: str | None) -> str | None:
    """The webhook URL configured for a group, else the platform default, else none."""
    return group_webhooks.get(group_code) or default


def redact_url(url: str) -> str:
    """A webhook URL fit for logs, events and the API: no credentials, query or fragment
    (chat-bot webhooks carry their secret there)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))[:300]
