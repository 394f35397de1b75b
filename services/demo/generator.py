"""The streaming generator: reference data first, then business day by business day the
indicator chain (register → issue → register → allocate), project targets, payments,
returns and performance reports. Only one day's events are held in memory at a time."""

from __future__ import annotations

import datetime as dt
import heapq
import math
from collections.abc import Iterator

from services.demo import catalogue as cat
from services.demo import naming as nm
from services.demo.cases import rep_identity
from services.demo.chains import DAYS, REFERENCE_DAYS, CountyInd, Issue, Node, Slot, program_of, walk
from services.demo.naming import h64, yuan
from services.demo.plan import build_plan, draw_amount, finalize
from services.demo.reference import env, member, record_id, reference_count, reference_events, special, unit_name
from services.demo.scenarios import inject
from services.demo.truth import Recorder

DAY_SECONDS = 8 * 3600  # events fall between 09:00 and 17:00 +08:00
CHECKPOINTS = ((dt.date(2026, 6, 30), dt.date(2026, 7, 6)), (dt.date(2026, 9, 30), dt.date(2026, 10, 12)))
SELF_EVALUATION = dt.date(2026, 12, 14)
_PRIMES = (7919, 7927, 7933, 7937, 7949, 7951, 104_729, 1_299_709)
P_OWN, P_ISSUED, P_REGISTERED, P_ALLOCATED, P_PAYMENT, P_RETURN, P_PROGRESS, P_EVALUATION = range(8)


def _day_index(date: dt.date) -> int:
    return next(i for i, d in enumerate(DAYS) if d >= date)


_REPORT_DAYS = [(period_end, _day_index(report_from)) for period_end, report_from in CHECKPOINTS]
_EVALUATION_DAY = _day_index(SELF_EVALUATION)


_PAYMENT_NOTES = {
    "USE-03": "payment booked to a prohibited economic class (hospitality or vehicles)",
    "USE-06": "a payment split in two, each part under the 100,000-yuan approval threshold",
    "USE-08": "payment dated before the project's implementation period starts",
    "USE-09": "purpose names a vehicle purchase, outside the fund's scope",
    "ACC-02": "a second beneficiary paid into the first one's card account",
    "ACC-03": "enterprise payee, but the account holder is its legal representative",
    "ACC-04": "project money paid to the legal representative's personal account",
    "ACC-06": "payment back into the paying unit's own account",
    "PRG-04": "project money moved into the county's fiscal special account, booked as a payment",
    "BEN-06": "payment to an enterprise whose licence was revoked / listed as abnormal before",
    "BEN-07": "a large first payment to an enterprise founded two to four months before",
    "BEN-08": "the enterprise's legal representative is on the staff of the paying unit",
}


def _stamp(day: dt.date, second: int) -> str:
    return f"{day.isoformat()}T{9 + second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}+08:00"


