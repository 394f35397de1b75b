"""Rule parameters (seed 000 art. 18: the upper bureau sets thresholds per budget year and region).

1. No dead parameters: for every parameter of every rule in the catalogue, a case where changing only
   that parameter (through `rule.configured`, as the upper bureau does) turns the rule's outcome from
   found to not found or back. The list is generated from the catalogue: a parameter without a case
   fails the suite.
2. Configuration is validated against each rule's parameter schema (`param_problems` names the
   parameter; `RuleConfigs.apply` refuses what the rule cannot use).
3. Precedence of scoped configuration: Ministry (000000) < province < city < county, whatever order
   the configurations arrived in."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from contracts.alert import AlertLevel
from contracts.control import RuleConfigured
from services.alerts.catalogue import CATALOGUE
from services.alerts.config import RuleConfigs, param_kind, param_problems
from services.alerts.deadlines import ESCALATE, tick
from services.alerts.rules import allocation as alc
from services.alerts.rules import indicators as ind
from services.alerts.rules import performance as perf
from services.alerts.rules import progress as prg
from services.alerts.rules import recipients as ben
from services.alerts.rules import usage as use
from services.alerts.rules.registry import Rules
from services.runtime.calendar import CST
from tests import factories as wire
from tests.alerts.builders import FUNDS, allocation, doc, issue, line, pay, project_pay, record, run
from tests.alerts.harness import Harness

YEAR, COUNTY = 2026, "410324"
ALL_PARAMS = sorted((rule, name) for rule, spec in CATALOGUE.items() for name in spec.params)


def configured(rule: str, year: int = YEAR, scope: str = "000000", **fields: Any) -> RuleConfigured:
    return RuleConfigured(rule_id=rule, budget_year=year, scope=scope, **fields)


def with_param(rule: str, name: str, value: Any) -> RuleConfigs:
    configs = RuleConfigs()
    assert configs.apply(configured(rule, params={name: value})), (rule, name, value)
    return configs


def escalated(fn: Callable[..., Any], *args: Any, now: dt.datetime) -> Callable[[RuleConfigs], bool]:
    """A deadline rule's outcome: has its item escalated by `now`?"""
    def outcome(configs: RuleConfigs) -> bool:
        cfg = Rules(configs).config(fn.rule_id, YEAR, COUNTY)  # type: ignore[attr-defined]
        assert cfg is not None
        item = fn(cfg, *args)
        return any(f.op == ESCALATE for f in tick(item, now)[1])
    return outcome


def found(fn: Callable[..., Any], *args: Any, year: int = YEAR) -> Callable[[RuleConfigs], bool]:
    """An event rule's outcome: did it find anything (gated through the registry, as an entity runs it)?"""
    return lambda configs: bool(run(fn, *args, configs=configs, year=year, region=COUNTY))


def local(day: str) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(12), CST)


# ------------------------------------------------------------------ entity-level outcomes (the harness)


def at(day: str) -> str:
    return f"{day}T10:00:00+08:00"


def _books(*payments: tuple[str, str], allocated: str = "1000000.00") -> list[dict]:
    """An indicator of 1,000,000 received on 2 February, allocated on 4 February, then paid (day, yuan) …, as
    the ledger's derived stream; and another county's record of 31 December (the input reaches year end)."""
    def posting(seq: int, kind: str, on: str, moves: list[tuple[str, str, str]]) -> dict:
        return wire.event("ledger.posting_applied", {
            "posting_id": f"P{seq}", "journal_seq": seq, "source_event_id": f"s{seq}", "source_event_type": kind,
            "source_subject": f"X{seq}", "indicator_id": "IND-410324-1", "booked_on": on, "red_ink": False,
            "balances": {}, "moves": [{"debit": d, "credit": c, "amount": a} for d, c, a in moves]},
            COUNTY, id=f"ledger:{seq}", time=at(on))

    reg = wire.registered("IND-410324-1", "1000000.00", source="upper_transfer", upper_indicator_id="XD-1",
                          upper_region="410300", doc_scan_ref="oss://a.pdf", registered_on="2026-02-02")
    reg["time"] = at("2026-02-02")
    out = [reg, posting(1, "indicator.registered", "2026-02-02",
                        [("1001", "4001", "1000000.00"), ("5001", "1001", "1000000.00")]),
           posting(2, "indicator.allocated", "2026-02-04", [("500201", "5001", allocated)])]
    out += [posting(n, "payment.made", day, [("5201", "500201", amount)]) for n, (day, amount) in
            enumerate(payments, start=3)]
    until = wire.event("region.registered", {"code": "411624", "name": "淅川县", "level": "county", "parent": "411600"},
                       "411624", time=at("2026-12-31"))
    return [*out, until]


