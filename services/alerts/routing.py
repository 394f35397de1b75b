"""Stage 1 of the rule engine: one event → stateless findings and the facts stateful rules need.

Every fact names the entity it is about (`k`): a person (`P:<hash>`), an account
(`A:<hash>`), an enterprise (`E:<code>`), a project (`J:<code>`), an issued transfer
(`T:<id>`), an indicator (`I:<id>`), a fund (`F:<code>`) or an alert (`L:<base id>`). Facts
travel on the alerts' internal topic partitioned by that key, so everything about a person
or an account — whichever county paid — meets in one place (BEN-04, ACC-02 across regions).
Small reference data every partition needs (fund catalogue, group routes, indicator → fund)
is broadcast (`k` = `*`). Pure: no I/O."""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Callable

from contracts.control import DispositionFiled
from contracts.envelope import Envelope
from contracts.indicator import (
    IndicatorAllocated,
    IndicatorCompiled,
    IndicatorIssued,
    IndicatorRegistered,
)
from contracts.ledger import (
    BalanceExceeded,
    FundLinkConflict,
    InterlockChecked,
    OverdrawKind,
    PostingApplied,
)
from contracts.payment import PayeeKind, PaymentMade
from contracts.performance import (
    PerformanceProgressReported,
    PerformanceSelfEvaluated,
    PerformanceTargetsSet,
)
from contracts.reference import (
    AccountRegistered,
    ExternalKind,
    ExternalRecorded,
    FundLinked,
    FundRegistered,
    GroupAssigned,
    HouseholdMemberRegistered,
    ProjectRegistered,
)
from contracts.types import region_level, region_prefix, to_fen
from services.alerts.config import RuleConfig
from services.alerts.findings import Finding, base_of, evidence
from services.alerts.model import Allocation, IndicatorDoc, Line, Pay, Posting
from services.alerts.rules import allocation as alc
from services.alerts.rules import indicators as ind
from services.alerts.rules import performance as perf
from services.alerts.rules import recipients as ben
from services.alerts.rules import usage as use
from services.alerts.rules.accounts import (
    acc03_holder,
    acc04_personal,
    acc06_back_to_payer,
)

BROADCAST = "*"
Cfg = Callable[[str, int | None], RuleConfig | None]  # (rule, budget year) → config, None when disabled


def partition_of(key: str, partitions: int) -> int:
    return zlib.crc32(key.encode()) % partitions


def partitions_of(key: str, partitions: int) -> range | tuple[int]:
    """The work partitions a routed fact goes to: every one for a broadcast (reference data each
    partition keeps a copy of), else the one its key hashes to."""
    return range(partitions) if key == BROADCAST else (partition_of(key, partitions),)


def alert_key(finding: Finding) -> str:
    return f"L:{finding.alert_id}"


def finding_fact(finding: Finding) -> dict:
    return {"k": alert_key(finding), "f": "finding", "x": finding.to_wire()}


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


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
        lines=len(d.subsidy_lines),
    )


def lines_of(d: PaymentMade) -> list[Line]:
    """The persons a payment reaches: every subsidy line; the individual payee of a payment that
    is not for a project (a project payment to a person is ACC-04's business, not a subsidy)."""
    if d.subsidy_lines:
        return [Line(x.person.hash, x.person.masked, x.name, x.paid, x.payable, x.household_id, x.subsidy_type)
                for x in d.subsidy_lines]
    p = d.payee
    if p.kind == PayeeKind.individual and p.person is not None and not d.project_code:
        return [Line(p.person.hash, p.person.masked, p.name, d.amount, None, None, None)]
    return []


