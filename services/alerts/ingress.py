"""Stage 1 of the rule engine: one contract event → the facts it implies for the entities it is
about, and the findings that need nothing but the event itself (a missing payment date, a cash
payment above the limit, an irregular document number …). Pure: no I/O.

One handler per event type (`HANDLERS`, keyed by the payload class). The router calls
`facts_of` for every event it reads; findings leave as `FindingRaised` facts for their alert."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from contracts.control import DispositionFiled
from contracts.envelope import Envelope
from contracts.indicator import AllocationKind, IndicatorAllocated, IndicatorCompiled, IndicatorIssued
from contracts.indicator import IndicatorRegistered as Registered
from contracts.ledger import InterlockChecked, PostingApplied
from contracts.payment import PayeeKind, PaymentMade
from contracts.performance import PerformanceProgressReported, PerformanceSelfEvaluated, PerformanceTargetsSet
from contracts.reference import AccountRegistered as AccountRegisteredEvent
from contracts.reference import (
    ExternalKind,
    ExternalRecorded,
    FundRegistered,
    GroupAssigned,
    HouseholdMemberRegistered,
    ProjectRegistered,
)
from contracts.reference import FundLinked as FundLinkedEvent
from contracts.types import region_level, region_prefix, to_fen
from services.alerts import facts as f
from services.alerts.clock import key
from services.alerts.findings import Evidence, alert_base_id, base_of, evidence
from services.alerts.model import Allocation, Fund, IndicatorDoc, Line, Move, Pay, Posting, Record, Registration
from services.alerts.rules import allocation as alc
from services.alerts.rules import indicators as ind
from services.alerts.rules import performance as perf
from services.alerts.rules import recipients as ben
from services.alerts.rules import usage as use
from services.alerts.rules.accounts import acc03_holder, acc06_back_to_payer
from services.alerts.rules.registry import Rules

Handler = Callable[[Envelope, Any, Rules], list[f.Fact]]


def facts_of(event: Envelope, rules: Rules) -> list[f.Fact]:
    """The facts one event implies, then a `FindingRaised` for each finding of its own checks."""
    handler = HANDLERS.get(type(event.data))
    if handler is None:
        return []
    start = len(rules.found)
    out = handler(event, event.data, rules)
    for finding in rules.found[start:]:
        out.append(f.FindingRaised(key=f"L:{finding.alert_id}", finding=finding))
    del rules.found[start:]
    return out


def _trace(event: Envelope) -> str | None:
    return getattr(event, "traceparent", None)


def _ev(event: Envelope, **facts: object) -> Evidence:
    return evidence(event.id, event.type, event.time.isoformat(), event.region, traceparent=_trace(event), **facts)


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


# ------------------------------------------------------------------ summaries of events


def pay_of(event: Envelope, d: PaymentMade) -> Pay:
    payee = d.payee
    return Pay(
        pid=d.payment_id, event_id=event.id, region=event.region, ind=d.indicator_id, at=event.time.isoformat(),
        amount=d.amount, date=_iso(d.payment_date), valid=d.valid, purpose=d.purpose, settlement=d.settlement.value,
        channel=d.channel.value, economic_class=d.economic_class, project=d.project_code,
        payer_unit=d.payer.unit_code, payer_name=d.payer.unit_name, payer_acct=d.payer.account.hash,
        payer_masked=d.payer.account.masked, payee_kind=payee.kind.value, payee_name=payee.name,
        payee_holder=payee.account_holder, payee_acct=payee.account.hash, payee_masked=payee.account.masked,
        payee_person=payee.person.hash if payee.person else None, enterprise=payee.enterprise_code,
        lines=len(d.subsidy_lines), traceparent=_trace(event),
    )


def lines_of(d: PaymentMade) -> list[Line]:
    """The persons a payment reaches: every subsidy line, else the individual payee (whether a
    project payment to a person is a household subsidy the person entity decides from the fund)."""
    if d.subsidy_lines:
        return [Line(x.person.hash, x.person.masked, x.name, x.paid, x.payable, x.household_id, x.subsidy_type,
                     x.period, x.account.hash if x.account else None, x.account.masked if x.account else None)
                for x in d.subsidy_lines]
    p = d.payee
    if p.kind == PayeeKind.individual and p.person is not None:
        return [Line(p.person.hash, p.person.masked, p.name, d.amount)]
    return []


def doc_of(event: Envelope, d: Registered | IndicatorIssued) -> IndicatorDoc:
    if isinstance(d, IndicatorIssued):
        return IndicatorDoc(d.indicator_id, event.id, event.type, event.region, event.time.isoformat(), d.fund_code,
                            d.amount, d.budget_year, d.doc_no, d.doc_date.isoformat(), d.issued_on.isoformat(),
                            "issued", to_region=d.to_region, advance=d.advance_issue, scan=bool(d.doc_scan_ref),
                            functional_class=d.functional_class)
    return IndicatorDoc(d.indicator_id, event.id, event.type, event.region, event.time.isoformat(), d.fund_code,
                        d.amount, d.budget_year, d.doc_no, d.doc_date.isoformat(), d.registered_on.isoformat(),
                        d.source.value, d.upper_indicator_id, d.upper_region, None, d.advance_issue,
                        bool(d.doc_scan_ref), d.functional_class, d.origin_year)


def allocation_of(event: Envelope, d: IndicatorAllocated) -> Allocation:
    return Allocation(d.allocation_id, event.id, event.region, event.time.isoformat(), d.indicator_id, d.kind.value,
                      d.amount, d.allocated_on.isoformat(), d.project_code, d.project_name, d.functional_class,
                      d.economic_class, d.to_region)


# ------------------------------------------------------------------ reference data


def _household(event: Envelope, d: HouseholdMemberRegistered, rules: Rules) -> list[f.Fact]:
    return [f.PersonRegistered(key=f"P:{d.person.hash}", event_id=event.id, at=event.time.isoformat(),
                               status=d.status.value, since=d.since.isoformat(), household=d.household_id)]


def _external(event: Envelope, d: ExternalRecorded, rules: Rules) -> list[f.Fact]:
    ev = _ev(event, record_id=d.record_id, kind=d.kind.value, record_date=d.record_date.isoformat(),
             status=d.status, unit_code=d.unit_code, details=d.details)
    rec = Record(d.record_id, d.kind.value, d.record_date.isoformat(), ev, d.status, d.unit_code)
    out: list[f.Fact] = []
    if d.person is not None:
        out.append(f.PersonRecorded(key=f"P:{d.person.hash}", record=rec))
    if d.enterprise_code:
        if d.kind == ExternalKind.business_registration:
            rep = d.related_person.hash if d.related_person else None
            out.append(f.BusinessRegistered(key=f"E:{d.enterprise_code}", record=rec, representative=rep))
            if rep is not None:
                out.append(f.RepresentativeNamed(key=f"P:{rep}", enterprise=d.enterprise_code, ev=ev))
        elif d.kind == ExternalKind.business_status:
            out.append(f.BusinessStatusRecorded(key=f"E:{d.enterprise_code}", record=rec))
    return out


def _account(event: Envelope, d: AccountRegisteredEvent, rules: Rules) -> list[f.Fact]:
    reg = Registration(event.id, event.time.isoformat(), d.kind.value, d.status.value, d.holder_name, d.unit_code,
                       _iso(d.effective_on))
    return [f.AccountRegistered(key=f"A:{d.account.hash}", registration=reg)]


def _project(event: Envelope, d: ProjectRegistered, rules: Rules) -> list[f.Fact]:
    return [f.ProjectRegistered(key=f"J:{d.project_code}", start=d.start_date.isoformat(), end=d.end_date.isoformat(),
                                fund=d.fund_code, name=d.name)]


def _fund(event: Envelope, d: FundRegistered, rules: Rules) -> list[f.Fact]:
    fund = Fund(d.fund_code, d.level.value, d.upper_fund_code, tuple(d.functional_classes), d.group_code,
                d.for_households)
    return [f.FundCatalogued(key=f.BROADCAST, fund=fund),
            f.FundDesignated(key=f"F:{d.fund_code}", upper=d.upper_fund_code, region=event.region,
                             ev=_ev(event, fund_code=d.fund_code, upper_fund_code=d.upper_fund_code))]


def _fund_link(event: Envelope, d: FundLinkedEvent, rules: Rules) -> list[f.Fact]:
    return [f.FundLinked(key=f"F:{d.fund_code}", upper=d.upper_fund_code, region=event.region,
                         ev=_ev(event, fund_code=d.fund_code, upper_fund_code=d.upper_fund_code))]


def _group(event: Envelope, d: GroupAssigned, rules: Rules) -> list[f.Fact]:
    return [f.GroupRouted(key=f.BROADCAST, scope=region_prefix(event.region), group=d.group_code,
                          funds=tuple(d.fund_codes), at=event.time.isoformat())]


# ------------------------------------------------------------------ indicators


def _check_doc(doc: IndicatorDoc, rules: Rules) -> None:
    rules.run(ind.ind03_missing_scan, doc.budget_year, doc.region, doc)
    rules.run(ind.ind04_irregular_doc_no, doc.budget_year, doc.region, doc)


def _registered(event: Envelope, d: Registered, rules: Rules) -> list[f.Fact]:
    doc = doc_of(event, d)
    _check_doc(doc, rules)
    rules.run(ind.ind06_old_document, d.budget_year, event.region, doc)
    out: list[f.Fact] = [
        f.IndicatorRegistered(key=f"I:{d.indicator_id}", doc=doc, level=region_level(event.region).value),
        f.IndicatorKnown(key=f.BROADCAST, indicator_id=d.indicator_id, fund=d.fund_code, year=d.budget_year,
                         region=event.region),
    ]
    if d.upper_indicator_id:
        out.append(f.TransferReceived(key=f"T:{d.upper_indicator_id}", doc=doc))
    return out


def _issued(event: Envelope, d: IndicatorIssued, rules: Rules) -> list[f.Fact]:
    doc = doc_of(event, d)
    _check_doc(doc, rules)
    return [f.TransferIssued(key=f"T:{d.indicator_id}", doc=doc)]


def _allocated(event: Envelope, d: IndicatorAllocated, rules: Rules) -> list[f.Fact]:
    a = allocation_of(event, d)
    rules.run(alc.alc03_project_name, d.allocated_on.year, event.region, a)
    out: list[f.Fact] = [f.IndicatorAllocated(key=f"I:{d.indicator_id}", allocation=a)]
    if d.project_code:
        out.append(f.ProjectAllocated(key=f"J:{d.project_code}", allocation=a))
    if d.kind == AllocationKind.horizontal:
        out.append(f.TransferAllocated(key=f"T:{d.allocation_id}", allocation=a, doc_no=d.doc_no,
                                       doc_date=_iso(d.doc_date), scan=bool(d.doc_scan_ref)))
    return out


def _compiled(event: Envelope, d: IndicatorCompiled, rules: Rules) -> list[f.Fact]:
    return [f.IndicatorCompiled(key=f"I:{d.indicator_id}", on=d.compiled_on.isoformat(),
                                ev=_ev(event, indicator_id=d.indicator_id, amount=str(d.amount),
                                       compiled_on=d.compiled_on.isoformat()))]


# ------------------------------------------------------------------ payments


def _payment(event: Envelope, d: PaymentMade, rules: Rules) -> list[f.Fact]:
    p = pay_of(event, d)
    year, region = p.day.year, p.region
    for check in (use.use02_payment_date, use.use03_prohibited_class, use.use04_cash, use.use09_purpose):
        rules.run(check, year, region, p)
    rules.run(acc03_holder, year, region, p, None)
    rules.run(acc06_back_to_payer, year, region, p, None)
    out: list[f.Fact] = []
    for line in lines_of(d):
        if d.subsidy_lines:
            rules.run(ben.ben05_payable_paid, year, region, p, line)
        out.append(f.BeneficiaryPaid(key=f"P:{line.person}", pay=p, line=line))
        if line.account and line.account != p.payee_acct:
            out.append(f.CardAccountPaid(key=f"A:{line.account}", pay=p, line=line))
    out.append(f.PayeeAccountPaid(key=f"A:{p.payee_acct}", pay=p))
    if p.payer_acct != p.payee_acct:
        out.append(f.PayerAccountPaid(key=f"A:{p.payer_acct}", pay=p))
    if p.enterprise:
        out.append(f.EnterprisePaid(key=f"E:{p.enterprise}", pay=p))
    if p.project:
        out.append(f.ProjectPaid(key=f"J:{p.project}", pay=p))
    return out


# ------------------------------------------------------------------ performance


def _targets(event: Envelope, d: PerformanceTargetsSet, rules: Rules) -> list[f.Fact]:
    targets = tuple(f.Target(t.metric_id, t.name, str(t.target_value), t.deadline.isoformat()) for t in d.targets)
    return [f.TargetsSet(key=f"J:{d.project_code}", event_id=event.id, on=d.set_on.isoformat(), region=event.region,
                         indicator_id=d.indicator_id, targets=targets,
                         ev=_ev(event, project_code=d.project_code, set_on=d.set_on.isoformat(), targets=len(targets)))]


def _progress(event: Envelope, d: PerformanceProgressReported, rules: Rules) -> list[f.Fact]:
    return [f.ProgressReported(
        key=f"J:{d.project_code}", report_id=d.report_id, metric=d.metric_id, value=str(d.actual_value),
        period_end=d.period_end.isoformat(), on=d.reported_on.isoformat(), region=event.region,
        at=event.time.isoformat(),
        ev=_ev(event, project_code=d.project_code, report_id=d.report_id, metric_id=d.metric_id,
               actual_value=str(d.actual_value), period_end=d.period_end.isoformat(),
               reported_on=d.reported_on.isoformat()))]


def _evaluated(event: Envelope, d: PerformanceSelfEvaluated, rules: Rules) -> list[f.Fact]:
    ev = _ev(event, project_code=d.project_code, score=d.score, target_score=d.target_score, scale=d.scale,
             evaluated_on=d.evaluated_on.isoformat())
    rules.run(perf.perf04_below_target, d.evaluated_on.year, event.region, d.project_code, event.region, d.score,
              d.target_score, d.scale, d.evaluated_on.isoformat(), event.time.isoformat(), ev)
    return []


# ------------------------------------------------------------------ the ledger's derived stream


def posting_of(event: Envelope, d: PostingApplied) -> Posting:
    moves = tuple(Move(m.debit, m.credit, to_fen(m.amount), m.project_code) for m in d.moves)
    # the ledger's balances after the posting are in the order it received the events: the indicator keeps
    # its own books in business order from the moves, so they are not carried
    return Posting(event.id, event.region, event.time.isoformat(), d.indicator_id, d.source_event_type,
                   d.booked_on.isoformat(), moves, d.journal_seq, key(event.time), d.source_event_id,
                   getattr(d, "source_subject", None), d.red_ink, (), _trace(event))


def _posting(event: Envelope, d: PostingApplied, rules: Rules) -> list[f.Fact]:
    return [f.PostingBooked(key=f"I:{d.indicator_id}", posting=posting_of(event, d))]


def _interlock(event: Envelope, d: InterlockChecked, rules: Rules) -> list[f.Fact]:
    ev = _ev(event, transfer_indicator_id=d.transfer_indicator_id, issued=str(d.issued), received=str(d.received),
             receipts=",".join(d.receipt_indicator_ids))
    return [f.InterlockReported(key=f"T:{d.transfer_indicator_id}", state=d.state.value, issued=str(d.issued),
                                received=str(d.received), receipts=tuple(d.receipt_indicator_ids), fund=d.fund_code,
                                region=d.receiver_region, at=event.time.isoformat(), ev=ev)]


# ------------------------------------------------------------------ dispositions (处理单)


def _disposition(event: Envelope, d: DispositionFiled, rules: Rules) -> list[f.Fact]:
    return [f.DispositionRequested(
        key=f"L:{base_of(d.alert_id)}", at=event.time.isoformat(), disposition_id=d.disposition_id,
        alert_id=d.alert_id, action=d.action.value, actor=d.actor, findings=d.findings,
        method=d.method.value if d.method else None, corrective_actions=tuple(a.value for a in d.corrective_actions),
        attachments=tuple(d.attachments))]


HANDLERS: dict[type, Handler] = {
    HouseholdMemberRegistered: _household,
    ExternalRecorded: _external,
    AccountRegisteredEvent: _account,
    ProjectRegistered: _project,
    FundRegistered: _fund,
    FundLinkedEvent: _fund_link,
    GroupAssigned: _group,
    Registered: _registered,
    IndicatorIssued: _issued,
    IndicatorAllocated: _allocated,
    IndicatorCompiled: _compiled,
    PaymentMade: _payment,
    PerformanceTargetsSet: _targets,
    PerformanceProgressReported: _progress,
    PerformanceSelfEvaluated: _evaluated,
    PostingApplied: _posting,
    InterlockChecked: _interlock,
    DispositionFiled: _disposition,
}
"""Event payload → its handler. Not here: region registrations (the ledger keeps the names),
red-ink corrections, payment plans and returns (their effect reaches the alerts as the ledger's
postings), the ledger's overdraw and fund-link reports (the alerts judge overdraws on the books
in business order, and fund links on the fund entity)."""

__all__ = ["HANDLERS", "alert_base_id", "facts_of", "lines_of", "pay_of"]
