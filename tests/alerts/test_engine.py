"""Both engine stages together, in memory (the harness calls the same `route` and
`Engine.process` as the faust worker): redelivery, ordering, time, configuration, and the
whole demo against its ground truth with the real ledger's derived stream."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import pytest

from contracts.control import RuleConfigured
from contracts.types import keyed_hash
from services import demo
from services.alerts.clock import ClockMode
from services.alerts.config import RuleConfigs
from tests import factories as f
from tests.alerts.harness import PII_KEY, Harness, with_ledger

PERSON = f.citizen_id(7)
OTHER = f.citizen_id(8, county="410325")


def subsidy(payment_id: str, person: str, region: str = "410324", date: str = "2026-03-02", **extra) -> dict:
    e = f.payment(payment_id, "IND-1", "8000.00", person=person, region=region, payment_date=date,
                  subsidy_lines=[{"person": person, "name": "王五", "subsidy_type": "到户增收", "payable": "8000.00",
                                  "paid": "8000.00"}], **extra)
    e["time"] = f"{date}T10:00:00+08:00"
    return e


def raised(h: Harness, rule: str | None = None) -> list:
    return [t for t in h.transitions if t.kind.value == "raised" and (rule is None or t.rule_id == rule)
            and (rule is not None or t.rule_id != "ACC-01")]  # the test payer account is not registered


def test_one_alert_per_rule_and_subject_however_often_redelivered():
    h = Harness()
    events = [f.household(OTHER), subsidy("ZF1", PERSON)]
    h.feed(events)
    h.feed(events)  # redelivered
    h.feed(events[1:])
    assert [(t.rule_id, t.subject.split("/person/")[0]) for t in raised(h)] == [("BEN-01", "payment/ZF1")]


def test_a_check_waits_for_reference_data_still_on_its_way():
    h = Harness()
    h.engine.reference_partitions = 2  # one of two reference partitions not read up to the payment yet
    h.feed([subsidy("ZF1", PERSON)])
    assert raised(h) == []
    h.engine.reference_partitions = 1
    h.feed([f.household(PERSON)])  # … and the registry entry arrives
    h.tick()
    assert raised(h) == []
    h.feed([subsidy("ZF2", OTHER)])  # with the reference data read: a person it does not know is BEN-01
    assert [t.rule_id for t in raised(h) if t.rule_id.startswith("BEN")] == ["BEN-01"]


def test_same_subsidy_twice_across_counties_and_shared_account():
    h = Harness()
    h.feed([f.household(PERSON), f.household(OTHER, region="410325100")])
    h.feed([subsidy("ZF1", PERSON, date="2026-03-02")])
    h.feed([subsidy("ZF2", PERSON, region="410325", date="2026-05-06")])  # another county, same person and type
    other = subsidy("ZF3", OTHER, region="410325", date="2026-05-07")  # into ZF1's card account (6222020200119999)
    h.feed([other])
    found = {(t.rule_id, t.subject.split("/person/")[0]) for t in raised(h)}
    assert ("BEN-04", "payment/ZF2") in found
    assert ("ACC-02", "account/" + keyed_hash(PII_KEY, "6222020200119999")) in found


def test_wall_clock_rings_the_bell_then_escalates():
    h = Harness(mode=ClockMode.wall, wall=dt.datetime(2026, 2, 27, 12, tzinfo=dt.UTC).timestamp())
    issued = f.issued("XD-9", "IND-410300-9", "410324", "100000.00", "410300")
    issued["data"]["issued_on"] = "2026-02-27"
    h.feed([f.registered("IND-410300-9", "100000.00", region="410300"), issued])
    assert raised(h, "IND-01") == []
    h.tick(dt.datetime(2026, 3, 3, 1, tzinfo=dt.UTC).timestamp())  # 09:00 in Beijing on the bell day
    assert [t.level for t in h.transitions if t.rule_id == "IND-01"] == ["bell"]
    h.tick(dt.datetime(2026, 3, 6, 1, tzinfo=dt.UTC).timestamp())  # the deadline (5 March) has passed
    assert [t.level for t in h.transitions if t.rule_id == "IND-01"] == ["bell", "yellow"]


def test_event_time_clears_a_bell_when_the_work_is_done_in_time():
    h = Harness()
    issued = f.issued("XD-9", "IND-410300-9", "410324", "100000.00", "410300")
    issued["data"]["issued_on"] = "2026-02-27"
    receipt = f.registered("IND-410324-9", "100000.00", source="upper_transfer", upper_indicator_id="XD-9",
                           upper_region="410300", doc_scan_ref="oss://x.pdf")
    receipt["data"]["registered_on"] = "2026-03-04"  # after the bell day (3 March), before the deadline
    receipt["time"] = "2026-03-04T10:00:00+08:00"
    h.feed([f.registered("IND-410300-9", "100000.00", region="410300"), issued])
    h.feed([receipt])
    assert [(t.kind.value, t.level, t.at[:10]) for t in h.transitions if t.rule_id == "IND-01"] == [
        ("raised", "bell", "2026-03-03"), ("cleared", "green", "2026-03-04")]


def test_configuration_per_budget_year_applies_at_once():
    configs = RuleConfigs()
    h = Harness(configs=configs)
    h.feed([f.household(PERSON)])
    configs.apply(RuleConfigured(rule_id="BEN-05", budget_year=2026, enabled=False))
    configs.apply(RuleConfigured(rule_id="USE-07", budget_year=2026, shadow=True, level="red"))
    bad = subsidy("ZF1", PERSON, channel="direct")
    bad["data"]["subsidy_lines"][0]["payable"] = "9000.00"
    h.feed([bad])
    (use07,) = raised(h, "USE-07")
    assert use07.shadow and use07.level == "red" and raised(h, "BEN-05") == []
    configs.apply(RuleConfigured(rule_id="BEN-05", budget_year=2026, enabled=True))
    again = subsidy("ZF2", PERSON, date="2026-04-02")
    again["data"]["subsidy_lines"][0]["payable"] = "9000.00"
    again["data"]["subsidy_lines"][0]["subsidy_type"] = "雨露计划"
    h.feed([again])
    assert len(raised(h, "BEN-05")) == 1
    other_year = subsidy("ZF3", PERSON, date="2027-01-05", channel="direct")  # 2027 runs on the defaults
    other_year["data"]["subsidy_lines"][0]["subsidy_type"] = "学生资助"
    h.feed([other_year])
    assert [t.shadow for t in raised(h, "USE-07")] == [True, False]


def test_dispositions_through_the_engine():
    h = Harness()
    h.feed([f.household(OTHER), subsidy("ZF1", PERSON)])
    (alert,) = raised(h, "BEN-01")

    def command(n: int, action: str, **extra) -> dict:
        return f.event("alert.disposition_filed", {
            "disposition_id": f"D-{n}", "alert_id": alert.alert_id, "action": action, "actor": "王科长",
            "group_code": "treasury", "findings": "核实：不在名单", **extra}, id=f"D-{n}")

    h.feed([command(1, "rectify", corrective_actions=["recover"])])
    assert "only a red" in h.refusals[0]["reason"]
    h.feed([command(2, "verify_violation", method="visit"), command(3, "rectify", corrective_actions=["recover"])])
    assert [t.level for t in h.transitions if t.alert_id == alert.alert_id] == ["yellow", "red", "green"]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    dataset = demo.generate(size=600)
    events = with_ledger(dataset.events, str(tmp_path_factory.mktemp("ledger") / "ledger.db"))
    h = Harness()
    h.feed(events)
    h.flush()
    h.tick()
    return dataset, events, h


def alert_keys(h: Harness) -> dict[str, set[str]]:
    """(rule → natural keys) of the alerts that reached yellow or red (bells cleared in time are reminders)."""
    got: dict[str, set[str]] = defaultdict(set)
    for ts in h.alerts().values():
        if any(t.level in ("yellow", "red") for t in ts):
            got[ts[0].rule_id].add(ts[0].subject.split("/person/")[0])
    return got


def truth_keys(dataset) -> dict[str, set[str]]:
    want: dict[str, set[str]] = defaultdict(set)
    for t in dataset.ground_truth:
        subject = t["refs"]["subject"]
        if t["rule_id"] == "ACC-02":
            subject = "account/" + keyed_hash(PII_KEY, t["refs"]["account"])
        want[t["rule_id"]].add(subject)
    return want


def test_demo_offline_every_injected_case_and_nothing_else(demo_run):
    dataset, _events, h = demo_run
    got, want = alert_keys(h), truth_keys(dataset)
    assert len(want) == 47
    report = {rule: (len(got[rule] & want[rule]) / len(got[rule]) if got[rule] else 0.0,
                     len(got[rule] & want[rule]) / len(want[rule]))
              for rule in want}
    assert {r: pr for r, pr in report.items() if pr != (1.0, 1.0)} == {}, "per-rule (precision, recall)"
    assert set(got) <= set(want)


def test_demo_offline_replayed_twice_raises_nothing_new(demo_run):
    _dataset, events, h = demo_run
    before = list(h.transitions)
    h.feed(events)
    h.flush()
    h.tick()
    assert h.transitions == before


def test_progress_rules_whatever_comes_first_registration_or_postings():
    """The ledger's postings and the registration travel on two topics: either may come first."""
    from tests.alerts.builders import posting

    reg = f.registered("IND-410324-7", "1000000.00", source="upper_transfer", upper_indicator_id="XD-7",
                       upper_region="410300", doc_scan_ref="oss://x.pdf")
    reg["data"]["registered_on"], reg["time"] = "2026-02-02", "2026-02-02T10:00:00+08:00"
    postings = [
        posting(1, "IND-410324-7", "indicator.registered", "2026-02-02", {"4001": "1000000.00", "5001": "1000000.00"},
                [("1001", "4001", "1000000.00"), ("5001", "1001", "1000000.00")]),
        posting(2, "IND-410324-7", "indicator.allocated", "2026-02-04", {"4001": "1000000.00", "500201": "1000000.00"},
                [("500201", "5001", "1000000.00")]),
        posting(3, "IND-410324-7", "payment.made", "2026-08-03",
                {"4001": "1000000.00", "500201": "800000.00", "5201": "200000.00"}, [("5201", "500201", "200000.00")]),
    ]
    for order in ([reg, *postings], [*postings, reg]):
        h = Harness()
        h.feed(order, batch=1)
        idle = [t for t in raised(h, "PRG-02")]
        assert [t.subject for t in idle] == ["indicator/IND-410324-7/idle"], order[0]
        assert "since 2026-02-04" in idle[0].findings