def raised_by_engine(rule: str, events: list[dict]) -> Callable[[RuleConfigs], bool]:
    def outcome(configs: RuleConfigs) -> bool:
        h = Harness(configs=configs)
        h.feed(events)
        h.flush()
        return bool(h.raised(rule))
    return outcome


# ------------------------------------------------------------------ the cases

BALANCES = {"4001": 100_000_000, "500201": 90_000_000, "5201": 10_000_000}  # 1,000,000 received, 100,000 paid
FOUNDED = record("business_registration", "2026-01-10")  # 51 days before the payment of 2 March


@dataclass(frozen=True)
class Case:
    value: Any  # the parameter's new value (the catalogue's default is the other side)
    outcome: Callable[[RuleConfigs], bool]
    why: str


CASES: dict[tuple[str, str], Case] = {
    ("IND-01", "working_days"): Case(10, escalated(ind.ind01_deadline, issue(on="2026-02-27"), now=local("2026-03-07")),
                                     "due 5 March with 5 working days, 13 March with 10"),
    ("IND-04", "pattern"): Case(r"^[\d-]+$", found(ind.ind04_irregular_doc_no, doc(doc_no="2-14-80")),
                                "bare digits are the expected form under the new pattern"),
    ("ALC-01", "days"): Case(60, escalated(alc.alc01_deadline, doc(), dt.date(2026, 2, 2), now=local("2026-03-10")),
                             "due 4 March with 30 days, 3 April with 60"),
    ("ALC-03", "generic"): Case("道路硬化工程", found(alc.alc03_project_name, allocation(project_name="道路硬化工程")),
                                "the name becomes a generic one"),
    ("ALC-03", "min_length"): Case(5, found(alc.alc03_project_name, allocation(project_name="村道硬化")),
                                   "four characters are too short once five are required"),
    ("ALC-05", "basic_prefixes"): Case("399", found(alc.alc05_outside_scope, allocation(economic_class="30101"),
                                                    FUNDS["C22"], "2130504"),
                                       "30101 (salaries) no longer counts as basic expenditure"),
    ("ALC-06", "due"): Case("06-30", escalated(alc.alc06_deadline, doc(advance=True, on="2025-11-20"),
                                               now=local("2026-04-05")),
                            "due 31 March by default, 30 June configured"),
    ("PRG-01", "factor"): Case("0.2", found(prg.prg01_behind_schedule, "I", COUNTY, dt.date(2026, 2, 2),
                                            dt.date(2026, 6, 30), BALANCES),
                               "10 % spent: below 0.4 × 44.6 %, above 0.2 × 44.6 %"),
    ("PRG-01", "min_age_days"): Case(150, found(prg.prg01_behind_schedule, "I", COUNTY, dt.date(2026, 2, 2),
                                                dt.date(2026, 6, 30), BALANCES),
                                     "148 days old at the checkpoint"),
    ("PRG-01", "min_amount"): Case("2000000", found(prg.prg01_behind_schedule, "I", COUNTY, dt.date(2026, 2, 2),
                                                    dt.date(2026, 6, 30), BALANCES),
                                   "1,000,000 to spend"),
    ("PRG-02", "idle_days"): Case(121, found(prg.prg02_idle, "I", COUNTY, dt.date(2026, 2, 4), dt.date(2026, 6, 4),
                                             BALANCES),
                                  "120 days without a payment"),
    ("PRG-02", "min_amount"): Case("1000000", found(prg.prg02_idle, "I", COUNTY, dt.date(2026, 2, 4),
                                                    dt.date(2026, 6, 4), BALANCES),
                                   "900,000 idle"),
    ("PRG-03", "max_unspent_share"): Case("0.95", found(prg.prg03_unspent, "I", COUNTY, dt.date(2026, 12, 15),
                                                        BALANCES),
                                          "90 % unspent"),
    ("PRG-03", "min_amount"): Case("2000000", found(prg.prg03_unspent, "I", COUNTY, dt.date(2026, 12, 15), BALANCES),
                                   "1,000,000 received"),
    ("PRG-05", "held_days"): Case(350, raised_by_engine("PRG-05", _books(allocated="500000.00")),
                                  "half unallocated on day 60; day 350 is next year"),
    ("PRG-05", "min_share"): Case("0.6", found(prg.prg05_held_up, "I", COUNTY, dt.date(2026, 2, 2),
                                               dt.date(2026, 4, 3), {"4001": 100_000_000, "5001": 50_000_000}),
                                  "50 % still unallocated"),
    ("PRG-05", "min_amount"): Case("600000", found(prg.prg05_held_up, "I", COUNTY, dt.date(2026, 2, 2),
                                                   dt.date(2026, 4, 3), {"4001": 100_000_000, "5001": 50_000_000}),
                                   "500,000 still unallocated"),
    ("PRG-06", "window_start"): Case("11-25", raised_by_engine("PRG-06", _books(("2026-06-01", "200000.00"),
                                                                                ("2026-11-20", "600000.00"))),
                                     "the 600,000 of 20 November fall before a window from 25 November"),
    ("PRG-06", "max_share"): Case("0.8", found(prg.prg06_surge, "I", COUNTY, dt.date(2026, 11, 20), 80_000_000,
                                               60_000_000),
                                  "75 % of the year's payments in the window"),
    ("PRG-06", "min_amount"): Case("700000", found(prg.prg06_surge, "I", COUNTY, dt.date(2026, 11, 20), 80_000_000,
                                                   60_000_000),
                                   "600,000 in the window"),
    ("USE-02", "max_ahead_days"): Case(2, found(use.use02_payment_date, pay(date="2026-03-04")),
                                       "recorded 2 March, dated 4 March"),
    ("USE-03", "prohibited"): Case("301", found(use.use03_prohibited_class, pay(economic_class="30217")),
                                   "hospitality (30217) taken off the list"),
    ("USE-04", "cash_limit"): Case("70000", found(use.use04_cash, pay(settlement="cash", amount=Decimal("60000.00"))),
                                   "60,000 in cash"),
    ("USE-05", "window_days"): Case(5, found(use.use05_duplicate, project_pay(pid="ZF2", date="2026-03-12"),
                                             [project_pay(pid="ZF1", date="2026-03-02")]),
                                    "the repeat ten days later"),
    ("USE-06", "threshold"): Case("120000", found(use.use06_split, [
        project_pay(pid="ZF1", amount=Decimal("60000.00"), date="2026-03-02"),
        project_pay(pid="ZF2", amount=Decimal("50000.00"), date="2026-03-04", purpose="二期")],
        project_pay(pid="ZF2", amount=Decimal("50000.00"), date="2026-03-04", purpose="二期")),
        "110,000 in two parts"),
    ("USE-06", "window_days"): Case(1, found(use.use06_split, [
        project_pay(pid="ZF1", amount=Decimal("60000.00"), date="2026-03-02"),
        project_pay(pid="ZF2", amount=Decimal("50000.00"), date="2026-03-04", purpose="二期")],
        project_pay(pid="ZF2", amount=Decimal("50000.00"), date="2026-03-04", purpose="二期")),
        "two days apart"),
    ("USE-06", "min_part_share"): Case("0.55", found(use.use06_split, [
        project_pay(pid="ZF1", amount=Decimal("60000.00"), date="2026-03-02"),
        project_pay(pid="ZF2", amount=Decimal("50000.00"), date="2026-03-04", purpose="二期")],
        project_pay(pid="ZF2", amount=Decimal("50000.00"), date="2026-03-04", purpose="二期")),
        "50,000 is no longer a part of a split 100,000"),
    ("USE-09", "keywords"): Case("罚款", found(use.use09_purpose, pay(purpose="春节慰问品采购")),
                                 "慰问品 taken off the list"),
    ("BEN-02", "kinds"): Case("vehicle", found(ben.ben02_disqualifying_record, pay(), line(),
                                               [record("deed_tax", "2025-06-01")]),
                              "deed tax no longer disqualifies"),
    ("BEN-02", "lookback_days"): Case(200, found(ben.ben02_disqualifying_record, pay(), line(),
                                                 [record("deed_tax", "2025-06-01")]),
                                      "the deed-tax record is 274 days old"),
    ("BEN-04", "period"): Case("month", found(ben.ben04_twice, pay(pid="ZF2", date="2026-05-06"), line(),
                                              [(pay(pid="ZF1"), line())]),
                               "March and May: one year, two months"),
    ("BEN-06", "statuses"): Case("注销", found(ben.ben06_bad_status, project_pay(), [
        record("business_status", "2026-01-10", status="吊销")]), "revoked (吊销) no longer counts"),
    ("BEN-07", "max_age_days"): Case(30, found(ben.ben07_young_enterprise, project_pay(amount=Decimal("300000.00")),
                                               FOUNDED),
                                     "founded 51 days before"),
    ("BEN-07", "min_amount"): Case("400000", found(ben.ben07_young_enterprise,
                                                   project_pay(amount=Decimal("300000.00")), FOUNDED),
                                   "300,000 paid"),
    ("PERF-01", "working_days"): Case(10, escalated(perf.perf01_deadline, "XM1", COUNTY, dt.date(2026, 3, 2), (),
                                                    now=local("2026-03-12")),
                                      "due 9 March with 5 working days, 16 March with 10"),
    ("PERF-02", "factor"): Case("0.2", found(perf.perf02_behind, "XM1", COUNTY, at("2026-07-03"), "M1", "道路",
                                             Decimal(100), Decimal(10), dt.date(2026, 3, 6), dt.date(2026, 12, 31),
                                             dt.date(2026, 6, 30), ()),
                                "10 done of 38.7 expected: below half, above a fifth"),
    ("PERF-02", "min_expected_share"): Case("0.5", found(perf.perf02_behind, "XM1", COUNTY, at("2026-07-03"), "M1",
                                                         "道路", Decimal(100), Decimal(10), dt.date(2026, 3, 6),
                                                         dt.date(2026, 12, 31), dt.date(2026, 6, 30), ()),
                                            "38.7 % of the time has passed"),
    ("PERF-03", "working_days"): Case(15, escalated(perf.perf03_deadline, "XM1", COUNTY, dt.date(2026, 6, 30), (),
                                                    now=local("2026-07-16")),
                                      "due 14 July with 10 working days, 21 July with 15"),
    ("PERF-03", "min_age_days"): Case(90, lambda configs: perf.perf03_applies(
        configs.get("PERF-03", YEAR, COUNTY), dt.date(2026, 5, 1), dt.date(2026, 6, 30)),
        "first allocated 60 days before the period's end"),
    ("PERF-04", "tolerance_share"): Case("0.1", found(perf.perf04_below_target, "XM1", COUNTY, Decimal(85), Decimal(90),
                                                      Decimal(100), "2026-12-20", at("2026-12-20"), None),
                                         "5 points short on 100"),
}


