"""Builders of the plain data the rules look at (defaults are a clean case; override to break it)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

from services.alerts.catalogue import CATALOGUE
from services.alerts.config import RuleConfig, RuleConfigs
from services.alerts.model import Allocation, Fund, IndicatorDoc, Line, Pay

T = "2026-03-02T10:00:00+08:00"


def cfg(rule_id: str, **params: Any) -> RuleConfig:
    c = RuleConfigs().get(rule_id, 2026)
    return replace(c, params={**c.params, **params}) if params else c


def pay(**kw: Any) -> Pay:
    base = dict(pid="ZF1", event_id="e-pay", region="410324", ind="IND-1", at=T, amount=Decimal("8000.00"),
                date="2026-03-02", purpose="到户增收项目补助", settlement="transfer", channel="subsidy_card",
                economic_class="30310", project=None, payer_unit="410324001", payer_name="栾川县财政局",
                payer_acct="a" * 32, payer_masked="4105****0001", payee_kind="individual", payee_name="王五",
                payee_holder="王五", payee_acct="b" * 32, payee_masked="6230****1234", payee_person="p" * 32,
                enterprise=None, lines=1)
    base.update(kw)
    return Pay(**base)


def project_pay(**kw: Any) -> Pay:
    base = dict(purpose="道路硬化项目第1期工程款", channel="direct", economic_class="31005", project="XM1",
                payer_unit="410324002", payer_name="栾川县乡村振兴局", payee_kind="enterprise",
                payee_name="栾川县宏达建筑工程有限公司", payee_holder="栾川县宏达建筑工程有限公司", payee_person=None,
                enterprise="91410324MA00000001", amount=Decimal("120000.00"), lines=0)
    base.update(kw)
    return pay(**base)


def line(**kw: Any) -> Line:
    base = dict(person="p" * 32, masked="4103**********1234", name="王五", paid=Decimal("8000.00"),
                payable=Decimal("8000.00"), household="HH1", subsidy_type="到户增收")
    base.update(kw)
    return Line(**base)


def doc(**kw: Any) -> IndicatorDoc:
    base = dict(indicator_id="IND-410324-1", event_id="e-reg", event_type="indicator.registered", region="410324",
                at=T, fund="C22", amount=Decimal("100000.00"), budget_year=2026, doc_no="洛财农〔2026〕12号",
                doc_date="2026-02-28", on="2026-03-02", source="upper_transfer", upper_indicator_id="XD-1",
                upper_region="410300", scan=True, functional_class="2130504")
    base.update(kw)
    return IndicatorDoc(**base)


def issue(**kw: Any) -> IndicatorDoc:
    base = dict(indicator_id="XD-1", event_id="e-issue", event_type="indicator.issued", region="410300",
                to_region="410324", source="issued", upper_indicator_id=None, upper_region=None,
                on="2026-02-27", doc_no="洛财农〔2026〕12号")
    base.update(kw)
    return doc(**base)


def allocation(**kw: Any) -> Allocation:
    base = dict(allocation_id="FP-1", event_id="e-alloc", region="410324", at=T, indicator_id="IND-410324-1",
                kind="project", amount=Decimal("50000.00"), on="2026-03-03", project="XM1",
                project_name="2026年栾川县城关镇张庄村道路硬化项目", functional_class="2130504", economic_class="31005")
    base.update(kw)
    return Allocation(**base)


FUNDS = {
    "C22": Fund("C22", "central", None, ("21305", "2130504", "2130505"), "agri", False),
    "C23": Fund("C23", "central", None, ("21303",), "agri", False),
    "410324-F01": Fund("410324-F01", "county", "C22", ("21305", "2130504"), "agri", False),
    "411624-F01": Fund("411624-F01", "county", "P09", ("21305",), "agri", False),
    "P09": Fund("P09", "provincial", "C22", ("21305",), "agri", False),
    "C33": Fund("C33", "central", None, ("22101",), "econ", True),
}

ALL_RULES = sorted(CATALOGUE)


def exceeded(kind: str, **kw: Any):
    """A ledger.balance_exceeded envelope."""
    import datetime as dt

    from contracts.envelope import make_event
    from contracts.ledger import BalanceExceeded

    data = BalanceExceeded(kind=kind, source_event_id="e-src", indicator_id="IND-1", fund_code="C22",
                           amount=Decimal("120.00"), available=Decimal("100.00"), **kw)
    return make_event("ledger.balance_exceeded", data, id="ledger:exceeded:e-src", region="410324",
                      time=dt.datetime(2026, 3, 2, 10, tzinfo=dt.timezone(dt.timedelta(hours=8))))


def route_findings(event) -> list:
    """The findings stage 1 raises for one event (defaults of every rule)."""
    from services.alerts.findings import Finding
    from services.alerts.routing import route

    configs = RuleConfigs()
    facts = route(event, lambda rule, year: configs.get(rule, year))
    return [Finding.from_wire(f["x"]) for f in facts if f["f"] == "finding"]


def posting(n: int, indicator_id: str, kind: str, on: str, balances: dict[str, str], moves: list[tuple[str, str, str]],
            region: str = "410324"):
    """A ledger.posting_applied envelope (balances in yuan, natural side)."""
    import datetime as dt

    from contracts.envelope import make_event
    from contracts.ledger import Move, PostingApplied

    data = PostingApplied(posting_id=f"e{n}:0", journal_seq=n, source_event_id=f"e{n}", source_event_type=kind,
                          indicator_id=indicator_id, booked_on=dt.date.fromisoformat(on),
                          moves=[Move(debit=d, credit=c, amount=Decimal(a)) for d, c, a in moves],
                          balances={k: Decimal(v) for k, v in balances.items()})
    return make_event("ledger.posting_applied", data, id=f"ledger:e{n}:0", region=region,
                      time=dt.datetime.fromisoformat(f"{on}T12:00:00+08:00"))
