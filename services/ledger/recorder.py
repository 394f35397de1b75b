"""The recorder: applies a batch of events to the ledger inside the projection's transaction.

`Recorder` is the `apply` of `services.runtime.projection.Projection`: events already applied
(by id) change nothing; the rest are applied in order, one handler per event type, each a few
lines that call the pure posting and interlock rules; what the ledger applied goes to the
outbox (the derived stream) in the same transaction."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from contracts import Envelope, Family
from contracts.indicator import AllocationKind, IndicatorSource
from contracts.ledger import OverdrawKind
from contracts.types import to_fen
from services.ledger import derived
from services.ledger import postings as rules
from services.ledger.batch import REFERENCE_TYPES, BatchState, consumed, unlocks
from services.ledger.interlock import interlock, link_conflict
from services.ledger.postings import PaymentStatus, posting_id
from services.runtime.projection import Delivery, Outgoing
from services.runtime.settings import Settings

log = logging.getLogger(__name__)
EARLIEST = dt.datetime.min.replace(tzinfo=dt.UTC)  # a link stored before links had a time
TRANSFER_SOURCES = frozenset({IndicatorSource.upper_transfer, IndicatorSource.horizontal_transfer})
"""Registrations that receive money another region passed on (下达 or 横向): a transfer, never new money."""

__all__ = ["Recorder", "consumed"]


class Recorder:
    """Apply batches of events; `topic` is the ledger topic the derived stream goes to (None: do
    not publish, as in a rebuild)."""

    def __init__(self, topic: str | None, *, write_outbox: bool = True) -> None:
        self.topic = topic
        self.write_outbox = write_outbox

    @classmethod
    def for_settings(cls, settings: Settings) -> Recorder:
        return cls(settings.topic(Family.ledger))

    async def __call__(self, conn: AsyncConnection, deliveries: Sequence[Delivery]) -> list[Outgoing]:
        return await self.apply(conn, [d.event for d in deliveries])

    async def apply(self, conn: AsyncConnection, events: Sequence[Envelope]) -> list[Outgoing]:
        batch = Batch(conn, self.topic, write_outbox=self.write_outbox)
        await batch.run(list(events))
        return batch.outgoing


class Batch(BatchState):
    async def run(self, events: list[Envelope]) -> None:
        await self.lock()
        fresh = await self.fresh(events)
        if not fresh:
            return
        released = await self.load_parked(fresh)
        await self.load(fresh + released)
        for e in fresh:
            self.apply_one(e)
        await self.reclassify_special_transfers()
        await self.flush()

    def apply_one(self, e: Envelope) -> None:
        """Book one event — unless it waits for another (parked), and then what waited for it."""
        awaited = self.awaits(e)
        if awaited is not None:
            self.waiting.setdefault(awaited, []).append(e)
            return
        self.applied.add({"event_id": e.id, "event_type": e.type, "region": e.region, "subject": None,
                          "journal_from": None, "journal_n": 0, "corrects": None, "effective": None,
                          "applied_at": self.now})
        if self.publish:
            self.time_iso = e.time.isoformat()
        HANDLERS[e.type](self, e, e.data)
        self.counts["reference_applied" if e.type in REFERENCE_TYPES else "events_applied"] += 1
        if self.waiting:
            for key in unlocks(e):
                for waiting in self.waiting.pop(key, ()):
                    self.apply_one(waiting)

    def awaits(self, e: Envelope) -> str | None:
        """What an event cannot be booked without, when the ledger does not know it yet: a red-ink
        correction the event it corrects (nothing to reverse), a return its payment (its project, and
        whether it was spending at all)."""
        d: Any = e.data  # the payload of the type `e.type` names
        if e.type == "indicator.corrected":
            target = d.corrects_event_id
            if target != e.id and self.original_of(target) is None:
                return f"event:{target}"
        elif e.type == "payment.returned" and d.payment_id not in self.payments:
            return f"payment:{d.payment_id}"
        return None

    def subject(self, e: Envelope, subject: str) -> None:
        self.applied.rows[e.id]["subject"] = subject

    # ------------------------------------------------------------------ indicators (预算指标)

    def on_indicator_registered(self, e, d) -> None:
        fen = to_fen(d.amount)
        row = self.indicator(d.indicator_id, e.region)
        row.update(region=e.region, registered=True, fund_code=d.fund_code, budget_year=d.budget_year, doc_no=d.doc_no,
                   doc_date=d.doc_date, registered_on=d.registered_on, functional_class=d.functional_class,
                   economic_class=d.economic_class, budget_project=d.budget_project, source=d.source.value,
                   upper_indicator_id=d.upper_indicator_id, upper_region=d.upper_region,
                   advance_issue=d.advance_issue, amount_fen=row["amount_fen"] + fen, event_id=row["event_id"] or e.id)
        self.subject(e, d.indicator_id)
        self.book(e, rules.registration(e.id, d.indicator_id, fen, d.registered_on, advance_issue=d.advance_issue))
        if d.source in TRANSFER_SOURCES and d.upper_indicator_id:
            t = self.transfer(d.upper_indicator_id, e.region)
            t["received_fen"] += fen
            t["receipts"] += 1
            first = t["first_received_on"]
            t["first_received_on"] = min(first, d.registered_on) if first else d.registered_on
            if t["issuer_region"] is None and d.upper_region:  # the issuer's own event has the last word
                t["issuer_region"] = d.upper_region
            self.receipts.setdefault(t["transfer_id"], set()).add(d.indicator_id)
            self.check_interlock(e, t)
        for transfer_id in self.unfunded.pop(d.indicator_id, ()):  # horizontal transfers booked before it
            self.transfers.rows[transfer_id].update(fund_code=d.fund_code, budget_year=d.budget_year)
            self.transfers.touch(transfer_id)

    def on_indicator_issued(self, e, d) -> None:
        fen = to_fen(d.amount)
        self.subject(e, d.indicator_id)
        self.check_pending(e, d.from_indicator_id, fen, allocation_id=d.indicator_id)
        self.book(e, rules.issue(e.id, d.from_indicator_id, fen, d.issued_on))
        t = self.transfer(d.indicator_id, d.to_region)
        t.update(issuer_region=e.region, from_indicator_id=d.from_indicator_id, to_region=d.to_region,
                 fund_code=d.fund_code, budget_year=d.budget_year, doc_no=d.doc_no, doc_date=d.doc_date,
                 issued_on=d.issued_on, advance_issue=d.advance_issue, issued_fen=(t["issued_fen"] or 0) + fen,
                 event_id=t["event_id"] or e.id)
        self.check_interlock(e, t)

    def on_indicator_allocated(self, e, d) -> None:
        fen = to_fen(d.amount)
        self.subject(e, d.allocation_id)
        self.check_pending(e, d.indicator_id, fen, allocation_id=d.allocation_id)
        self.book(e, rules.allocation(e.id, d.indicator_id, fen, d.allocated_on, horizontal=d.kind == "horizontal",
                                      project_code=d.project_code))
        self.allocations.add({"allocation_id": d.allocation_id, "event_id": e.id, "region": e.region,
                              "indicator_id": d.indicator_id, "kind": d.kind.value, "project_code": d.project_code,
                              "project_name": d.project_name, "to_region": d.to_region, "amount_fen": fen,
                              "allocated_on": d.allocated_on})
        if d.kind == AllocationKind.horizontal and d.to_region:
            # 地区间横向转移支付: a transfer to another region like a vertical issue, interlocked the same way
            giver = self.indicators.rows[d.indicator_id]
            t = self.transfer(d.allocation_id, d.to_region)
            t.update(issuer_region=e.region, from_indicator_id=d.indicator_id, to_region=d.to_region,
                     fund_code=giver["fund_code"], budget_year=giver["budget_year"], doc_no=d.doc_no,
                     doc_date=d.doc_date, issued_on=d.allocated_on, issued_fen=(t["issued_fen"] or 0) + fen,
                     event_id=t["event_id"] or e.id)
            if giver["fund_code"] is None:
                self.unfunded.setdefault(d.indicator_id, set()).add(d.allocation_id)
            self.check_interlock(e, t)
        if d.project_code and d.project_code not in self.projects:
            self.project_stubs[d.project_code] = {
                "project_code": d.project_code, "name": d.project_name or d.project_code, "fund_code": None,
                "region": e.region, "category": None, "implementing_unit": None, "start_date": None,
                "end_date": None, "in_library": False}

    def on_indicator_compiled(self, e, d) -> None:
        self.subject(e, d.indicator_id)
        self.book(e, rules.compilation(e.id, d.indicator_id, to_fen(d.amount), d.compiled_on))
        self.indicator(d.indicator_id, e.region)["compiled_year"] = d.budget_year

    def on_indicator_corrected(self, e, d) -> None:
        """Red-ink correction (红字更正): reverse what is in force for the original, re-post it."""
        original = self.original_of(d.corrects_event_id)
        applied = self.applied.get(original) if original is not None else None
        if original is None or applied is None or original == e.id:
            raise LookupError(f"correction {e.id}: event {d.corrects_event_id} is unknown to the ledger")
        row = self.applied.rows[e.id]
        row.update(corrects=original, subject=applied["subject"])
        in_force = self.own_postings.get(applied["effective"] or original, [])
        pay = self.payments.get(applied["subject"]) if applied["event_type"] == "payment.made" else None
        if pay is not None and pay["status"] != PaymentStatus.counted:
            in_force = []  # not spending (e.g. taken back out when its special account became known): nothing to move
        new_fen = to_fen(d.corrected_amount) if d.corrected_amount is not None else None
        old_fen = in_force[0].amount_fen if in_force else self.fact_amount(applied)
        postings = rules.correction(e.id, d.corrected_on, in_force, new_fen)
        for p in postings:
            self.book(e, p)
        if pay is not None and in_force and new_fen is None and pay["returned_fen"] > 0:
            # a cancelled payment was never spent, so neither was what came back of it (as when the return comes after)
            self.book(e, rules.return_reversal(e.id, len(postings), pay["indicator_id"], pay["returned_fen"],
                                               d.corrected_on, project_code=pay["project_code"]))
        applied["effective"] = e.id
        self.applied.touch(original)
        self.correct_fact(e, applied, old_fen, new_fen)

    # ------------------------------------------------------------------ payments (资金支付)

    def on_payment_planned(self, e, d) -> None:
        fen = to_fen(d.amount)
        self.subject(e, d.plan_id)
        self.book(e, rules.payment_plan(e.id, d.indicator_id, fen, d.planned_on))
        self.plans.add({"plan_id": d.plan_id, "event_id": e.id, "region": e.region, "indicator_id": d.indicator_id,
                        "amount_fen": fen, "planned_on": d.planned_on})

    def on_payment_made(self, e, d) -> None:
        payment_id, indicator_id, project_code = d.payment_id, d.indicator_id, d.project_code
        self.subject(e, payment_id)
        if payment_id in self.payments:
            log.info("payment %s reported again by event %s: recorded once", payment_id, e.id)
            return
        fen = to_fen(d.amount)
        payer, payee = d.payer, d.payee
        account = payee.account
        status = rules.payment_status(valid=d.valid, payment_date=d.payment_date,
                                      into_special_account=account.hash in self.special)
        self.payments.add({
            "payment_id": payment_id, "event_id": e.id, "region": e.region, "indicator_id": indicator_id,
            "project_code": project_code, "plan_id": d.plan_id, "amount_fen": fen, "returned_fen": 0,
            "payment_date": d.payment_date, "status": status, "channel": d.channel.value,
            "settlement": d.settlement.value, "payer_unit_code": payer.unit_code, "payer_unit_name": payer.unit_name,
            "payee_kind": payee.kind.value, "payee_name": payee.name, "payee_account_hash": account.hash,
            "payee_account_masked": account.masked, "purpose": d.purpose, "economic_class": d.economic_class})
        if status != PaymentStatus.counted:
            return
        via_plan = bool(d.plan_id)
        self.indicator(indicator_id, e.region)
        available = rules.available_for_payment(self.balances[indicator_id], via_plan=via_plan)
        if fen > available:
            self.exceeded(e, OverdrawKind.payment_beyond_balance, indicator_id, fen, available, payment_id=payment_id)
        self.book(e, rules.payment(e.id, indicator_id, fen, d.payment_date, via_plan=via_plan,
                                   project_code=project_code))

    def on_payment_returned(self, e, d) -> None:
        fen = to_fen(d.amount)
        self.subject(e, d.return_id)
        self.returns.add({"return_id": d.return_id, "event_id": e.id, "region": e.region, "payment_id": d.payment_id,
                          "indicator_id": d.indicator_id, "amount_fen": fen, "returned_on": d.returned_on,
                          "reason": d.reason})
        pay = self.payments.rows[d.payment_id]  # known: a return waits for its payment (`awaits`)
        pay["returned_fen"] += fen
        self.payments.touch(d.payment_id)
        if pay["status"] == PaymentStatus.counted:  # money back from spending; none from what was never spent
            self.book(e, rules.payment_return(e.id, pay["indicator_id"], fen, d.returned_on,
                                              project_code=pay["project_code"]))

    # ------------------------------------------------------------------ reference data

    def on_region_registered(self, e, d) -> None:
        self.subject(e, d.code)
        self.regions[d.code] = {"code": d.code, "name": d.name, "level": d.level.value, "parent": d.parent}

    def on_fund_registered(self, e, d) -> None:
        self.subject(e, d.fund_code)
        fund = self.funds.get(d.fund_code) or self.funds.create(fund_code=d.fund_code, region=e.region)
        fund.update(name=d.name, level=d.level.value, region=e.region, group_code=d.group_code,
                    for_households=d.for_households, functional_classes=json.dumps(list(d.functional_classes)))
        self.funds.touch(d.fund_code)
        if d.upper_fund_code:
            self.link_fund(e, d.fund_code, d.upper_fund_code)

    def on_fund_linked(self, e, d) -> None:
        self.subject(e, d.fund_code)
        self.link_fund(e, d.fund_code, d.upper_fund_code)

    def on_project_registered(self, e, d) -> None:
        self.subject(e, d.project_code)
        self.projects[d.project_code] = {
            "project_code": d.project_code, "name": d.name, "fund_code": d.fund_code, "region": e.region,
            "category": d.category, "implementing_unit": d.implementing_unit, "start_date": d.start_date,
            "end_date": d.end_date, "in_library": True}
        self.project_stubs.pop(d.project_code, None)

    def on_group_assigned(self, e, d) -> None:
        self.subject(e, d.group_code)
        self.groups[d.group_code] = {"group_code": d.group_code, "group_name": d.group_name, "region": e.region,
                                     "department": d.department, "fund_codes": json.dumps(list(d.fund_codes))}

    def on_account_registered(self, e, d) -> None:
        h = d.account.hash
        self.subject(e, h)
        self.accounts[h] = {"account_hash": h, "masked": d.account.masked, "holder_name": d.holder_name,
                            "kind": d.kind.value, "status": d.status.value, "unit_code": d.unit_code, "region": e.region}
        # once registered special, an account's payments are not spending whatever came after (order-free)
        if d.kind == "special" and h not in self.special:
            self.special.add(h)
            self.new_special.append((h, e))
        self.accounts[h]["was_special"] = h in self.special

    # ------------------------------------------------------------------ helpers

    def transfer(self, transfer_id: str, to_region: str) -> dict:
        t = self.transfers.get(transfer_id) or self.transfers.create(transfer_id=transfer_id, to_region=to_region)
        self.transfers.touch(transfer_id)
        return t

    def check_interlock(self, e: Envelope, t: dict) -> None:
        """Interlock (咬合) after any change to a transfer; published whatever the state."""
        state = interlock(t["issued_fen"], t["received_fen"], t["receipts"])
        t["state"] = state.state.value if state else None
        self.transfers.touch(t["transfer_id"])
        if state and self.publish:
            receipts = sorted(self.receipts.get(t["transfer_id"], ()))
            self.outgoing.append(derived.interlock_checked(self.topic, t, state, receipts, source_event_id=e.id,
                                                           time=e.time))

    def check_pending(self, e: Envelope, indicator_id: str, fen: int, *, allocation_id: str) -> None:
        self.indicator(indicator_id, e.region)
        available = rules.pending(self.balances[indicator_id])
        if fen > available:
            self.exceeded(e, OverdrawKind.allocation_beyond_pending, indicator_id, fen, available,
                          allocation_id=allocation_id)

    def exceeded(self, e: Envelope, kind: OverdrawKind, indicator_id: str, fen: int, available: int, **ids) -> None:
        if self.publish:
            row = self.indicators.rows[indicator_id]
            self.outgoing.append(derived.balance_exceeded(
                self.topic, kind.value, source_event_id=e.id, time=e.time, region=row["region"],
                indicator_id=indicator_id, fund_code=row["fund_code"], amount_fen=fen, available_fen=available, **ids))

    def link_fund(self, e: Envelope, fund_code: str, upper: str) -> None:
        """指定关联: the earliest link (by event time, then code) is the designated one, whatever order the
        links arrive in; a second upper fund is recorded and flagged."""
        known = self.links.setdefault(fund_code, {})
        if upper in known:
            return
        conflict = link_conflict(known, upper)
        known[upper] = at = e.time.astimezone(dt.UTC)  # stored in UTC (SQLite keeps no offset)
        self.new_links.append({"fund_code": fund_code, "upper_fund_code": upper, "event_id": e.id, "region": e.region,
                               "linked_at": at})
        fund = self.funds.get(fund_code) or self.funds.create(fund_code=fund_code, region=e.region)
        designated = min(known, key=lambda u: (known[u] or EARLIEST, u))
        if fund["upper_fund_code"] != designated:
            fund["upper_fund_code"] = designated
            self.funds.touch(fund_code)
        if conflict and self.publish:
            self.outgoing.append(derived.fund_link_conflict(self.topic, fund_code=fund_code, upper_fund_codes=conflict,
                                                            source_event_id=e.id, region=e.region, time=e.time))

    def fact_amount(self, applied: dict) -> int:
        rows = {"payment.made": self.payments, "indicator.allocated": self.allocations, "payment.planned": self.plans,
                "payment.returned": self.returns}.get(applied["event_type"])
        fact = rows.get(applied["subject"]) if rows else None
        return fact["amount_fen"] if fact else 0

    def correct_fact(self, e: Envelope, applied: dict, old_fen: int, new_fen: int | None) -> None:
        """Carry a correction over to the fact the original event recorded."""
        kind, subject, delta = applied["event_type"], applied["subject"], (new_fen or 0) - old_fen
        if kind == "indicator.registered" and (ind := self.indicators.get(subject)):
            ind["amount_fen"] += delta
            self.indicators.touch(subject)
            if ind["upper_indicator_id"] and ind["source"] in TRANSFER_SOURCES:
                t = self.transfer(ind["upper_indicator_id"], ind["region"])
                t["received_fen"] += delta
                if new_fen is None:
                    t["receipts"] -= 1
                    self.receipts.get(t["transfer_id"], set()).discard(subject)
                self.check_interlock(e, t)
        elif kind in ("indicator.issued", "indicator.allocated") and (issued := self.transfers.get(subject)):
            t = issued
            t["issued_fen"] = (t["issued_fen"] or 0) + delta  # an issue, or a horizontal transfer (allocation id)
            self.check_interlock(e, t)
        elif kind == "payment.made" and (pay := self.payments.get(subject)):
            pay["amount_fen"] = new_fen or 0
            if new_fen is None:
                pay["status"] = PaymentStatus.cancelled
            self.payments.touch(subject)
        elif kind == "payment.returned" and (ret := self.returns.get(subject)):
            ret["amount_fen"] = new_fen or 0
            self.returns.touch(subject)
            if pay := self.payments.get(ret["payment_id"]):
                pay["returned_fen"] += delta
                self.payments.touch(ret["payment_id"])
        if kind in ("indicator.allocated", "payment.planned"):
            rows = self.allocations if kind == "indicator.allocated" else self.plans
            if fact := rows.get(subject):
                fact["amount_fen"] = new_fen or 0
                rows.touch(subject)

    async def reclassify_special_transfers(self) -> None:
        """Payments counted as spending before their payee account was registered as a fiscal
        special account (财政专户) are not spending (seed 002): take them back out of 5201, so
        the balances do not depend on which topic was read first."""
        for account_hash, e in self.new_special:
            no, self.time_iso = 0, e.time.isoformat()
            for pay in await self.load_payments_to(account_hash):
                pay["status"] = PaymentStatus.special_transfer
                self.payments.touch(pay["payment_id"])
                net = pay["amount_fen"] - pay["returned_fen"]
                if net > 0:
                    self.indicator(pay["indicator_id"], pay["region"])
                    self.book(e, rules.reclassification(
                        e.id, no, pay["indicator_id"], net, e.time.date(), via_plan=bool(pay["plan_id"]),
                        project_code=pay["project_code"], reverses=posting_id(pay["event_id"], 0)))
                    no += 1


HANDLERS: dict[str, Callable[[Batch, Envelope, Any], None]] = {
    "indicator.registered": Batch.on_indicator_registered,
    "indicator.issued": Batch.on_indicator_issued,
    "indicator.allocated": Batch.on_indicator_allocated,
    "indicator.compiled": Batch.on_indicator_compiled,
    "indicator.corrected": Batch.on_indicator_corrected,
    "payment.planned": Batch.on_payment_planned,
    "payment.made": Batch.on_payment_made,
    "payment.returned": Batch.on_payment_returned,
    "region.registered": Batch.on_region_registered,
    "fund.registered": Batch.on_fund_registered,
    "fund.linked": Batch.on_fund_linked,
    "project.registered": Batch.on_project_registered,
    "group.assigned": Batch.on_group_assigned,
    "account.registered": Batch.on_account_registered,
}
"""The handler of each event type the ledger applies (`batch.consumed`)."""
