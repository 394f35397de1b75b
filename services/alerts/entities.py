"""Stage 2 of the rule engine: what one fact does to the state of its entity, and which
findings follow. Pure functions over plain dicts (the state is JSON, kept in a faust table).

Entities: person `P`, account `A`, enterprise `E`, project `J`, issued transfer `T`,
indicator `I`, fund `F`. A handler mutates the state it is given and returns True when it
changed it. Checks that need reference data which may still be on its way (is this person
in the registry, is this account registered, is this project in the library) wait until
the reference topic has been read past the moment the fact was routed (`ctx.ref_ready`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from services.runtime.calendar import end_of
from services.alerts.clock import Clock
from services.alerts.deadlines import DeadlineItem, complete, next_check_of, tick
from services.alerts.findings import Evidence, Finding
from services.alerts.model import Allocation, Fund, IndicatorDoc, Line, Pay, Posting
from services.alerts.routing import Cfg
from services.alerts.rules import accounts as acc
from services.alerts.rules import allocation as alc
from services.alerts.rules import indicators as ind
from services.alerts.rules import performance as perf
from services.alerts.rules import progress as prg
from services.alerts.rules import recipients as ben
from services.alerts.rules import usage as use

HISTORY = 20  # payments kept per person / enterprise for checks on records that arrive later
RECENT_DAYS = 31  # payments kept per account (USE-05 / USE-06 windows)
RECENT_MAX = 60


@dataclass
class Ctx:
    cfg: Cfg
    funds: Mapping[str, Fund]
    imeta: Callable[[str], dict | None]
    clock: Clock
    ref_ready: Callable[[float | None], bool]
    findings: list[Finding] = field(default_factory=list)
    derived: list[dict] = field(default_factory=list)

    def add(self, f: Finding | None) -> None:
        if f is not None:
            self.findings.append(f)

    def fund_of_indicator(self, indicator_id: str) -> Fund | None:
        meta = self.imeta(indicator_id)
        return self.funds.get(meta["fund"]) if meta else None


def _wait(state: dict, fact: dict) -> None:
    state.setdefault("wait", []).append({k: v for k, v in fact.items() if k != "k"})


def _must_wait(state: dict, known: bool, fact: dict, ctx: Ctx) -> bool:
    """True (and the fact parked) while earlier facts wait or the reference data may still come."""
    if state.get("wait") or (not known and not ctx.ref_ready(fact.get("ro"))):
        _wait(state, fact)
        return True
    return False


def _release(state: dict, ctx: Ctx, decide: Callable[[dict, dict, Ctx], None], force: bool = False) -> bool:
    """Decide parked facts, oldest first, as far as the reference data allows (all of them once
    the entity's own reference record is known: `force`)."""
    waiting = state.get("wait") or []
    done = 0
    for fact in waiting:
        if not force and not ctx.ref_ready(fact.get("ro")):
            break
        decide(state, fact, ctx)
        done += 1
    if done:
        rest = waiting[done:]
        if rest:
            state["wait"] = rest
        else:
            state.pop("wait", None)
    return bool(done)


def _rec(d: dict) -> ben.Record:
    return ben.Record(d["record_id"], d["kind"], d["date"], d["ev"], d.get("status"), d.get("unit"))


# ====================================================================== persons (BEN-01…05, 09)


def person(key: str, state: dict, fact: dict, ctx: Ctx) -> bool:
    f = fact["f"]
    if f == "reg":
        state["reg"] = {"status": fact["status"], "since": fact["since"], "household": fact.get("household")}
        _release(state, ctx, _decide_line, force=True)
        return True
    if f == "rec":
        rec = fact["rec"]
        recs = state.setdefault("recs", [])
        if any(r["record_id"] == rec["record_id"] for r in recs):
            return False
        recs.append(rec)
        for h in state.get("hist", []):  # a record that arrives after the payment still counts
            _record_checks(Pay.from_wire(h["pay"]), Line.from_wire(h["line"]), [_rec(rec)], ctx)
        if rec["kind"] == "public_employee" and rec.get("unit"):
            state.setdefault("units", {})[rec["unit"]] = rec["ev"]
            for enterprise in state.get("rep_of", {}):
                ctx.derived.append({"k": f"E:{enterprise}", "f": "rel", "unit": rec["unit"], "ev": rec["ev"]})
        return True
    if f == "rep":
        state.setdefault("rep_of", {})[fact["enterprise"]] = fact["ev"]
        for unit, ev in state.get("units", {}).items():
            ctx.derived.append({"k": f"E:{fact['enterprise']}", "f": "rel", "unit": unit, "ev": ev})
        return True
    if f == "line":
        if not _must_wait(state, "reg" in state, fact, ctx):
            _decide_line(state, fact, ctx)
        return True
    if f == "wake":
        return _release(state, ctx, _decide_line)
    return False


def _record_checks(p: Pay, line: Line, recs: list[ben.Record], ctx: Ctx) -> None:
    year = p.day.year
    if c := ctx.cfg("BEN-02", year):
        ctx.add(ben.ben02_disqualifying_record(p, line, recs, c))
    if ctx.cfg("BEN-03", year):
        ctx.add(ben.ben03_deceased(p, line, recs))


def _decide_line(state: dict, fact: dict, ctx: Ctx) -> None:
    p, line = Pay.from_wire(fact["pay"]), Line.from_wire(fact["line"])
    year = p.day.year
    reg = ben.Registry(**state["reg"]) if state.get("reg") else None
    if ctx.cfg("BEN-01", year):
        ctx.add(ben.ben01_not_in_registry(p, line, reg))
    if ctx.cfg("BEN-09", year):
        ctx.add(ben.ben09_stable(p, line, reg))
    _record_checks(p, line, [_rec(r) for r in state.get("recs", [])], ctx)
    hist = state.setdefault("hist", [])
    if (c := ctx.cfg("BEN-04", year)) and line.subsidy_type:
        same = [(Pay.from_wire(h["pay"]), Line.from_wire(h["line"])) for h in hist
                if h["line"].get("subsidy_type") == line.subsidy_type]
        ctx.findings.extend(ben.ben04_twice(p, line, same, c))
    if not any(h["pay"]["pid"] == p.pid for h in hist):
        hist.append({"pay": fact["pay"], "line": fact["line"]})
        hist.sort(key=lambda h: (h["pay"].get("date") or h["pay"]["at"][:10], h["pay"]["pid"]))
        del hist[:-HISTORY]


# ====================================================================== accounts (ACC-*, USE-05/06/07, PRG-04)


def account(key: str, state: dict, fact: dict, ctx: Ctx) -> bool:
    f = fact["f"]
    if f == "acct":
        state["reg"] = {"kind": fact["kind"], "status": fact["status"], "holder": fact["holder"], "unit": fact.get("unit")}
        _release(state, ctx, _decide_account(key), force=True)
        return True
    if f in ("payee", "payer"):
        known = "reg" in state
        if f == "payer" and known and not state.get("wait"):
            _decide_account(key)(state, fact, ctx)  # read-only: no state change
            return False
        if not _must_wait(state, known, fact, ctx):
            _decide_account(key)(state, fact, ctx)
        return True
    if f == "wake":
        return _release(state, ctx, _decide_account(key))
    return False


def _decide_account(key: str) -> Callable[[dict, dict, Ctx], None]:
    account_hash = key[2:]

    def decide(state: dict, fact: dict, ctx: Ctx) -> None:
        p = Pay.from_wire(fact["pay"])
        year = p.day.year
        reg = state.get("reg")
        acct = acc.Account(reg["kind"], reg["status"], reg["holder"], reg.get("unit")) if reg else None
        if fact["f"] == "payer":
            if ctx.cfg("ACC-01", year):
                ctx.add(acc.acc01_not_designated(p, acct))
            if ctx.cfg("ACC-05", year):
                ctx.add(acc.acc05_inactive(p, acct, None))
            return
        owners = state.setdefault("owners", [])
        recent = [use.Recent(r["pid"], Decimal(r["amount"]), r["purpose"], r.get("date"), r["payer_unit"], r["ev"])
                  for r in state.get("recent", [])]
        if ctx.cfg("ACC-02", year):
            ctx.add(acc.acc02_shared(p, owners, account_hash))
        if c := ctx.cfg("USE-05", year):
            ctx.add(use.use05_duplicate(p, recent, c))
        if c := ctx.cfg("USE-06", year):
            ctx.add(use.use06_split(p, recent, c))
        for rule, check in (("ACC-03", acc.acc03_holder), ("ACC-04", acc.acc04_personal),
                            ("ACC-06", acc.acc06_back_to_payer)):
            if ctx.cfg(rule, year):
                ctx.add(check(p, acct))
        if ctx.cfg("ACC-05", year):
            ctx.add(acc.acc05_inactive(p, None, acct))
        if ctx.cfg("PRG-04", year):
            ctx.add(prg.prg04_special_account(p, acct.kind if acct else None))
        if ctx.cfg("USE-07", year):
            fund = ctx.fund_of_indicator(p.ind)
            ctx.add(use.use07_not_by_card(p, bool(fund and fund.for_households)))
        if p.owner not in owners:
            owners.append(p.owner)
        kept = [r for r in state.get("recent", []) if r["pid"] != p.pid and r.get("date")
                and (p.day - dt.date.fromisoformat(r["date"])).days <= RECENT_DAYS]
        kept.append({"pid": p.pid, "amount": str(p.amount), "purpose": p.purpose, "date": p.date,
                     "payer_unit": p.payer_unit, "ev": p.evidence().to_wire()})
        state["recent"] = kept[-RECENT_MAX:]

    return decide


# ====================================================================== enterprises (BEN-06/07/08)


def enterprise(key: str, state: dict, fact: dict, ctx: Ctx) -> bool:
    f = fact["f"]
    if f == "biz":
        state["biz"] = fact["rec"]
        _release(state, ctx, _decide_enterprise, force=True)
        return True
    if f == "status":
        statuses = state.setdefault("statuses", [])
        if any(r["record_id"] == fact["rec"]["record_id"] for r in statuses):
            return False
        statuses.append(fact["rec"])
        for pw in state.get("pays", []):
            p = Pay.from_wire(pw)
            if c := ctx.cfg("BEN-06", p.day.year):
                ctx.add(ben.ben06_bad_status(p, [_rec(fact["rec"])], c))
        return True
    if f == "rel":
        related = state.setdefault("related", {})
        if fact["unit"] in related:
            return False
        related[fact["unit"]] = fact["ev"]
        for pw in state.get("pays", []):
            p = Pay.from_wire(pw)
            if p.payer_unit == fact["unit"] and ctx.cfg("BEN-08", p.day.year):
                ctx.add(ben.ben08_related_party(p, related))
        return True
    if f == "pay":
        if not _must_wait(state, "biz" in state, fact, ctx):
            _decide_enterprise(state, fact, ctx)
        return True
    if f == "wake":
        return _release(state, ctx, _decide_enterprise)
    return False


def _decide_enterprise(state: dict, fact: dict, ctx: Ctx) -> None:
    p = Pay.from_wire(fact["pay"])
    year = p.day.year
    if c := ctx.cfg("BEN-06", year):
        ctx.add(ben.ben06_bad_status(p, [_rec(r) for r in state.get("statuses", [])], c))
    if c := ctx.cfg("BEN-07", year):
        ctx.add(ben.ben07_young_enterprise(p, _rec(state["biz"]) if state.get("biz") else None, c))
    if ctx.cfg("BEN-08", year):
        ctx.add(ben.ben08_related_party(p, state.get("related", {})))
    pays = state.setdefault("pays", [])
    if not any(x["pid"] == p.pid for x in pays):
        pays.append(fact["pay"])
        del pays[:-HISTORY]


# ====================================================================== projects (ALC-04, USE-08, PERF-01…03)


def project(key: str, state: dict, fact: dict, ctx: Ctx) -> bool:
    code = key[2:]
    fact = {**fact, "k2": code} if fact["f"] == "alloc" else fact
    f = fact["f"]
    if f == "proj":
        state["reg"] = {"start": fact["start"], "end": fact["end"], "fund": fact.get("fund")}
        _release(state, ctx, _decide_project, force=True)
        return True
    if f == "alloc":
        if not _must_wait(state, "reg" in state, fact, ctx):
            _decide_project(state, fact, ctx)
        return True
    if f == "targets":
        if state.get("targets_on") is None:
            state["targets_on"] = fact["on"]
            state["region"] = state.get("region") or fact["region"]
        state["targets"] = {t["metric"]: t for t in fact["targets"]}
        _complete(state, "PERF-01", dt.date.fromisoformat(state["targets_on"]), (Evidence.from_wire(fact["ev"]),), ctx)
        for pending in state.pop("progress", []):
            _progress(code, state, pending, ctx)
        return True
    if f == "progress":
        reported = state.setdefault("reported", {})
        pe = fact["period_end"]
        if pe not in reported or fact["on"] < reported[pe]:
            reported[pe] = fact["on"]
        _complete(state, f"PERF-03@{pe}", dt.date.fromisoformat(fact["on"]), (Evidence.from_wire(fact["ev"]),), ctx)
        if state.get("targets"):
            _progress(code, state, fact, ctx)
        else:
            state.setdefault("progress", []).append({k: v for k, v in fact.items() if k != "k"})
        return True
    if f == "pay":
        if "reg" in state:
            _decide_project(state, fact, ctx)
            return False
        if not _must_wait(state, False, fact, ctx):
            return False  # not in the library: ALC-04 said so at allocation
        return True
    if f == "wake":
        return _release(state, ctx, _decide_project)
    return False


def _decide_project(state: dict, fact: dict, ctx: Ctx) -> None:
    reg = state.get("reg")
    if fact["f"] == "alloc":
        a = Allocation.from_wire(fact["a"])
        if ctx.cfg("ALC-04", int(a.on[:4])):
            ctx.add(alc.alc04_not_in_library(a, reg is not None))
        if reg is not None:  # performance management applies to projects of the library
            _open_performance(fact["k2"], state, a, ctx)
    elif fact["f"] == "pay" and reg is not None:
        p = Pay.from_wire(fact["pay"])
        if ctx.cfg("USE-08", p.day.year):
            ctx.add(use.use08_outside_period(p, reg["start"], reg["end"]))


def _open_performance(code: str, state: dict, a: Allocation, ctx: Ctx) -> None:
    on = dt.date.fromisoformat(a.on)
    first = state.get("first_alloc")
    if first is not None and first <= a.on:
        return
    state["first_alloc"] = a.on
    state["region"] = a.region
    fund = ctx.fund_of_indicator(a.indicator_id)
    ev = (a.evidence(),)
    dls = state.setdefault("dl", {})
    if (c := ctx.cfg("PERF-01", on.year)) and "PERF-01" not in dls:
        item = perf.perf01_deadline(code, a.region, on, ev, c, fund.code if fund else None)
        dls["PERF-01"] = item.to_wire()
        if state.get("targets_on"):
            _complete(state, "PERF-01", dt.date.fromisoformat(state["targets_on"]), (), ctx)
    if c := ctx.cfg("PERF-03", on.year):
        for mmdd in c.checkpoints:
            pe = prg.checkpoint_date(on.year, mmdd)
            name = f"PERF-03@{pe.isoformat()}"
            if name in dls or not perf.perf03_applies(on, pe, c):
                continue
            dls[name] = perf.perf03_deadline(code, a.region, pe, ev, c, fund.code if fund else None).to_wire()
            done = state.get("reported", {}).get(pe.isoformat())
            if done:
                _complete(state, name, dt.date.fromisoformat(done), (), ctx)


def _progress(code: str, state: dict, fact: dict, ctx: Ctx) -> None:
    target = state.get("targets", {}).get(fact["metric"])
    start = state.get("targets_on") or state.get("first_alloc")
    if target is None or start is None:
        return
    pe = dt.date.fromisoformat(fact["period_end"])
    if c := ctx.cfg("PERF-02", pe.year):
        ctx.add(perf.perf02_behind(code, fact["region"], fact["at"], fact["metric"], target["name"],
                                   Decimal(target["value"]), Decimal(fact["value"]), dt.date.fromisoformat(start),
                                   dt.date.fromisoformat(target["deadline"]), pe, c,
                                   (Evidence.from_wire(fact["ev"]),)))


# ====================================================================== deadlines shared by T, I, J


def _complete(state: dict, name: str, on: dt.date, ev: tuple[Evidence, ...], ctx: Ctx) -> None:
    raw = state.get("dl", {}).get(name)
    if raw is None:
        return
    item, found = complete(DeadlineItem.from_wire(raw), on, ev)
    state["dl"][name] = item.to_wire()
    ctx.findings.extend(found)


def _tick_deadlines(state: dict, ctx: Ctx) -> bool:
    changed = False
    for name, raw in list(state.get("dl", {}).items()):
        item = DeadlineItem.from_wire(raw)
        new, found = tick(item, ctx.clock.now(item.stream))
        if new != item:
            state["dl"][name] = new.to_wire()
            ctx.findings.extend(found)
            changed = True
    return changed


# ====================================================================== issued transfers (IND-01, IND-05, IND-06)


def transfer(key: str, state: dict, fact: dict, ctx: Ctx) -> bool:
    f = fact["f"]
    if f == "issue":
        if state.get("issue"):
            return False
        issue = IndicatorDoc.from_wire(fact["doc"])
        state["issue"] = fact["doc"]
        if c := ctx.cfg("IND-01", issue.budget_year):
            state.setdefault("dl", {})["IND-01"] = ind.ind01_deadline(issue, c).to_wire()
        for raw in state.get("receipts", {}).values():
            receipt = IndicatorDoc.from_wire(raw)
            _complete(state, "IND-01", dt.date.fromisoformat(receipt.on), (receipt.evidence(),), ctx)
            _check_receipt(state, {"f": "check", "id": receipt.indicator_id, "ro": fact.get("ro")}, ctx)
        return True
    if f == "receipt":
        doc = IndicatorDoc.from_wire(fact["doc"])
        receipts = state.setdefault("receipts", {})
        if doc.indicator_id in receipts:
            return False
        receipts[doc.indicator_id] = fact["doc"]
        if state.get("issue"):
            _complete(state, "IND-01", dt.date.fromisoformat(doc.on), (doc.evidence(),), ctx)
            _check_receipt(state, {"f": "check", "id": doc.indicator_id, "ro": fact.get("ro")}, ctx)
        return True
    if f == "wake":
        return _release(state, ctx, _receipt_checks)
    return False


def _check_receipt(state: dict, check: dict, ctx: Ctx) -> None:
    """IND-05 and IND-06 need the fund catalogue, which may still be on its way."""
    receipt = IndicatorDoc.from_wire(state["receipts"][check["id"]])
    if not _must_wait(state, receipt.fund in ctx.funds, check, ctx):
        _receipt_checks(state, check, ctx)


def _receipt_checks(state: dict, check: dict, ctx: Ctx) -> None:
    issue = IndicatorDoc.from_wire(state["issue"])
    receipt = IndicatorDoc.from_wire(state["receipts"][check["id"]])
    year = receipt.budget_year
    if ctx.cfg("IND-05", year):
        ctx.add(ind.ind05_wrong_link(issue, receipt, ctx.funds))
    if ctx.cfg("IND-06", year):
        ctx.add(ind.ind06_carry_over(issue, receipt))


# ====================================================================== funds (IND-07)


def fund(key: str, state: dict, fact: dict, ctx: Ctx) -> bool:
    f = fact["f"]
    if f == "designated":
        state["designated"] = fact.get("upper")
        return True
    if f == "link":
        links = state.setdefault("links", [])
        if fact["upper"] in links:
            return False
        links.append(fact["upper"])
        uppers = [u for u in [state.get("designated"), *links] if u]
        ev = Evidence.from_wire(fact["ev"])
        if ctx.cfg("IND-07", int(ev.time[:4]) if ev.time else None):
            ctx.add(ind.ind07_several_uppers(key[2:], uppers, ev, fact.get("region") or ev.region or "000000"))
        return True
    return False


# ====================================================================== indicators (ALC-01/05/06, IND-05, PRG-*)


def indicator(key: str, state: dict, fact: dict, ctx: Ctx) -> bool:
    f = fact["f"]
    state.setdefault("id", key[2:])
    if f == "ireg":
        if state.get("reg"):
            return False
        reg = IndicatorDoc.from_wire(fact["doc"])
        state["reg"] = fact["doc"]
        state["level"] = fact.get("level", "county")
        year = reg.budget_year
        if not _must_wait(state, reg.fund in ctx.funds, {"f": "fundcheck", "ro": fact.get("ro")}, ctx):
            _fund_checks(state, {"f": "fundcheck"}, ctx)
        dls = state.setdefault("dl", {})
        if (c := ctx.cfg("ALC-01", year)) and not reg.advance:
            item = alc.alc01_deadline(reg, dt.date.fromisoformat(reg.on), c)
            if item:
                dls["ALC-01"] = item.to_wire()
                if state.get("first_alloc"):
                    _complete(state, "ALC-01", dt.date.fromisoformat(state["first_alloc"]), (), ctx)
        if (c := ctx.cfg("ALC-06", year)) and reg.advance:
            item = alc.alc06_deadline(reg, c)
            if item:
                dls["ALC-06"] = item.to_wire()
                if state.get("compiled"):
                    _complete(state, "ALC-06", dt.date.fromisoformat(state["compiled"]), (), ctx)
        if not reg.advance:
            _open_checkpoints(state, reg, dt.date.fromisoformat(reg.on), ctx)
        return True
    if f == "alloc":
        reg = state.get("reg")
        if reg is None:
            return False
        if _must_wait(state, reg["fund"] in ctx.funds, fact, ctx):
            return True
        _fund_checks(state, fact, ctx)
        return False
    if f == "wake":
        return _release(state, ctx, _fund_checks)
    if f == "compiled":
        if state.get("compiled"):
            return False
        state["compiled"] = fact["on"]
        on = dt.date.fromisoformat(fact["on"])
        _complete(state, "ALC-06", on, (Evidence.from_wire(fact["ev"]),), ctx)
        reg = state.get("reg")
        if reg:
            doc = IndicatorDoc.from_wire(reg)
            if doc.advance and (c := ctx.cfg("ALC-01", on.year)):
                item = alc.alc01_deadline(doc, on, c)
                if item and "ALC-01" not in state.setdefault("dl", {}):
                    state["dl"]["ALC-01"] = item.to_wire()
            if doc.advance:
                _open_checkpoints(state, doc, on, ctx)
        return True
    if f == "post":
        _apply_posting(state, Posting.from_wire(fact["post"]), ctx)
        return True
    return False


def _fund_checks(state: dict, fact: dict, ctx: Ctx) -> None:
    """The checks that read the fund catalogue: IND-05 (self-entered upper fund), ALC-05 (scope)."""
    reg = IndicatorDoc.from_wire(state["reg"])
    if fact["f"] == "fundcheck":
        if ctx.cfg("IND-05", reg.budget_year):
            ctx.add(ind.ind05_self_entered(reg, ctx.funds, state.get("level", "county")))
    elif fact["f"] == "alloc":
        a = Allocation.from_wire(fact["a"])
        if c := ctx.cfg("ALC-05", int(a.on[:4])):
            ctx.add(alc.alc05_outside_scope(a, ctx.funds.get(reg.fund), reg.functional_class, c))


def _open_checkpoints(state: dict, reg: IndicatorDoc, received_on: dt.date, ctx: Ctx) -> None:
    stream = f"ledger/{reg.region[:6]}"
    cps = state.setdefault("cp", [])
    year = reg.budget_year
    state["received_on"] = received_on.isoformat()
    if c := ctx.cfg("PRG-01", year):
        for mmdd in c.checkpoints:
            day = prg.checkpoint_date(year, mmdd)
            if day > received_on:
                cps.append({"rule": "PRG-01", "date": day.isoformat(), "stream": stream})
    if c := ctx.cfg("PRG-03", year):
        for mmdd in c.checkpoints:
            day = prg.checkpoint_date(year, mmdd)
            if day > received_on:
                cps.append({"rule": "PRG-03", "date": day.isoformat(), "stream": stream})
    if c := ctx.cfg("PRG-05", year):
        cps.append({"rule": "PRG-05", "date": (received_on + dt.timedelta(days=c.int("held_days"))).isoformat(),
                    "stream": stream})
    cps.sort(key=lambda cp: cp["date"])


def _evidence(state: dict) -> tuple[Evidence, ...]:
    out = []
    if state.get("reg"):
        out.append(IndicatorDoc.from_wire(state["reg"]).evidence())
    if state.get("last_post"):
        out.append(Evidence.from_wire(state["last_post"]))
    return tuple(out)


def _evaluate_checkpoint(state: dict, cp: dict, ctx: Ctx) -> None:
    day = dt.date.fromisoformat(cp["date"])
    bal = state.get("bal", {})
    c = ctx.cfg(cp["rule"], day.year)
    if c is None:
        return
    if cp["rule"] == "PRG-02":  # needs no registration: the ledger's postings say it all
        meta = ctx.imeta(state["id"]) or {}
        ctx.add(prg.prg02_idle(state["id"], state.get("region") or meta.get("region", ""),
                               dt.date.fromisoformat(cp["since"]), day, bal, c, _evidence(state), meta.get("fund")))
        return
    reg = IndicatorDoc.from_wire(state["reg"])
    fund_code = reg.fund
    received_on = dt.date.fromisoformat(state.get("received_on") or reg.on)
    if cp["rule"] == "PRG-01":
        ctx.add(prg.prg01_behind_schedule(reg.indicator_id, reg.region, received_on, day, bal, c, _evidence(state),
                                          fund_code))
    elif cp["rule"] == "PRG-03":
        ctx.add(prg.prg03_unspent(reg.indicator_id, reg.region, day, bal, c, _evidence(state), fund_code))
    elif cp["rule"] == "PRG-05":
        ctx.add(prg.prg05_held_up(reg.indicator_id, reg.region, received_on, day, bal, c, _evidence(state), fund_code))


def _due_checkpoints(state: dict, before: dt.date | None, ctx: Ctx) -> bool:
    """Evaluate checkpoints dated before `before` (a later posting arrived), or whose day the
    stream's clock has passed (`before` None)."""
    cps = state.get("cp") or []
    if not cps:
        return False
    keep, changed = [], False
    for cp in cps:
        day = dt.date.fromisoformat(cp["date"])
        if before is not None:
            due = day < before
        else:
            now = ctx.clock.now(cp["stream"])
            due = now is not None and now >= end_of(day)
        if due and (cp["rule"] == "PRG-02" or state.get("reg")):
            _evaluate_checkpoint(state, cp, ctx)
            changed = True
        else:
            keep.append(cp)
    state["cp"] = keep
    return changed


def _apply_posting(state: dict, post: Posting, ctx: Ctx) -> None:
    """Book what the ledger booked. A posting not newer (by journal sequence) than the last one
    applied is a redelivery — the balances it carries are history, and taking them would turn
    the books back (a false PRG-01 at the next checkpoint, a false year-end surge)."""
    if post.seq is not None:
        if post.seq <= (state.get("seq") or 0):
            return
        state["seq"] = post.seq
    on = dt.date.fromisoformat(post.on)
    state.setdefault("region", post.region)
    _due_checkpoints(state, on, ctx)  # the books as they stood on each checkpoint that lies before this posting
    state["bal"] = post.balances
    state["last_post"] = post.evidence().to_wire()
    if post.allocated_fen > 0 and (state.get("first_alloc") is None or post.on < state["first_alloc"]):
        state["first_alloc"] = post.on
        _complete(state, "ALC-01", on, (post.evidence(),), ctx)
        _schedule_idle(state, on, ctx)
    if post.paid_fen > 0 and post.kind == "payment.made":
        if state.get("last_pay") is None or post.on > state["last_pay"]:
            state["last_pay"] = post.on
            _schedule_idle(state, on, ctx)
        _surge(state, post, ctx)


def _schedule_idle(state: dict, since: dt.date, ctx: Ctx) -> None:
    c = ctx.cfg("PRG-02", since.year)
    state["cp"] = [cp for cp in state.get("cp", []) if cp["rule"] != "PRG-02"]
    if c is None:
        return
    region = state.get("region") or IndicatorDoc.from_wire(state["reg"]).region
    state["cp"].append({"rule": "PRG-02", "date": (since + dt.timedelta(days=c.int("idle_days"))).isoformat(),
                        "since": since.isoformat(), "stream": f"ledger/{region[:6]}"})
    state["cp"].sort(key=lambda cp: cp["date"])


def _surge(state: dict, post: Posting, ctx: Ctx) -> None:
    on = dt.date.fromisoformat(post.on)
    c = ctx.cfg("PRG-06", on.year)
    reg = state.get("reg")
    if c is None or reg is None or state.get("surged"):
        return
    window = prg.checkpoint_date(on.year, c.text("window_start"))
    if on < window:
        return
    paid = post.fen("5201")
    if state.get("win_base") is None:
        state["win_base"] = paid - post.paid_fen
    doc = IndicatorDoc.from_wire(reg)
    found = prg.prg06_surge(doc.indicator_id, doc.region, on, paid, paid - state["win_base"], c,
                            (*_evidence(state),), doc.fund)
    if found:
        state["surged"] = True
        ctx.add(found)


# ====================================================================== dispatch


HANDLERS: dict[str, Callable[[str, dict, dict, Ctx], bool]] = {
    "P": person, "A": account, "E": enterprise, "J": project, "T": transfer, "I": indicator, "F": fund,
}


def on_clock(key: str, state: dict, ctx: Ctx) -> bool:
    """The clock moved: deadlines and checkpoints of this entity that are due now."""
    changed = _tick_deadlines(state, ctx)
    if key[0] == "I":
        changed = _due_checkpoints(state, None, ctx) or changed
    return changed


def next_checks(state: dict) -> list[tuple[str, str]]:
    """(date, stream) pairs at whose start this entity wants to be looked at again."""
    out = []
    for raw in (state.get("dl") or {}).values():
        when = next_check_of(raw)
        if when:
            out.append((when, raw["stream"]))
    for cp in state.get("cp") or ():
        out.append(((dt.date.fromisoformat(cp["date"]) + dt.timedelta(days=1)).isoformat(), cp["stream"]))
    return sorted(set(out))