@pytest.mark.parametrize(("rule", "name"), ALL_PARAMS, ids=[f"{r}:{n}" for r, n in ALL_PARAMS])
def test_every_parameter_changes_its_rules_outcome(rule: str, name: str):
    case = CASES.get((rule, name))
    assert case is not None, f"{rule} parameter {name!r} has no case here: is it read at all?"
    default = RuleConfigs()
    assert case.value != CATALOGUE[rule].params[name]
    before, after = case.outcome(default), case.outcome(with_param(rule, name, case.value))
    assert before != after, f"{rule}.{name}={case.value!r} did not change the outcome ({case.why})"


def test_no_case_for_a_parameter_the_catalogue_does_not_have():
    assert sorted(CASES) == ALL_PARAMS


def test_changing_a_parameter_changes_only_that_rule():
    configs = with_param("USE-04", "cash_limit", "70000")
    assert configs.get("USE-04", YEAR, COUNTY).params["cash_limit"] == "70000"
    assert configs.get("USE-04", YEAR + 1, COUNTY).params["cash_limit"] == "50000"  # another budget year
    assert configs.get("USE-05", YEAR, COUNTY).params == CATALOGUE["USE-05"].params
    assert dict(configs.get("USE-04", YEAR, COUNTY).params) == {**CATALOGUE["USE-04"].params, "cash_limit": "70000"}


