"""A bank account (A:<hash>): its registrations over time and the payments into and out of it —
ACC-01…06, USE-05/06/07, PRG-04.

A payment is judged by the account's registration in force on the payment's date (a freeze on
1 March does not concern a payment of 20 February); a registration that arrives after the
payments it concerns judges them when it arrives."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

import msgspec

from services.alerts import facts as f
from services.alerts.entities.base import HISTORY, RECENT_DAYS, RECENT_MAX, Ctx, Entity
from services.alerts.model import Line, Pay, Registration
from services.alerts.rules import accounts as acc
from services.alerts.rules import progress as prg
from services.alerts.rules import usage as use


class BankAccount(Entity):
    registrations: list[Registration] = msgspec.field(default_factory=list)  # in force order
    owners: dict[str, Pay] = msgspec.field(default_factory=dict)  # beneficiary → the first payment for them
    received: list[Pay] = msgspec.field(default_factory=list)  # recent payments into it, business order
    paid_out: list[Pay] = msgspec.field(default_factory=list)  # recent payments out of it
    cards: list[tuple[Pay, Line]] = msgspec.field(default_factory=list)  # subsidy lines paid into it

    def on(self, day: dt.date) -> Registration | None:
        """The registration in force on `day`."""
        found = None
        for r in self.registrations:
            if (r.effective_on or "") <= day.isoformat():
                found = r
        return found

    # ------------------------------------------------------------------ handlers

    def registered(self, key: str, fact: f.AccountRegistered, ctx: Ctx) -> bool:
        reg = fact.registration
        if any(r.event_id == reg.event_id for r in self.registrations):
            return False
        self.registrations.append(reg)
        self.registrations.sort(key=lambda r: r.order)
        for p in self.received:  # the registration judges the payments it concerns, whenever it arrives
            self._registered_checks(key, p, ctx)
        for p in self.paid_out:
            self._payer_checks(p, ctx, final=False)
        self.paid_out = [q for q in self.paid_out if not ctx.complete_up_to("reference", q.at)]
        for p, line in self.cards:
            ctx.rules.run(acc.acc05_card, p.day.year, p.region, p, line, self.on(p.day))
        self.release(key, ctx, force=lambda x: isinstance(x.fact, f.PayerAccountPaid))
        return True

    def received_payment(self, key: str, fact: f.PayeeAccountPaid, ctx: Ctx) -> bool:
        p = fact.pay
        if any(q.pid == p.pid for q in self.received) or self._parked(p.pid, f.PayeeAccountPaid):
            return False
        year, region = p.day.year, p.region
        self._owner(key, p.owner, p, p.payee_masked, ctx)
        ctx.rules.run(use.use05_duplicate, year, region, p, self.received)
        self.received.append(p)
        self.received.sort(key=lambda q: q.key)
        newest = self.received[-1].day
        keep = max([RECENT_DAYS] + [c.int("window_days") for c in (ctx.rules.config("USE-05", year, region),
                                                                    ctx.rules.config("USE-06", year, region)) if c])
        self.received = [q for q in self.received if q.date and (newest - q.day).days <= keep][-RECENT_MAX:]
        repeat = ctx.rules.config("USE-05", year, region)
        ctx.rules.run(use.use06_split, year, region, self.received, p, repeat.int("window_days") if repeat else 0)
        self._registered_checks(key, p, ctx)
        self._fund_checks(key, fact, ctx)
        return True

    def card_paid(self, key: str, fact: f.CardAccountPaid, ctx: Ctx) -> bool:
        p, line = fact.pay, fact.line
        if any(q.pid == p.pid and x.person == line.person for q, x in self.cards):
            return False
        self.cards.append((p, line))
        del self.cards[:-HISTORY]
        self._owner(key, line.person, p, line.account_masked or p.payee_masked, ctx)
        ctx.rules.run(acc.acc05_card, p.day.year, p.region, p, line, self.on(p.day))
        return True

    def _owner(self, key: str, owner: str, p: Pay, masked: str, ctx: Ctx) -> None:
        """ACC-02: a second beneficiary on one account. The alert names the payment that, in business
        order, first paid it for a second beneficiary — whichever arrived second."""
        first = self.owners.get(owner)
        if first is None or p.key < first.key:
            self.owners[owner] = p
        if len(self.owners) < 2:
            return
        firsts = sorted(self.owners.items(), key=lambda kv: kv[1].key)
        (one, _), (second, q) = firsts[0], firsts[1]
        ctx.rules.run(acc.acc02_shared, q.day.year, q.region, q, second, [one, second], key[2:], masked)

    def paid_payment(self, key: str, fact: f.PayerAccountPaid, ctx: Ctx) -> bool:
        p = fact.pay
        if any(q.pid == p.pid for q in self.paid_out) or self._parked(p.pid, f.PayerAccountPaid):
            return False
        final = ctx.complete_up_to("reference", p.at)
        self._payer_checks(p, ctx, final=final)
        if final:
            return False  # decided; the account's registrations up to the payment are all here: nothing to keep
        self.paid_out.append(p)  # a registration arriving within the lateness judges it again
        self.paid_out.sort(key=lambda q: q.key)
        del self.paid_out[:-HISTORY]
        if self.on(p.day) is None:
            self.park("reference", p.at, fact)
        return True

    def decide(self, key: str, fact: f.Fact, ctx: Ctx) -> None:
        if isinstance(fact, f.PayerAccountPaid):
            self._payer_checks(fact.pay, ctx, final=True)
        elif isinstance(fact, f.PayeeAccountPaid):
            self._fund_checks(key, fact, ctx, final=True)

    def _parked(self, pid: str, kind: type) -> bool:
        return any(isinstance(x.fact, kind) and cast(Any, x.fact).pay.pid == pid for x in self.parked)

    # ------------------------------------------------------------------ checks

    def _registered_checks(self, key: str, p: Pay, ctx: Ctx) -> None:
        """What the payee account's registration on the payment's date says (positive only: an
        unregistered account is not a finding here)."""
        reg = self.on(p.day)
        if reg is None:
            return
        year, region = p.day.year, p.region
        ctx.rules.run(acc.acc03_holder, year, region, p, reg)
        ctx.rules.run(acc.acc05_inactive, year, region, p, "payee", reg, p.payee_masked)
        ctx.rules.run(acc.acc06_back_to_payer, year, region, p, reg)
        ctx.rules.run(prg.prg04_special_account, year, region, p, reg.kind)
        if reg.kind == "personal":
            fund = ctx.fund_of_indicator(p.ind)
            if fund is not None or ctx.complete_up_to("reference", p.at):
                ctx.rules.run(acc.acc04_personal, year, region, p, reg, bool(fund and fund.for_households))

    def _fund_checks(self, key: str, fact: f.PayeeAccountPaid, ctx: Ctx, final: bool = False) -> None:
        """USE-07 and ACC-04 need the fund's household flag: wait for the catalogue if it is not here yet."""
        p = fact.pay
        fund = ctx.fund_of_indicator(p.ind)
        needs_fund = p.lines == 0 and p.payee_kind == "individual"  # a subsidy or not: the fund says
        if fund is None and needs_fund and not final and not ctx.complete_up_to("reference", p.at):
            self.park("reference", p.at, fact)
            return
        households = bool(fund and fund.for_households)
        year, region = p.day.year, p.region
        ctx.rules.run(use.use07_not_by_card, year, region, p, households)
        ctx.rules.run(acc.acc04_personal, year, region, p, self.on(p.day), households)

    def _payer_checks(self, p: Pay, ctx: Ctx, *, final: bool) -> None:
        reg = self.on(p.day)
        year, region = p.day.year, p.region
        if reg is not None or final:
            ctx.rules.run(acc.acc01_not_designated, year, region, p, reg)
        ctx.rules.run(acc.acc05_inactive, year, region, p, "payer", reg, p.payer_masked)


BankAccount.HANDLERS = {
    f.AccountRegistered: BankAccount.registered,
    f.PayeeAccountPaid: BankAccount.received_payment,
    f.CardAccountPaid: BankAccount.card_paid,
    f.PayerAccountPaid: BankAccount.paid_payment,
}
