"""An issued transfer (T:<id>): an upper level's issue (下达) or a region's horizontal allocation
(地区间横向转移支付), the receiver's registrations against it and the ledger's interlock —
IND-01, IND-02, IND-05, IND-06.

IND-01 is a deadline on the indicator family: every registration up to the due date has arrived,
whichever county sent it. IND-02 (interlock break) waits until the registration window has closed
and the ledger has booked everything up to then: a transfer received in parts is not broken half way."""

from __future__ import annotations

import datetime as dt

import msgspec

from services.alerts import facts as f
from services.alerts.clock import day_key
from services.alerts.entities.base import Ctx, Entity
from services.alerts.model import IndicatorDoc
from services.alerts.rules import indicators as ind


class Transfer(Entity):
    issue: IndicatorDoc | None = None
    receipts: dict[str, IndicatorDoc] = msgspec.field(default_factory=dict)
    checked: list[str] = msgspec.field(default_factory=list)  # receipts the fund checks were made for
    interlock: f.InterlockReported | None = None
    window_judged: bool = False  # the interlock was judged once the registration window had closed

    # ------------------------------------------------------------------ handlers

    def issued(self, key: str, fact: f.TransferIssued, ctx: Ctx) -> bool:
        if self.issue is not None:
            return False
        self._issue(fact.doc, ctx)
        return True

    def allocated(self, key: str, fact: f.TransferAllocated, ctx: Ctx) -> bool:
        """A horizontal transfer: its fund and year are the giving indicator's (broadcast `IndicatorKnown`)."""
        if self.issue is not None:
            return False
        meta = ctx.imeta(fact.allocation.indicator_id)
        if meta is None and not ctx.complete_up_to("indicator", fact.allocation.at):
            self.park("indicator", fact.allocation.at, fact)
            return True
        self.decide(key, fact, ctx)
        return True

    def decide(self, key: str, fact: f.Fact, ctx: Ctx) -> None:
        if isinstance(fact, f.TransferAllocated) and self.issue is None:
            a = fact.allocation
            meta = ctx.imeta(a.indicator_id)
            doc = IndicatorDoc(a.allocation_id, a.event_id, "indicator.allocated", a.region, a.at,
                               meta.fund if meta else "", a.amount, meta.year if meta else int(a.on[:4]),
                               fact.doc_no or "", fact.doc_date or a.on, a.on, "horizontal", to_region=a.to_region,
                               scan=fact.scan)
            if fact.doc_no:
                ctx.rules.run(ind.ind03_missing_scan, doc.budget_year, doc.region, doc)
                ctx.rules.run(ind.ind04_irregular_doc_no, doc.budget_year, doc.region, doc)
            self._issue(doc, ctx)
        elif isinstance(fact, f.TransferReceived):
            self._receipt_checks(fact.doc, ctx)

    def received(self, key: str, fact: f.TransferReceived, ctx: Ctx) -> bool:
        doc = fact.doc
        if doc.indicator_id in self.receipts:
            return False
        self.receipts[doc.indicator_id] = doc
        if self.issue is not None:
            self.complete_deadline("IND-01", dt.date.fromisoformat(doc.on), ctx, (doc.evidence(),))
            self._check_receipt(doc, ctx)
        return True

    def interlocked(self, key: str, fact: f.InterlockReported, ctx: Ctx) -> bool:
        self.interlock = fact
        self._interlock_check(key, ctx)
        return True

    # ------------------------------------------------------------------ checks

    def _issue(self, doc: IndicatorDoc, ctx: Ctx) -> None:
        self.issue = doc
        if c := ctx.rules.config("IND-01", doc.budget_year, doc.to_region or doc.region):
            self.open_deadline("IND-01", ind.ind01_deadline(c, doc))
        for receipt in self.receipts.values():
            self.complete_deadline("IND-01", dt.date.fromisoformat(receipt.on), ctx, (receipt.evidence(),))
            self._check_receipt(receipt, ctx)

    def _check_receipt(self, receipt: IndicatorDoc, ctx: Ctx) -> None:
        """IND-05 and IND-06 need the fund catalogue, which may still be on its way."""
        if receipt.indicator_id in self.checked:
            return
        if receipt.fund not in ctx.funds and not ctx.complete_up_to("reference", receipt.at):
            self.park("reference", receipt.at, f.TransferReceived(key="", doc=receipt))
            return
        self._receipt_checks(receipt, ctx)

    def _receipt_checks(self, receipt: IndicatorDoc, ctx: Ctx) -> None:
        if self.issue is None or receipt.indicator_id in self.checked:
            return
        self.checked.append(receipt.indicator_id)
        ctx.rules.run(ind.ind05_wrong_link, receipt.budget_year, receipt.region, self.issue, receipt, ctx.funds)
        ctx.rules.run(ind.ind06_carry_over, receipt.budget_year, receipt.region, self.issue, receipt)

    def _window_due(self, ctx: Ctx) -> dt.date | None:
        """The last day the receiver may register (IND-01's due date, whether or not IND-01 is switched on)."""
        item = self.deadlines.get("IND-01")
        if item is not None:
            return dt.date.fromisoformat(item.due)
        if self.issue is None:
            return None
        c = ctx.rules.configs.get("IND-01", self.issue.budget_year, self.issue.to_region or self.issue.region)
        return ind.ind01_deadline(c, self.issue).due_date

    def _window_closed(self, ctx: Ctx) -> bool:
        due = self._window_due(ctx)
        return due is not None and ctx.now.reached("ledger", day_key(due + dt.timedelta(days=1)))

    def _interlock_check(self, key: str, ctx: Ctx) -> None:
        i = self.interlock
        if i is None:
            return
        year = self.issue.budget_year if self.issue else int(i.at[:4])
        ctx.rules.run(ind.ind02_interlock_break, year, i.region, key[2:], i.region, i.at, i.state, i.issued,
                      i.received, i.fund, i.ev, self._window_closed(ctx))

    # ------------------------------------------------------------------ time

    def on_time(self, key: str, ctx: Ctx) -> bool:
        changed = super().on_time(key, ctx)
        if not self.window_judged and self.interlock is not None and self._window_closed(ctx):
            self.window_judged = True
            self._interlock_check(key, ctx)
            changed = True
        return changed

    def wakeups(self) -> list[tuple[str, str]]:
        out = super().wakeups()
        if self.interlock is not None and not self.window_judged and self.issue is not None:
            item = self.deadlines.get("IND-01")
            due = dt.date.fromisoformat(item.due) if item is not None else dt.date.fromisoformat(self.issue.on) + \
                dt.timedelta(days=14)  # IND-01 switched off: its default five working days lie within two weeks
            out.append(("ledger", day_key(due + dt.timedelta(days=1))))
        return out


Transfer.HANDLERS = {
    f.TransferIssued: Transfer.issued,
    f.TransferAllocated: Transfer.allocated,
    f.TransferReceived: Transfer.received,
    f.InterlockReported: Transfer.interlocked,
}