# ------------------------------------------------------------------ validation against the parameter schema


@pytest.mark.parametrize(("rule", "params", "name", "why"), [
    ("USE-04", {"cash_limit": "abc"}, "cash_limit", "not a decimal number"),
    ("USE-04", {"cash_limit": "-1"}, "cash_limit", "≥ 0"),
    ("USE-04", {"cash_limit": "NaN"}, "cash_limit", "finite"),
    ("USE-04", {"cash_limit": True}, "cash_limit", "decimal number"),
    ("USE-04", {"cash_limt": "1000"}, "cash_limt", "has no parameter 'cash_limt' (its parameters: cash_limit)"),
    ("USE-07", {"threshold": "1"}, "threshold", "its parameters: none"),
    ("USE-05", {"window_days": "abc"}, "window_days", "not a whole number"),
    ("USE-05", {"window_days": -3}, "window_days", "between 0 and 100000"),
    ("USE-05", {"window_days": False}, "window_days", "whole number"),
    ("IND-04", {"pattern": "([0-9"}, "pattern", "not a valid regular expression"),
    ("IND-04", {"pattern": 12}, "pattern", "regular expression"),
    ("ALC-06", {"due": "3-31"}, "due", "month-day"),
    ("ALC-06", {"due": "13-01"}, "due", "month-day"),
    ("PRG-06", {"window_start": "11/15"}, "window_start", "month-day"),
    ("BEN-04", {"period": "week"}, "period", "one of year, half, quarter, month"),
    ("USE-09", {"keywords": " , "}, "keywords", "comma-separated list"),
    ("BEN-02", {"kinds": 3}, "kinds", "comma-separated list"),
])
def test_param_problems_names_the_parameter(rule: str, params: dict, name: str, why: str):
    problems = param_problems(CATALOGUE[rule], params)
    assert [p for p, _ in problems] == [name]
    assert why in problems[0][1]
    configs = RuleConfigs()
    assert configs.apply(configured(rule, params=params)) is False  # refused whole: nothing half-applied
    assert configs.version == 0 and configs.configured() == []
    assert configs.get(rule, YEAR, COUNTY).params == CATALOGUE[rule].params