def doc_of(event: Envelope, d: IndicatorRegistered | IndicatorIssued) -> IndicatorDoc:
    common = dict(indicator_id=d.indicator_id, event_id=event.id, event_type=event.type, region=event.region,
                  at=event.time.isoformat(), fund=d.fund_code, amount=d.amount, budget_year=d.budget_year,
                  doc_no=d.doc_no, doc_date=d.doc_date.isoformat(), advance=d.advance_issue,
                  scan=bool(d.doc_scan_ref), functional_class=d.functional_class)
    if isinstance(d, IndicatorIssued):
        return IndicatorDoc(**common, on=d.issued_on.isoformat(), to_region=d.to_region, source="issued")
    return IndicatorDoc(**common, on=d.registered_on.isoformat(), source=d.source.value,
                        upper_indicator_id=d.upper_indicator_id, upper_region=d.upper_region)


def _ev(event: Envelope, **facts) -> dict:
    return evidence(event.id, event.type, event.time.isoformat(), event.region, **facts).to_wire()


def route(event: Envelope, cfg: Cfg) -> list[dict]:
    """The facts (and stateless findings, as alert facts) one event implies."""
    d = event.data
    out: list[dict] = []

    def found(f: Finding | None) -> None:
        if f is not None:
            out.append(finding_fact(f))

    def on(rule: str, year: int | None) -> RuleConfig | None:
        return cfg(rule, year)

    match d:
        # ------------------------------------------------------------ reference data
        case HouseholdMemberRegistered():
            out.append({"k": f"P:{d.person.hash}", "f": "reg", "status": d.status.value, "since": d.since.isoformat(),
                        "household": d.household_id})
        case ExternalRecorded():
            ev = _ev(event, record_id=d.record_id, kind=d.kind.value, record_date=d.record_date.isoformat(),
                     status=d.status, unit_code=d.unit_code, details=d.details)
            rec = {"record_id": d.record_id, "kind": d.kind.value, "date": d.record_date.isoformat(), "ev": ev,
                   "status": d.status, "unit": d.unit_code}
            if d.person is not None:
                out.append({"k": f"P:{d.person.hash}", "f": "rec", "rec": rec})
            if d.enterprise_code:
                if d.kind == ExternalKind.business_registration:
                    out.append({"k": f"E:{d.enterprise_code}", "f": "biz", "rec": rec,
                                "rep": d.related_person.hash if d.related_person else None})
                    if d.related_person is not None:
                        out.append({"k": f"P:{d.related_person.hash}", "f": "rep", "enterprise": d.enterprise_code,
                                    "ev": ev})
                elif d.kind == ExternalKind.business_status:
                    out.append({"k": f"E:{d.enterprise_code}", "f": "status", "rec": rec})
        case AccountRegistered():
            out.append({"k": f"A:{d.account.hash}", "f": "acct", "kind": d.kind.value, "status": d.status.value,
                        "holder": d.holder_name, "unit": d.unit_code})
        case ProjectRegistered():
            out.append({"k": f"J:{d.project_code}", "f": "proj", "start": d.start_date.isoformat(),
                        "end": d.end_date.isoformat(), "fund": d.fund_code, "name": d.name})
        case FundRegistered():
            out.append({"k": BROADCAST, "f": "fund", "fund": {
                "code": d.fund_code, "level": d.level.value, "upper": d.upper_fund_code,
                "classes": list(d.functional_classes), "group": d.group_code, "for_households": d.for_households}})
            out.append({"k": f"F:{d.fund_code}", "f": "designated", "upper": d.upper_fund_code,
                        "ev": _ev(event, fund_code=d.fund_code, upper_fund_code=d.upper_fund_code)})
        case FundLinked():
            out.append({"k": f"F:{d.fund_code}", "f": "link", "upper": d.upper_fund_code, "region": event.region,
                        "ev": _ev(event, fund_code=d.fund_code, upper_fund_code=d.upper_fund_code)})
        case GroupAssigned():
            out.append({"k": BROADCAST, "f": "group", "scope": region_prefix(event.region), "group": d.group_code,
                        "funds": list(d.fund_codes), "at": event.time.isoformat()})
        # ------------------------------------------------------------ indicators
        case IndicatorRegistered():
            doc = doc_of(event, d)
            year = d.budget_year
            if c := on("IND-03", year):
                found(ind.ind03_missing_scan(doc, c))
            if c := on("IND-04", year):
                found(ind.ind04_irregular_doc_no(doc, c))
            if on("IND-06", year):
                found(ind.ind06_old_document(doc))
            out.append({"k": f"I:{d.indicator_id}", "f": "ireg", "doc": doc.to_wire(),
                        "level": region_level(event.region).value})
            out.append({"k": BROADCAST, "f": "imeta", "id": d.indicator_id, "fund": d.fund_code, "year": year,
                        "region": event.region})
            if d.upper_indicator_id:
                out.append({"k": f"T:{d.upper_indicator_id}", "f": "receipt", "doc": doc.to_wire()})
        case IndicatorIssued():
            doc = doc_of(event, d)
            if c := on("IND-03", d.budget_year):
                found(ind.ind03_missing_scan(doc, c))
            if c := on("IND-04", d.budget_year):
                found(ind.ind04_irregular_doc_no(doc, c))
            out.append({"k": f"T:{d.indicator_id}", "f": "issue", "doc": doc.to_wire()})
        case IndicatorAllocated():
            a = Allocation(d.allocation_id, event.id, event.region, event.time.isoformat(), d.indicator_id,
                           d.kind.value, d.amount, d.allocated_on.isoformat(), d.project_code, d.project_name,
                           d.functional_class, d.economic_class)
            if c := on("ALC-03", d.allocated_on.year):
                found(alc.alc03_project_name(a, c))
            out.append({"k": f"I:{d.indicator_id}", "f": "alloc", "a": a.to_wire()})
            if d.project_code:
                out.append({"k": f"J:{d.project_code}", "f": "alloc", "a": a.to_wire()})
        case IndicatorCompiled():
            out.append({"k": f"I:{d.indicator_id}", "f": "compiled", "on": d.compiled_on.isoformat(),
                        "ev": _ev(event, indicator_id=d.indicator_id, amount=str(d.amount),
                                  compiled_on=d.compiled_on.isoformat())})
        # ------------------------------------------------------------ payments
        case PaymentMade():
            p = pay_of(event, d)
            year = p.day.year
            pw = p.to_wire()
            if on("USE-02", year):
                found(use.use02_payment_date(p))
            if c := on("USE-03", year):
                found(use.use03_prohibited_class(p, c))
            if c := on("USE-04", year):
                found(use.use04_cash(p, c))
            if c := on("USE-09", year):
                found(use.use09_purpose(p, c))
            if on("ACC-03", year):
                found(acc03_holder(p, None))
            if on("ACC-04", year):
                found(acc04_personal(p, None))
            if on("ACC-06", year):
                found(acc06_back_to_payer(p, None))
            for line in lines_of(d):
                if on("BEN-05", year):
                    found(ben.ben05_payable_paid(p, line))
                out.append({"k": f"P:{line.person}", "f": "line", "pay": pw, "line": line.to_wire()})
            out.append({"k": f"A:{p.payee_acct}", "f": "payee", "pay": pw})
            out.append({"k": f"A:{p.payer_acct}", "f": "payer", "pay": pw})
            if p.enterprise:
                out.append({"k": f"E:{p.enterprise}", "f": "pay", "pay": pw})
            if p.project:
                out.append({"k": f"J:{p.project}", "f": "pay", "pay": pw})
        # ------------------------------------------------------------ performance
        case PerformanceTargetsSet():
            out.append({"k": f"J:{d.project_code}", "f": "targets", "on": d.set_on.isoformat(), "region": event.region,
                        "ind": d.indicator_id,
                        "targets": [{"metric": t.metric_id, "name": t.name, "value": str(t.target_value),
                                     "deadline": t.deadline.isoformat()} for t in d.targets],
                        "ev": _ev(event, project_code=d.project_code, set_on=d.set_on.isoformat(),
                                  targets=len(d.targets))})
        case PerformanceProgressReported():
            out.append({"k": f"J:{d.project_code}", "f": "progress", "metric": d.metric_id,
                        "value": str(d.actual_value), "period_end": d.period_end.isoformat(),
                        "on": d.reported_on.isoformat(), "region": event.region, "at": event.time.isoformat(),
                        "ev": _ev(event, project_code=d.project_code, report_id=d.report_id, metric_id=d.metric_id,
                                  actual_value=str(d.actual_value), period_end=d.period_end.isoformat(),
                                  reported_on=d.reported_on.isoformat())})
        case PerformanceSelfEvaluated():
            if on("PERF-04", d.evaluated_on.year):
                found(perf.perf04_below_target(d.project_code, event.region, event.id, event.time.isoformat(),
                                               d.score, d.target_score, d.evaluated_on.isoformat()))
        # ------------------------------------------------------------ the ledger's derived stream
        case PostingApplied():
            out_of_pending = ("500201", "500202", "500203")
            allocated = sum(to_fen(m.amount) for m in d.moves if m.credit == "5001" and m.debit in out_of_pending) - \
                sum(to_fen(m.amount) for m in d.moves if m.debit == "5001" and m.credit in out_of_pending)
            paid = sum(to_fen(m.amount) for m in d.moves if m.debit == "5201") - \
                sum(to_fen(m.amount) for m in d.moves if m.credit == "5201")
            post = Posting(event.id, event.region, event.time.isoformat(), d.indicator_id, d.source_event_type,
                           d.booked_on.isoformat(), {k: to_fen_signed(v) for k, v in d.balances.items()},
                           allocated, paid, d.red_ink, d.journal_seq)
            out.append({"k": f"I:{d.indicator_id}", "f": "post", "post": post.to_wire()})
        case InterlockChecked():
            if on("IND-02", d.issued_on.year if d.issued_on else None):
                found(ind.ind02_interlock_break(event.id, d.receiver_region, event.time.isoformat(),
                                                d.transfer_indicator_id, d.state.value, str(d.issued), str(d.received),
                                                d.fund_code, list(d.receipt_indicator_ids)))
        case BalanceExceeded():
            year = event.time.year
            if d.kind == OverdrawKind.allocation_beyond_pending and on("ALC-02", year):
                found(alc.alc02_beyond_pending(event.id, event.region, event.time.isoformat(), d.allocation_id,
                                               d.indicator_id, str(d.amount), str(d.available), d.fund_code))
            elif d.kind == OverdrawKind.payment_beyond_balance and on("USE-01", year):
                found(use.use01_beyond_balance(event.id, event.region, event.time.isoformat(), d.payment_id,
                                               d.indicator_id, str(d.amount), str(d.available), d.fund_code))
        case FundLinkConflict():
            if on("IND-07", event.time.year):
                found(ind.ind07_several_uppers(d.fund_code, list(d.upper_fund_codes),
                                               evidence(event.id, event.type, event.time.isoformat(), event.region,
                                                        fund_code=d.fund_code,
                                                        upper_fund_codes=",".join(d.upper_fund_codes)),
                                               event.region))
        # ------------------------------------------------------------ dispositions (处理单)
        case DispositionFiled():
            out.append({"k": f"L:{base_of(d.alert_id)}", "f": "dispose", "at": event.time.isoformat(),
                        "cmd": d.model_dump(mode="json")})
    return out


def to_fen_signed(value) -> int:
    """Balances may be negative (an overdrawn indicator)."""
    return int(value * 100)


_MARKED_FAMILIES = ("reference", "indicator", "payment", "performance")


def watermark_of(event: Envelope) -> tuple[str, dt.datetime] | None:
    """The stream an event advances and to when: input events by their own time; the ledger's
    postings by their booking date (the ledger publishes later than the events it books)."""
    from contracts.envelope import EVENT_TYPES
    from services.runtime.calendar import start_of

    family = EVENT_TYPES[event.type][1].value
    if family in _MARKED_FAMILIES:
        return f"{family}/{event.region[:6]}", event.time
    if isinstance(event.data, PostingApplied):
        return f"ledger/{event.region[:6]}", start_of(event.data.booked_on)
    return None
