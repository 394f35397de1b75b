"""The alerts read model on SQLite and PostgreSQL: what the projection writes, what the API reads."""

from __future__ import annotations

import asyncio
import datetime as dt

from contracts import make_event
from contracts.alert import AlertTransitioned, DispositionRefused
from contracts.control import DispositionFiled, RuleConfigured
from services.alerts import handlers, store
from services.runtime.db import make_engine, migrate
from services.runtime.projection import Delivery

AT = dt.datetime(2026, 3, 2, 10, tzinfo=dt.timezone(dt.timedelta(hours=8)))


def transition(seq: int, kind: str, level: str, open_: bool = True, **kw) -> object:
    data = AlertTransitioned(alert_id="BEN-01-abc", transition_id=f"BEN-01-abc.{seq}", transition=kind, rule_id="BEN-01",
                             category="recipients", title_zh="受益对象不在建档立卡贫困人口名单", title_en="Beneficiary",
                             subject="payment/ZF1/person/x", level=level, open=open_, group_code="agri-410324",
                             at=AT + dt.timedelta(days=seq), findings=f"step {seq}",
                             evidence=[{"event_id": "demo-1", "type": "payment.made", "facts": {"amount": "8000.00"}}],
                             **kw)
    return make_event("alert.transitioned", data, id=data.transition_id, region="410324", time=data.at)


def run(url: str, events: list) -> dict:
    migrate(url, "alerts")

    async def go() -> dict:
        engine = make_engine(url)
        try:
            for batch in events:
                async with engine.begin() as conn:
                    await handlers.apply(conn, [Delivery(None, e) for e in batch])  # type: ignore[arg-type]
            async with engine.connect() as conn:
                return {
                    "alert": await store.get_alert(conn, "BEN-01-abc"),
                    "history": await store.history(conn, "BEN-01-abc"),
                    "dispositions": await store.dispositions_of(conn, "BEN-01-abc"),
                    "page": await store.list_alerts(conn, store.AlertFilter("4103", level="red"), 10, 0),
                    "other_county": await store.list_alerts(conn, store.AlertFilter("410325"), 10, 0),
                    "counts": await store.counts(conn),
                    "configs": await store.list_configs(conn),
                }
        finally:
            await engine.dispose()

    return asyncio.run(go())


def test_projection_of_the_life_cycle(database_url):
    filed = DispositionFiled(disposition_id="D-1", alert_id="BEN-01-abc", action="verify_violation", actor="王科长",
                             group_code="agri-410324", method="visit", findings="走访核实")
    refused = DispositionRefused(disposition_id="D-2", alert_id="BEN-01-abc", action="verify_normal", actor="王科长",
                                 reason="cannot verify_normal a red alert", level="red", at=AT)
    config = RuleConfigured(rule_id="BEN-01", budget_year=2026, shadow=True)
    raised = transition(1, "raised", "yellow")
    red = transition(2, "verified_violation", "red", disposition_id="D-1", method="visit")
    events = [
        [raised, make_event("alert.disposition_filed", filed, id="D-1", region="410324", time=AT)],
        [red, raised, red],  # redelivered out of order: changes nothing
        [make_event("alert.disposition_refused", refused, id="D-2.refused", region="410324", time=AT),
         make_event("rule.configured", config, id="cfg-1", region="410000", time=AT)],
    ]
    out = run(database_url, events)
    alert = out["alert"]
    assert (alert["level"], alert["open"], alert["transitions"], alert["last_transition"]) == ("red", True, 2,
                                                                                              "verified_violation")
    assert alert["findings"] == "step 1" and alert["group_code"] == "agri-410324"
    assert [(t["seq"], t["kind"]) for t in out["history"]] == [(1, "raised"), (2, "verified_violation")]
    assert out["history"][0]["evidence"][0]["facts"] == {"amount": "8000.00"}
    by_id = {d["disposition_id"]: d for d in out["dispositions"]}
    assert by_id["D-1"]["status"] == "applied" and by_id["D-1"]["transition_id"] == "BEN-01-abc.2"
    assert by_id["D-2"]["status"] == "refused" and "red alert" in by_id["D-2"]["reason"]
    assert out["page"].total == 1 and out["other_county"].total == 0
    assert out["counts"]["by_level"] == {"red": 1} and out["configs"][0]["payload"]["shadow"] is True