@pytest.mark.parametrize(("checkpoints", "name"), [(["6-30"], "checkpoints[0]"), (["06-30", "09/30"], "checkpoints[1]"),
                                                  (["00-10"], "checkpoints[0]"), (["12-32"], "checkpoints[0]")])
def test_bad_checkpoints_are_named(checkpoints: list[str], name: str):
    problems = param_problems(CATALOGUE["PRG-01"], {}, checkpoints)
    assert [p for p, _ in problems] == [name] and "month-day" in problems[0][1]
    assert RuleConfigs().apply(configured("PRG-01", checkpoints=checkpoints)) is False


def test_every_problem_is_named_at_once():
    problems = param_problems(CATALOGUE["USE-06"], {"threshold": "x", "window_days": "y", "splits": 2}, ["99-99"])
    assert sorted(p for p, _ in problems) == ["checkpoints[0]", "splits", "threshold", "window_days"]


@pytest.mark.parametrize(("rule", "params", "checkpoints"), [
    ("ALC-06", {"due": "02-30"}, []), ("PRG-06", {"window_start": "04-31"}, []), ("PRG-01", {}, ["06-31"]),
])
def test_a_month_day_no_year_has_is_refused(rule: str, params: dict, checkpoints: list[str]):
    assert param_problems(CATALOGUE[rule], params, checkpoints) != []


def test_february_29_is_refused_for_a_budget_year_without_it():
    assert RuleConfigs().apply(configured("ALC-06", year=2026, params={"due": "02-29"})) is False


def test_good_values_of_every_kind_are_accepted():
    configs = RuleConfigs()
    for rule, params, checkpoints in (
            ("USE-04", {"cash_limit": 30000}, []), ("USE-04", {"cash_limit": "30000.50"}, []),
            ("USE-05", {"window_days": "45"}, []), ("IND-04", {"pattern": r"^.+〔\d{4}〕\d+号$"}, []),
            ("ALC-06", {"due": "04-30"}, []), ("BEN-04", {"period": "quarter"}, []),
            ("USE-09", {"keywords": "罚款,滞纳金"}, []), ("PRG-01", {"factor": "0.5"}, ["03-31", "06-30"])):
        assert param_problems(CATALOGUE[rule], params, checkpoints) == [], (rule, params)
        assert configs.apply(configured(rule, params=params, checkpoints=checkpoints)), (rule, params)
    assert configs.get("PRG-01", YEAR, COUNTY).checkpoints == ("03-31", "06-30")


def test_an_unknown_rule_is_refused():
    configs = RuleConfigs()
    assert configs.apply(configured("USE-99")) is False and configs.configured() == []


def test_catalogue_defaults_satisfy_their_own_schema():
    for rule, spec in CATALOGUE.items():
        assert param_problems(spec, dict(spec.params), spec.checkpoints) == [], rule


def test_parameter_kinds():
    kinds = {(rule, name): param_kind(rule, name, CATALOGUE[rule].params[name]) for rule, name in ALL_PARAMS}
    assert kinds[("IND-04", "pattern")] == "regex" and kinds[("BEN-04", "period")] == "period"
    assert kinds[("ALC-06", "due")] == kinds[("PRG-06", "window_start")] == "mmdd"
    assert kinds[("USE-04", "cash_limit")] == "decimal" and kinds[("USE-05", "window_days")] == "int"
    assert kinds[("USE-03", "prohibited")] == kinds[("ALC-05", "basic_prefixes")] == "words"
    assert set(kinds.values()) <= {"int", "decimal", "words", "regex", "mmdd", "period"}


