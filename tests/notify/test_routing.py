"""Unit tier: routing, targets, grouping windows, robot limits, signatures, URL redaction,
backoff (no broker, no database)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import urllib.parse

import pytest

from services.notify.channels import dingtalk_sign, dingtalk_url
from services.notify.delivery import backoff_s
from services.notify.routing import (
    TREASURY,
    Route,
    Target,
    flush_due,
    redact_url,
    robot_slot,
    route_alert,
    settings_targets,
    targets_for,
)
from services.runtime.settings import Settings

ROUTES = [
    Route(scope="41", fund_code=None, group_code="poverty", group_name="扶贫组", seq=1),
    Route(scope="4103", fund_code="F-AGRI", group_code="agri", group_name="农业组", seq=2),
    Route(scope="4103", fund_code=None, group_code="budget", group_name="预算组", seq=3),
    Route(scope="410324", fund_code="F-EDU", group_code="edu", group_name="教科文组", seq=4),
]


@pytest.mark.parametrize(
    ("region", "fund", "expected"),
    [
        ("410324", "F-EDU", "edu"),  # longest prefix that covers the fund
        ("410324", "F-AGRI", "agri"),  # county route is for another fund: city route for this fund
        ("410324", "F-OTHER", "budget"),  # city every-fund route
        ("410322", "F-EDU", "budget"),  # the county route does not contain this county
        ("410100", "F-AGRI", "poverty"),  # other city: province every-fund route
        ("410324", None, "budget"),  # alert without a fund: only every-fund routes match
        ("420100", "F-AGRI", TREASURY),  # nobody owns Hubei: the treasury group
    ],
)
def test_longest_prefix_route_covering_the_fund(region: str, fund: str | None, expected: str) -> None:
    assert route_alert(region=region, fund_code=fund, group_code=None, routes=ROUTES) == expected


def test_group_on_the_alert_wins() -> None:
    assert route_alert(region="410324", fund_code="F-EDU", group_code="audit", routes=ROUTES) == "audit"


def test_no_routes_means_treasury() -> None:
    assert route_alert(region="410324", fund_code="F-EDU", group_code=None, routes=[]) == "treasury"


def test_equal_scope_prefers_fund_specific_then_latest() -> None:
    routes = [
        Route("4103", None, "all-funds", "x", seq=9),
        Route("4103", "F1", "old", "x", seq=1),
        Route("4103", "F1", "new", "x", seq=5),
    ]
    assert route_alert(region="410324", fund_code="F1", group_code=None, routes=routes) == "new"


def test_central_scope_covers_everything() -> None:
    routes = [Route("", None, "central", "中央", seq=1)]
    assert route_alert(region="650100", fund_code=None, group_code=None, routes=routes) == "central"


def test_a_groups_targets_add_to_the_defaults_and_filter() -> None:
    targets = [Target("t1", "*", "wecom", "http://default"),
               Target("t2", "agri", "email", "a@x.cn", levels=("red",)),
               Target("t3", "agri", "dingtalk", "http://d", rule_ids=("USE-05",), categories=("fund usage",)),
               Target("t4", "edu", "webhook", "http://e")]
    keys = lambda **kw: [t.key for t in targets_for(targets=targets, **kw)]  # noqa: E731
    assert keys(group_code="agri", level="yellow", category="fund usage", rule_id="USE-05") == ["t1", "t3"]
    assert keys(group_code="agri", level="red", category="recipients", rule_id="BEN-01") == ["t1", "t2"]
    assert keys(group_code="budget", level="red", category="x", rule_id="USE-05") == ["t1"]
    assert [t.key for t in settings_targets("http://d", {"agri": "http://a"}, "whsec_x")] == [
        "settings:default", "settings:agri"]


def test_group_wait_then_group_interval() -> None:
    t0 = dt.datetime(2026, 3, 2, 9, 0)
    s = dt.timedelta(seconds=1)
    assert not flush_due(t0, None, t0 + 29 * s, wait_s=30, interval_s=300)
    assert flush_due(t0, None, t0 + 30 * s, wait_s=30, interval_s=300)
    assert not flush_due(t0, t0 - 100 * s, t0 + 30 * s, wait_s=30, interval_s=300)  # sent 130 s ago
    assert flush_due(t0, t0 - 300 * s, t0 + 30 * s, wait_s=30, interval_s=300)


def test_robot_slot_queues_past_the_per_minute_limit() -> None:
    now = dt.datetime(2026, 3, 2, 9, 0, 0)
    sent = [now - dt.timedelta(seconds=s) for s in (70, 50, 30, 10)]
    assert robot_slot(sent, now, 4) is None  # the one 70 s ago is outside the minute (+ 1 s margin)
    assert robot_slot(sent, now, 3) == now + dt.timedelta(seconds=11)  # when the oldest of the 3 leaves it
    assert robot_slot(sent, now, 2) == now + dt.timedelta(seconds=31)


def test_dingtalk_signature_is_hmac_of_timestamp_and_secret() -> None:
    secret, ts = "SECabc", 1767225600000
    expected = base64.b64encode(hmac.new(b"SECabc", b"1767225600000\nSECabc", hashlib.sha256).digest()).decode()
    assert urllib.parse.unquote_plus(dingtalk_sign(secret, ts)) == expected
    url = dingtalk_url("https://oapi.dingtalk.com/robot/send?access_token=T", secret, ts)
    assert dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query)) == {
        "access_token": "T", "timestamp": str(ts), "sign": expected}


def test_redact_url_drops_credentials_and_query() -> None:
    assert redact_url("https://user:pw@hooks.example.cn:8443/robot/send?access_token=s3cret#x") == (
        "https://hooks.example.cn:8443/robot/send"
    )


def test_backoff_doubles_from_the_base() -> None:
    settings = Settings(notify_retry_base_s=0.5)
    assert [backoff_s(settings, n) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]
