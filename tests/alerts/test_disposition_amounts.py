"""Amounts recovered or suspended on a disposition (处理单): exact yuan, validated with the action
they belong to, kept with the disposition and listed with the transition it caused."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from pydantic import ValidationError

from contracts.control import DispositionFiled
from services.alerts.api import create_app
from services.runtime.db import make_engine, migrate
from tests.clients import token_header
from tests.notify.test_channels import settings_for
from tests.notify.test_report import BJ, filed, into_alerts, t

pytestmark = pytest.mark.store


def test_amounts_go_with_their_action() -> None:
    ok = DispositionFiled(disposition_id="D-1", alert_id="A1", action="rectify", actor="王科长", group_code="agri",
                          findings="追回", corrective_actions=["recover"], amount_recovered="12.30")
    assert str(ok.amount_recovered) == "12.30" and ok.amount_suspended is None
    assert '"amount_recovered":"12.30"' in ok.model_dump_json()
    with pytest.raises(ValidationError, match="amount_suspended goes with the corrective action suspend"):
        DispositionFiled(disposition_id="D-1", alert_id="A1", action="rectify", actor="王科长", group_code="agri",
                         findings="追回", corrective_actions=["recover"], amount_suspended="1.00")
    for bad in ("12.345", "-1.00", "1e3", 12.5):
        with pytest.raises(ValidationError, match="amount_recovered"):
            DispositionFiled(disposition_id="D-1", alert_id="A1", action="rectify", actor="王科长",
                             group_code="agri", findings="追回", corrective_actions=["recover"],
                             amount_recovered=bad)


@pytest.fixture
def alerts_db(sqlite_url) -> str:
    migrate(sqlite_url, "alerts")
    return sqlite_url


async def test_the_api_files_shows_and_lists_the_amounts(alerts_db) -> None:
    sqlite_url = alerts_db
    settings = settings_for(database_url=sqlite_url)
    engine = make_engine(sqlite_url)
    at = dt.datetime(2026, 3, 2, 10, tzinfo=BJ)
    await into_alerts(engine, t("A1", 1, "raised", "yellow", at),
                      t("A1", 2, "verified_violation", "red", at + dt.timedelta(days=1), from_level="yellow"))
    member = token_header(settings, "410324", ("agri",))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(engine, settings)),
                                     base_url="http://alerts") as client:
            form = {"action": "rectify", "corrective_actions": ["recover"], "findings": "已追回"}
            bad = await client.post("/v1/alerts/A1/dispositions", json={**form, "amount_recovered": "1.005"},
                                    headers=member)
            assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][-1] == "amount_recovered", bad.text
            alone = await client.post("/v1/alerts/A1/dispositions", json={**form, "amount_suspended": "5.00"},
                                      headers=member)
            assert alone.status_code == 422 and "suspend" in alone.text
            r = await client.post("/v1/alerts/A1/dispositions", json={**form, "amount_recovered": "8000.00"},
                                  headers=member)
            assert r.status_code == 202, r.text
            did = r.json()["disposition_id"]
            shown = (await client.get(f"/v1/dispositions/{did}", headers=member)).json()
            assert (shown["amount_recovered"], shown["amount_suspended"]) == ("8000.00", None)
            # the state machine applies it: the transition names the disposition, the listing its amount
            await into_alerts(engine, filed(did, "A1", at, action="rectify", corrective_actions=["recover"],
                                            amount_recovered="8000.00"),
                              t("A1", 3, "rectified", "green", at + dt.timedelta(days=2), from_level="red",
                                open_=False, actions=["recover"], disposition=did))
            page = (await client.get("/v1/transitions", params={"region": "410324"}, headers=member)).json()
            assert [(i["seq"], i["transition"], i["amount_recovered"]) for i in page["items"]] == [
                (1, "raised", None), (2, "verified_violation", None), (3, "rectified", "8000.00")]
            assert page["total"] == 3
            other = token_header(settings, "410325", ("agri",))
            assert (await client.get("/v1/transitions", headers=other)).json()["total"] == 0
    finally:
        await engine.dispose()