# ------------------------------------------------------------------ precedence of scoped configuration

SCOPES = (("000000", "40000"), ("410000", "30000"), ("410300", "20000"), ("410324", "10000"))  # 河南 / 洛阳 / 栾川


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))), ids=lambda o: "".join(map(str, o)))
def test_the_most_specific_scope_wins_whatever_order_they_came_in(order: tuple[int, ...]):
    configs = RuleConfigs()
    for i in order:
        scope, limit = SCOPES[i]
        assert configs.apply(configured("USE-04", scope=scope, params={"cash_limit": limit}))
    limit = lambda region: configs.get("USE-04", YEAR, region).params["cash_limit"]  # noqa: E731
    assert limit("410324") == "10000"  # the county's own
    assert limit("410324100") == "10000"  # a township of the county
    assert limit("410325") == "20000"  # another county of the city
    assert limit("411624") == "30000"  # another city of the province
    assert limit("420102") == "40000"  # another province: the Ministry's
    assert configs.get("USE-04", YEAR + 1, "410324").params["cash_limit"] == "50000"  # another year: the catalogue
    assert [configs.winner("USE-04", YEAR, r).scope for r in ("410324", "410325", "411624", "420102")] == [
        "410324", "410300", "410000", "000000"]


def test_scope_decides_the_rules_outcome():
    configs = RuleConfigs()
    for scope, limit in SCOPES:
        configs.apply(configured("USE-04", scope=scope, params={"cash_limit": limit}))
    cash = Decimal("25000.00")
    outcome = {region: [f.subject for f in run(use.use04_cash, pay(region=region, settlement="cash", amount=cash),
                                               configs=configs, region=region)]
               for region in ("410324", "410325", "411624", "420102")}
    assert outcome == {"410324": ["payment/ZF1"], "410325": ["payment/ZF1"], "411624": [], "420102": []}


def test_a_more_specific_scope_replaces_a_less_specific_one_whole():
    configs = RuleConfigs()
    configs.apply(configured("USE-04", scope="410000", level="red", params={"cash_limit": "30000"}))
    configs.apply(configured("USE-04", scope="410324", shadow=True))
    county, city = configs.get("USE-04", YEAR, "410324"), configs.get("USE-04", YEAR, "410325")
    assert (county.shadow, county.level, county.params["cash_limit"]) == (True, AlertLevel.yellow, "50000")
    assert (city.shadow, city.level, city.params["cash_limit"]) == (False, AlertLevel.red, "30000")


def test_a_county_may_switch_a_rule_off_for_itself_only():
    configs = RuleConfigs()
    configs.apply(configured("USE-04", scope="410324", enabled=False))
    big_cash = Decimal("90000.00")
    assert run(use.use04_cash, pay(settlement="cash", amount=big_cash), configs=configs, region="410324") == []
    assert len(run(use.use04_cash, pay(region="410325", settlement="cash", amount=big_cash), configs=configs,
                   region="410325")) == 1


def test_levels_by_scope_through_the_engine():
    """The province sets USE-04 red for its regions; the Ministry's default (yellow) holds elsewhere."""
    configs = RuleConfigs()
    configs.apply(configured("USE-04", scope="410000", level="red"))
    h = Harness(configs=configs)
    h.feed([wire.payment("ZF1", "IND-1", "60000.00", settlement="cash"),
            wire.payment("ZF2", "IND-2", "60000.00", settlement="cash", region="420102")])
    h.flush()
    assert sorted((t.subject, t.region, t.level) for t in h.raised("USE-04")) == [
        ("payment/ZF1", "410324", "red"), ("payment/ZF2", "420102", "yellow")]


def test_a_deadline_rule_always_starts_as_a_bell():
    configs = RuleConfigs()
    configs.apply(configured("IND-01", level="red", escalate_to="red", lead_time_days=3))
    c = configs.get("IND-01", YEAR, COUNTY)
    assert (c.level, c.escalate_to, c.lead_time_days) == (AlertLevel.bell, AlertLevel.red, 3)
    item = ind.ind01_deadline(c, issue(on="2026-02-27"))
    assert (item.due, item.bell) == ("2026-03-05", "2026-03-02")  # three working days before
