"""Unit tier: routing, webhook choice, URL redaction, backoff (no broker, no database)."""

from __future__ import annotations

import pytest

from services.notify.delivery import backoff_s
from services.notify.routing import TREASURY, Route, redact_url, route_alert, webhook_for
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


def test_webhook_for_group_then_default() -> None:
    assert webhook_for("agri", {"agri": "http://a/hook"}, "http://default") == "http://a/hook"
    assert webhook_for("edu", {"agri": "http://a/hook"}, "http://default") == "http://default"
    assert webhook_for("edu", {}, None) is None


def test_redact_url_drops_credentials_and_query() -> None:
    assert redact_url("https://user:pw@hooks.example.cn:8443/robot/send?access_token=s3cret#x") == (
        "https://hooks.example.cn:8443/robot/send"
    )


def test_backoff_doubles_from_the_base() -> None:
    settings = Settings(notify_retry_base_s=0.5)
    assert [backoff_s(settings, n) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 4.0]