class Generator:
    """One pass over a data set: `events()` streams it; afterwards `rec` holds the ground
    truth and the summary of exactly what was streamed."""

    def __init__(self, size: int, seed: int) -> None:
        self.plan = plan = build_plan(size, seed)
        inject(plan)
        finalize(plan)
        self.seed = seed
        self.rec = Recorder(size, seed)
        self.count = 0
        self.pointer: dict[tuple[str, str], int] = {}
        self.pay_seq: dict[str, int] = {}
        self.first_payment: dict[tuple[int, int], str] = {}
        self.paid_on: dict[str, int] = {}  # indicator id -> amount paid so far (for USE-01 refs)
        self.schedule: dict[int, list[tuple]] = {}
        self._order = 0
        self._today = DAYS[0]
        for node in walk(plan.roots):
            if node.upper is None:
                self._at(node.day, P_OWN, "own", node)
            elif node.region != cat.CENTRAL:
                self._at(node.day, P_REGISTERED, "node", node)
            for issue in node.issues:
                self._at(issue.day, P_ISSUED, "issue", issue)
        for ind in plan.county_inds:
            self._at(ind.day, P_REGISTERED, "county", ind)
            self._at(ind.alloc_day, P_ALLOCATED, "alloc", ind)
            for slot in ind.slots:
                if slot.project is None:
                    continue
                h = slot.hash(seed)
                if "PERF-01" in slot.cases:  # targets set late
                    self._at(ind.alloc_day + slot.cases["PERF-01"]["delay"], P_ALLOCATED, "late_targets", slot)
                for period_end, report_day in _REPORT_DAYS:
                    if slot.cases.get("PERF-03", {}).get("period") == period_end:
                        continue  # PERF-03: this monitoring report is never sent
                    if DAYS[ind.alloc_day] < period_end - dt.timedelta(days=30):
                        self._at(report_day + h % 4, P_PROGRESS, "progress", (slot, period_end))
                day = _EVALUATION_DAY + (h >> 8) % 5
                self._at(day, P_EVALUATION, "evaluation", slot)
        for adv in plan.extra.get("advance", ()):  # ALC-06: advance issues, registered, never compiled
            self._at(REFERENCE_DAYS, P_ISSUED, "adv_issue", adv)
            self._at(REFERENCE_DAYS + 1, P_REGISTERED, "adv_county", adv)
        if plan.extra.get("advance"):
            self._at(REFERENCE_DAYS, P_OWN, "adv_own", plan.extra["advance"])
        for day, ent, status in plan.extra.get("statuses", ()):  # BEN-06: status records during the year
            self._at(day, P_OWN, "status", (ent, status))
        self.heap = [(slot.day(0), self._tie(slot, 0), slot.idx, 0) for slot in plan.slots if slot.n]
        heapq.heapify(self.heap)

    # ------------------------------------------------------------------ plumbing

    def _at(self, day: int, prio: int, kind: str, payload: object) -> None:
        self._order += 1
        self.schedule.setdefault(day, []).append((prio, self._order, kind, payload))

    @staticmethod
    def _tie(slot: Slot, k: int) -> int:
        return (slot.idx * 7_919 + k * 104_729) % 1_000_003

    def _emit(self, day: dt.date, batch: list[tuple[dict, list]]) -> Iterator[dict]:
        n = len(batch)
        for i, (event, stubs) in enumerate(batch):
            self.count += 1
            event["id"] = f"demo-{self.count:08d}"
            event["time"] = _stamp(day, i * DAY_SECONDS // max(n, 1))
            self.rec.observe(event)
            for rule, refs, note in stubs:
                self.rec.add(rule, event, refs, note)
            yield event

    def events(self) -> Iterator[dict]:
        total = reference_count(self.plan)
        budget = REFERENCE_DAYS * DAY_SECONDS
        for r, event in enumerate(reference_events(self.plan)):
            self.count += 1
            second = min(r * budget // max(total, 1), budget - 1)
            event["id"] = f"demo-{self.count:08d}"
            event["time"] = _stamp(DAYS[second // DAY_SECONDS], second % DAY_SECONDS)
            self.rec.observe(event)
            if event["type"] == "fund.linked":
                d = event["data"]
                self.rec.add("IND-07", event, {"fund_code": d["fund_code"], "upper_fund_code": d["upper_fund_code"],
                                               "subject": f"fund/{d['fund_code']}"},
                             "local fund linked to a second upper fund (指定关联 allows one)")
            yield event
        for d in range(REFERENCE_DAYS, len(DAYS)):
            self._today = DAYS[d]
            items = sorted(self.schedule.pop(d, []))
            batch: list[tuple[dict, list]] = []
            for prio, _order, kind, payload in items:
                if prio < P_PAYMENT:
                    batch.extend(getattr(self, f"_{kind}")(payload))
            while self.heap and self.heap[0][0] == d:
                _day, _tie, idx, k = heapq.heappop(self.heap)
                slot = self.plan.slots[idx]
                batch.extend(self._payment(slot, k, d))
                if k + 1 < slot.n:
                    heapq.heappush(self.heap, (slot.day(k + 1), self._tie(slot, k + 1), idx, k + 1))
            for prio, _order, kind, payload in sorted(self.schedule.pop(d, []) + items):
                if prio > P_PAYMENT:
                    batch.extend(getattr(self, f"_{kind}")(payload))
            yield from self._emit(DAYS[d], batch)
        assert not self.heap and not self.schedule, "events scheduled after the end of the year"

    # ------------------------------------------------------------------ indicators

    def _registered(self, region: str, ind_id: str, fund: str, amount: int, doc_no: str, doc_day: int, day: int,
                    upper: Issue | None, scan: bool = True) -> dict:
        prog, tranche_no = program_of(ind_id)
        tranche = cat.TRANCHE_NAMES[tranche_no]
        data = {"indicator_id": ind_id, "fund_code": fund, "amount": yuan(amount), "budget_year": cat.YEAR,
                "doc_no": doc_no, "doc_date": DAYS[doc_day].isoformat(), "functional_class": prog.functional_class,
                "economic_class": prog.economic_class,
                "budget_project": f"{cat.YEAR}年{cat.FUNDS[prog.fund].name}（{prog.title}{tranche}）"[:200],
                "source": "upper_transfer" if upper else "own_arrangement"}
        if upper:
            data.update(upper_indicator_id=upper.issued_id, upper_region=upper.source.region)
        data["advance_issue"] = False
        if scan:  # the receiver files its own scan of the (upper) document
            data["doc_scan_ref"] = f"oss://fiscal-docs/{region}/{cat.YEAR}/{ind_id}.pdf"
        data["registered_on"] = DAYS[day].isoformat()
        return env("indicator.registered", f"/budget-execution/{region}", region, ind_id, data)

    def _own(self, node: Node) -> list:
        return [(self._registered(node.region, node.ind_id, node.fund, node.amount, node.doc_no, node.doc_day,
                                  node.day, None), [])]

    def _node(self, node: Node) -> list:
        up = node.upper
        assert up is not None
        return [(self._registered(node.region, node.ind_id, node.fund, node.amount, up.doc_no, up.doc_day,
                                  node.day, up), [])]

    def _issue(self, issue: Issue) -> list:
        region = issue.source.region
        prog, _tranche = program_of(issue.issued_id)
        data = {"indicator_id": issue.issued_id, "from_indicator_id": issue.source.ind_id, "to_region": issue.to_region,
                "fund_code": issue.fund, "amount": yuan(issue.amount), "budget_year": issue.budget_year,
                "doc_no": issue.doc_no,
                "doc_date": DAYS[issue.doc_day].isoformat(), "functional_class": prog.functional_class,
                "advance_issue": False}
        if issue.scan:
            data["doc_scan_ref"] = f"oss://fiscal-docs/{region}/{cat.YEAR}/{issue.issued_id}.pdf"
        data["issued_on"] = DAYS[issue.day].isoformat()
        event = env("indicator.issued", f"/budget-execution/{region}", region, issue.issued_id, data)
        stubs = [] if issue.scan else [("IND-03", {"indicator_id": issue.issued_id, "doc_no": issue.doc_no},
                                        "indicator issued to a lower level without the document scan")]
        return [(event, stubs)]

    def _county(self, ind: CountyInd) -> list:
        up = ind.issue
        assert up is not None
        event = self._registered(ind.county, ind.ind_id, ind.fund, ind.amount, ind.doc_no or up.doc_no, up.doc_day,
                                 ind.day, up, scan=ind.scan)
        stubs = []
        refs = {"indicator_id": ind.ind_id, "upper_indicator_id": up.issued_id}
        if ind.short:
            stubs.append(("IND-02", {**refs, "issued_amount": yuan(up.amount), "registered_amount": yuan(ind.amount)},
                          "registered amount differs from the amount the city issued (interlock break)"))
        if not ind.scan:
            stubs.append(("IND-03", {**refs, "doc_no": up.doc_no},
                          "upper transfer registered without the document scan"))
        if ind.doc_no:
            stubs.append(("IND-04", {**refs, "doc_no": ind.doc_no},
                          "irregular document number (a title or bare digits instead of 〔年〕号)"))
        notes = {
            "IND-01": (f"transfer/{up.issued_id}", "transfer registered 8 business days after it was issued (late)"),
            "IND-05": (f"indicator/{ind.ind_id}", "C22 transfer received under a fund that designates another upper "
                                                  "fund (指定关联 broken)"),
            "IND-06": (f"indicator/{ind.ind_id}", "a 2025 transfer registered as a 2026 indicator (carry-over)"),
            "PRG-01": (f"indicator/{ind.ind_id}/checkpoint/06-30", "no payment before mid-July: behind schedule on 06-30"),
            "PRG-02": (f"indicator/{ind.ind_id}/idle", "allocated money with no payment for more than 120 days"),
            "PRG-03": (f"indicator/{ind.ind_id}/year-end", "only 60 % of the allocation is ever paid"),
            "PRG-05": (f"indicator/{ind.ind_id}/held", "a fifth of the receipt is never allocated"),
            "PRG-06": (f"indicator/{ind.ind_id}/surge", "payments from mid-November are five times the usual"),
        }
        for rule, (subject, note) in notes.items():
            if rule in ind.cases:
                stubs.append((rule, {**refs, "subject": subject}, note))
        return [(event, stubs)]

    def _alloc(self, ind: CountyInd) -> list:
        prog, out = ind.program, []
        day = DAYS[ind.alloc_day].isoformat()

        def allocation(alloc_id: str, amount: int, project: tuple[str, str] | None, classes: dict | None = None) -> dict:
            data = {"allocation_id": alloc_id, "indicator_id": ind.ind_id,
                    "kind": "project" if project else "own_spending", "amount": yuan(amount)}
            if project:
                data.update(project_code=project[0], project_name=project[1])
            data.update({"functional_class": prog.functional_class, "economic_class": prog.economic_class,
                         **(classes or {}), "allocated_on": day})
            return env("indicator.allocated", f"/budget-execution/{ind.county}", ind.county, alloc_id, data)

        allocated = 0
        late = [("ALC-01", {"indicator_id": ind.ind_id, "subject": f"indicator/{ind.ind_id}"},
                 "transfer first allocated about 35 days after it was received")] if "ALC-01" in ind.cases else []
        if ind.bogus:
            alloc_id = f"FP-{ind.ind_id[4:]}-0000"
            out.append((allocation(alloc_id, ind.bogus["amount"], (ind.bogus["code"], ind.bogus["name"])),
                        [("ALC-04", {"allocation_id": alloc_id, "indicator_id": ind.ind_id,
                                     "project_code": ind.bogus["code"]},
                          "allocation to a project code that is not in the project library"), *late]))
            late = []
            allocated += ind.bogus["amount"]
        for i, slot in enumerate(ind.slots):
            last = i == len(ind.slots) - 1
            amount = slot.alloc + (ind.inflate if last else 0)
            project = (slot.project.code, slot.project.name) if slot.project else None
            stubs = []
            if last and ind.inflate:
                stubs.append(("ALC-02", {"allocation_id": slot.alloc_id, "indicator_id": ind.ind_id,
                                         "amount": yuan(amount), "pending": yuan(ind.amount - allocated)},
                              "allocation exceeds the indicator's pending (unallocated) balance"))
            if project and slot.idx in self.plan.extra.get("generic", ()):
                stubs.append(("ALC-03", {"allocation_id": slot.alloc_id, "project_code": project[0],
                                         "project_name": project[1]}, "project name is generic or numeric"))
            classes = slot.cases.get("ALC-05")
            if classes:
                stubs.append(("ALC-05", {"allocation_id": slot.alloc_id, **classes},
                              "allocation outside the fund's functional scope, or basic expenditure"))
            if i == 0:
                stubs.extend(late)
            out.append((allocation(slot.alloc_id, amount, project, classes), stubs))
            allocated += amount
        for slot in ind.slots:
            if slot.project and "PERF-01" not in slot.cases:
                out.append(self._targets(slot, day))
        return out

    def _late_targets(self, slot: Slot) -> list:
        assert slot.project is not None
        event, stubs = self._targets(slot, self._today.isoformat())
        stubs.append(("PERF-01", {"project_code": slot.project.code, "subject": f"project/{slot.project.code}/targets"},
                      "performance targets set 10 business days after the allocation"))
        return [(event, stubs)]

    # ------------------------------------------------------------------ advance issues (ALC-06), records

    def _adv_own(self, advances: list[dict]) -> list:
        """The province's own arrangement from which it issues the advance transfers."""
        total = sum(a["amount"] for a in advances)
        data = {"indicator_id": f"IND-{cat.PROVINCE}-{cat.YEAR}-ADV", "fund_code": "P09", "amount": yuan(total),
                "budget_year": cat.YEAR, "doc_no": f"豫财预〔{cat.YEAR}〕6号", "doc_date": f"{cat.YEAR}-01-08",
                "functional_class": "2130504", "economic_class": "31005",
                "budget_project": f"{cat.YEAR}年财政衔接推进乡村振兴补助资金（提前下达）", "source": "own_arrangement",
                "advance_issue": False, "doc_scan_ref": f"oss://fiscal-docs/{cat.PROVINCE}/{cat.YEAR}/ADV.pdf",
                "registered_on": self._today.isoformat()}
        return [(env("indicator.registered", f"/budget-execution/{cat.PROVINCE}", cat.PROVINCE, str(data["indicator_id"]),
                     data), [])]

    def _adv_issue(self, adv: dict) -> list:
        data = {"indicator_id": adv["issued_id"], "from_indicator_id": f"IND-{cat.PROVINCE}-{cat.YEAR}-ADV",
                "to_region": adv["county"], "fund_code": "P09", "amount": yuan(adv["amount"]), "budget_year": cat.YEAR,
                "doc_no": adv["doc_no"], "doc_date": f"{cat.YEAR - 1}-11-25", "functional_class": "2130504",
                "advance_issue": True, "doc_scan_ref": f"oss://fiscal-docs/{cat.PROVINCE}/{cat.YEAR}/{adv['issued_id']}.pdf",
                "issued_on": self._today.isoformat()}
        return [(env("indicator.issued", f"/budget-execution/{cat.PROVINCE}", cat.PROVINCE, adv["issued_id"], data), [])]

    def _adv_county(self, adv: dict) -> list:
        county = adv["county"]
        fund = cat.LOCAL_FUND_OF.get((county, "P09"), "P09")
        data = {"indicator_id": adv["ind_id"], "fund_code": fund, "amount": yuan(adv["amount"]), "budget_year": cat.YEAR,
                "doc_no": adv["doc_no"], "doc_date": f"{cat.YEAR - 1}-11-25", "functional_class": "2130504",
                "economic_class": "31005", "budget_project": f"{cat.YEAR}年财政衔接推进乡村振兴补助资金（提前下达）",
                "source": "upper_transfer", "upper_indicator_id": adv["issued_id"], "upper_region": cat.PROVINCE,
                "advance_issue": True, "doc_scan_ref": f"oss://fiscal-docs/{county}/{cat.YEAR}/{adv['ind_id']}.pdf",
                "registered_on": self._today.isoformat()}
        event = env("indicator.registered", f"/budget-execution/{county}", county, adv["ind_id"], data)
        return [(event, [("ALC-06", {"indicator_id": adv["ind_id"], "subject": f"indicator/{adv['ind_id']}"},
                          "advance-issued transfer never compiled into the year's budget")])]

    def _status(self, payload: tuple) -> list:
        """BEN-06: the market regulator records an enterprise as revoked or abnormal."""
        ent, status = payload
        data = {"record_id": f"SCJG-ST-{ent.code}", "kind": "business_status", "enterprise_code": ent.code,
                "record_date": self._today.isoformat(), "status": status,
                "details": f"{ent.name}：{'吊销营业执照' if status == '吊销' else '列入经营异常名录'}"}
        return [(env("external.recorded", "/external/market-regulation", ent.county, data["record_id"], data), [])]

    # ------------------------------------------------------------------ performance

    def _targets(self, slot: Slot, day: str) -> tuple[dict, list]:
        p = slot.project
        assert p is not None
        name, unit, _lo, _hi = p.program.metric
        deadline = "2026-12-31"
        rows = [("M1", "output_quantity", name, unit, p.target), ("M2", "output_quality", "工程验收合格率", "%", 100),
                ("M3", "timeliness", "项目按期完成率", "%", 100), ("M4", "benefit", "受益脱贫人口", "人", p.benefit),
                ("M5", "satisfaction", "受益群众满意度", "%", 90)]
        targets = [{"metric_id": f"{p.code}-{m}", "kind": kind, "name": n, "unit": u, "target_value": str(v),
                    "deadline": deadline} for m, kind, n, u, v in rows]
        event = env("performance.targets_set", f"/performance/{p.county}", p.county, p.code,
                    {"project_code": p.code, "indicator_id": slot.ind.ind_id, "targets": targets, "set_on": day})
        stubs = []
        if "PERF-03" in slot.cases:
            period = slot.cases["PERF-03"]["period"]
            stubs.append(("PERF-03", {"project_code": p.code, "subject": f"project/{p.code}/period/{period}"},
                          f"no monitoring report for the period ending {period}"))
        return event, stubs

    def _progress(self, payload: tuple[Slot, dt.date]) -> list:
        slot, period_end = payload
        p = slot.project
        assert p is not None
        start = DAYS[slot.ind.alloc_day]
        elapsed, span = (period_end - start).days, (dt.date(2026, 12, 31) - start).days
        out = []
        behind = slot.cases.get("PERF-02", {}).get("period") == period_end
        for metric, target in (("M1", p.target), ("M4", p.benefit)):
            cents = min(target * 100, target * 100 * elapsed // span + target * 15)  # ahead of a linear schedule
            stubs = []
            if behind and metric == "M1":
                cents = target * 100 * elapsed // span // 5  # a fifth of the linear schedule
                stubs.append(("PERF-02", {"project_code": p.code,
                                          "subject": f"project/{p.code}/metric/{p.code}-M1/period/{period_end}"},
                              "reported output far behind its target"))
            data = {"report_id": f"JX-{p.code}-{period_end:%m%d}-{metric}", "project_code": p.code,
                    "metric_id": f"{p.code}-{metric}", "actual_value": yuan(cents),
                    "period_end": period_end.isoformat(), "reported_on": self._today.isoformat()}
            out.append((env("performance.progress_reported", f"/performance/{p.county}", p.county, p.code, data),
                        stubs))
        return out

    def _evaluation(self, slot: Slot) -> list:
        p = slot.project
        assert p is not None
        h = h64(self.seed, "score", p.code)
        data = {"project_code": p.code, "score": f"{86 + h % 13}.{(h >> 8) % 2 * 5}0", "target_score": "80.00",
                "findings": "绩效目标基本完成，资金使用规范", "evaluated_on": self._today.isoformat()}
        stubs = []
        if "PERF-04" in slot.cases:
            data.update(score=slot.cases["PERF-04"]["score"], findings="部分绩效目标未完成")
            stubs.append(("PERF-04", {"project_code": p.code, "subject": f"project/{p.code}/evaluation"},
                          "self-evaluation scored below its target"))
        return [(env("performance.self_evaluated", f"/performance/{p.county}", p.county, p.code, data), stubs)]

    # ------------------------------------------------------------------ payments

    def _pool_person(self, county: str, sub: cat.Subsidy) -> int:
        reg = self.plan.registries[county]
        pool = reg.pool(sub)
        key = (county, sub.type)
        used = self.pointer.get(key, 0)
        self.pointer[key] = used + 1
        size = len(pool)
        assert used < size, f"registry pool {key} exhausted"
        stride = next(p for p in _PRIMES if math.gcd(p, size) == 1)
        return pool[(used * stride + h64(self.seed, "offset", county, sub.type) % size) % size]

    def _payment_id(self, county: str) -> str:
        self.pay_seq[county] = self.pay_seq.get(county, 0) + 1
        return f"ZF{county}{cat.YEAR}{self.pay_seq[county]:07d}"

    def _payment(self, slot: Slot, k: int, d: int) -> list:
        spec = slot.overrides.get(k, {})
        ind, prog, county = slot.ind, slot.ind.program, slot.ind.county
        amount = draw_amount(self.plan, slot, k)
        pid = self._payment_id(county)
        stubs: list = []
        data: dict = {"payment_id": pid, "indicator_id": ind.ind_id}
        if prog.subsidy:
            sub = prog.subsidy
            person = spec.get("person")
            if person:
                cid, name, hid = special(person)
                card = nm.card_account(person["county"], person["index"])
                if "card_of" in spec:  # ACC-02: paid into someone else's card account
                    card = nm.card_account(spec["card_of"]["county"], spec["card_of"]["index"])
            else:
                j = self._pool_person(county, sub)
                cid, name, hid = member(self.plan, county, j)
                card = nm.card_account(county, j)
            unit = cat.FINANCE_UNIT
            channel = spec.get("channel", "subsidy_card")
            payee = {"kind": "individual", "name": name, "person": cid, "account": card, "account_holder": name}
            line = {"person": cid, "name": name, "household_id": hid, "subsidy_type": sub.type,
                    "payable": yuan(spec.get("payable", amount)), "paid": yuan(amount)}
            if hid is None:
                del line["household_id"]
            purpose, settlement, lines = f"{cat.YEAR}年{sub.purpose}", "transfer", [line]
            source = f"/subsidy-card/{county}" if channel == "subsidy_card" else f"/treasury-payments/{county}"
        else:
            p = slot.project
            assert p is not None
            ent = p.enterprise
            unit = prog.unit
            data["project_code"] = p.code
            payee = {"kind": "enterprise", "name": ent.name, "enterprise_code": ent.code,
                     "account": spec.get("payee_account", ent.account), "account_holder": ent.name}
            rep_cid, rep_name, rep_card = rep_identity(ent.county, ent.rep_index)
            if spec.get("holder") == "rep":  # ACC-03: the account is held by someone else
                payee["account_holder"] = rep_name
            if spec.get("payee") == "rep":  # ACC-04: project money to the legal representative personally
                payee = {"kind": "individual", "name": rep_name, "person": rep_cid, "account": rep_card,
                         "account_holder": rep_name}
            elif spec.get("payee") == "own":  # ACC-06: back into the paying unit's own account
                payee = {"kind": "unit", "name": unit_name(county, prog.unit),
                         "account": nm.unit_account(county, prog.unit), "account_holder": unit_name(county, prog.unit)}
            elif spec.get("payee") == "special":  # PRG-04: into the county's fiscal special account
                holder = f"{cat.county_name(county)}财政局"
                payee = {"kind": "unit", "name": holder, "account": nm.special_account(county), "account_holder": holder}
            cash = spec.get("cash", False)
            channel, settlement, lines = ("authorised" if cash else "direct"), ("cash" if cash else "transfer"), []
            purpose = f"{p.name}第{k + 1}期{'产业扶持资金' if ent.coop else '工程款'}" + spec.get("purpose_extra", "")
            source = f"/treasury-payments/{county}"
        payer_account = spec.get("payer_account", nm.unit_account(county, unit))
        data.update(payer={"unit_code": county + unit, "unit_name": unit_name(county, unit), "account": payer_account},
                    payee=payee, amount=yuan(amount),
                    payment_date=None if spec.get("no_date") else DAYS[d].isoformat(), valid=True,
                    purpose=purpose, settlement=settlement, channel=channel,
                    economic_class=spec.get("econ", prog.economic_class))
        if lines:
            data["subsidy_lines"] = lines
        event = env("payment.made", source, county, pid, data)
        out = [(event, stubs)]
        rule = spec.get("rule")
        refs = {"payment_id": pid, "indicator_id": ind.ind_id, "amount": yuan(amount)}
        if prog.subsidy:
            refs["person_id"] = payee["person"]
        else:
            refs["project_code"] = data["project_code"]
        if rule == "BEN-01":
            stubs.append((rule, refs, "subsidy paid to a person who is not in the poor-household registry"))
        elif rule == "BEN-02":
            stubs.append((rule, {**refs, "record_id": record_id(spec["person"])},
                          "8,000-yuan household subsidy to a person with a deed-tax (house purchase) record"))
        elif rule == "BEN-03":
            stubs.append((rule, {**refs, "record_id": record_id(spec["person"]),
                                 "death_date": spec["person"]["record"]["date"].isoformat()},
                          "subsidy paid to a person whose death was recorded before the payment"))
        elif rule == "BEN-04":
            first = self.first_payment[spec["first"]]
            first_county = self.plan.slots[spec["first"][0]].ind.county
            stubs.append((rule, {**refs, "first_payment_id": first, "subsidy_type": line["subsidy_type"],
                                 "first_region": first_county},
                          "same subsidy type paid twice to one person in the year"
                          + (" (across two counties)" if first_county != county else "")))
        elif rule == "BEN-05":
            stubs.append((rule, {**refs, "payable": line["payable"], "paid": line["paid"]},
                          "subsidy line payable differs from paid"))
        elif rule == "BEN-09":
            stubs.append((rule, {**refs, "household_id": spec["person"]["household_id"]},
                          "household marked stable (no longer eligible) still receives a targeted subsidy"))
        elif rule == "USE-01":
            available = ind.amount - self.paid_on[ind.ind_id]
            stubs.append((rule, {**refs, "available": yuan(available)},
                          "payment exceeds the indicator's available balance"))
        elif rule == "USE-02":
            stubs.append((rule, refs, "payment record without a payment date"))
        elif rule == "USE-04":
            stubs.append((rule, refs, "cash settlement above 50,000 yuan"))
        elif rule == "USE-07":
            stubs.append((rule, {**refs, "channel": channel}, "per-person subsidy not paid through the subsidy card"))
        elif rule == "ACC-01":
            stubs.append((rule, {**refs, "account": payer_account},
                          "payer account is not a registered designated account"))
        elif rule == "ACC-05":
            side = "payer" if "payer_account" in spec else "payee"
            stubs.append((rule, {**refs, "account": payer_account if side == "payer" else payee["account"],
                                 "side": side, "status": spec["status"]},
                          f"{side} account is registered as {spec['status']}"))
        elif rule in _PAYMENT_NOTES:
            extra = {}
            if rule == "ACC-02":
                extra = {"account": payee["account"], "subject": "account"}
            elif rule in ("BEN-06", "BEN-07"):
                extra = {"enterprise_code": data["payee"].get("enterprise_code"),
                         "subject": f"enterprise/{data['payee'].get('enterprise_code')}"}
            elif rule == "BEN-08":
                extra = {"enterprise_code": payee["enterprise_code"], "unit_code": data["payer"]["unit_code"],
                         "subject": f"enterprise/{payee['enterprise_code']}/unit/{data['payer']['unit_code']}"}
            if rule != "USE-06":
                stubs.append((rule, {**refs, **extra}, _PAYMENT_NOTES[rule]))
        if spec.get("person") and rule is None:
            self.first_payment[(slot.idx, k)] = pid
        self.paid_on[ind.ind_id] = self.paid_on.get(ind.ind_id, 0) + amount
        if spec.get("split"):  # USE-06: the same payment in two parts, each under the approval threshold
            data["amount"] = yuan(spec["split"])
            event["data"] = data
            rest_id = self._payment_id(county)
            twin = env("payment.made", source, county, rest_id,
                       {**data, "payment_id": rest_id, "amount": yuan(amount - spec["split"])})
            out.append((twin, [("USE-06", {"payment_id": rest_id, "first_part": pid, "indicator_id": ind.ind_id,
                                           "amount": yuan(amount - spec["split"]), "subject": f"payment/{rest_id}"},
                                _PAYMENT_NOTES["USE-06"])]))
        if spec.get("dup"):
            copy_id = self._payment_id(county)
            twin = env("payment.made", source, county, copy_id, {**data, "payment_id": copy_id})
            out.append((twin, [("USE-05", {"payment_id": copy_id, "duplicate_of": pid, "indicator_id": ind.ind_id,
                                           "account": payee["account"]},
                                "duplicate payment: same payee account, amount, purpose and date")]))
            self.paid_on[ind.ind_id] += amount
        if "return_after" in spec:
            self._at(d + spec["return_after"], P_RETURN, "returned", (county, pid, ind.ind_id, amount))
        return out

    def _returned(self, payload: tuple[str, str, str, int]) -> list:
        county, pid, ind_id, amount = payload
        data = {"return_id": "TH" + pid[2:], "payment_id": pid, "indicator_id": ind_id, "amount": yuan(amount),
                "returned_on": self._today.isoformat(), "reason": "收款账户信息有误，资金退回"}
        return [(env("payment.returned", f"/treasury-payments/{county}", county, data["return_id"], data), [])]
