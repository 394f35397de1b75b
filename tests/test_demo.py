"""The deterministic demo data set (services.demo): wire validity, determinism, streaming,
the ground truth against an independent reference check of the DESIGN §6 rules, the
summary against a recomputation, and the HTTP sender."""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
from collections import Counter, defaultdict
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer

import chinese_calendar
import pytest

from contracts import parse_event
from contracts.types import citizen_id_checksum_ok
from services import demo
from services.demo.naming import special_account

SIZE = 600  # the smallest data set (services.demo.plan.MIN_SIZE): two cases of every rule
INJECTED = {f"{c}-{n:02d}" for c, k in (("IND", 7), ("ALC", 6), ("PRG", 6), ("USE", 9), ("ACC", 6), ("BEN", 9),
                                        ("PERF", 4)) for n in range(1, k + 1)}
COUNTIES = {"410324", "410325", "410326", "410423", "411624", "411622", "411603", "411625", "411326"}
DOC_NO = re.compile(r"^\S+〔\d{4}〕\d+号$")
GENERIC = {"水利专项", "扶贫项目", "基础设施建设", "产业项目", "项目"}
PROHIBITED_ECONOMIC = ("301", "30217", "30231", "31001", "31013")
PROHIBITED_PURPOSE = ("接待", "宴请", "招待费", "工资", "奖金", "津贴", "福利费", "慰问品", "公务用车", "购置车辆", "楼堂馆所",
                      "办公楼", "偿还债务", "还贷", "罚款")


@pytest.fixture(scope="module")
def dataset():
    return demo.generate(size=SIZE)


@pytest.fixture(scope="module")
def mid():
    return demo.generate(size=2000)


def test_public_api():
    assert set(demo.__all__) == {"iter_events", "generate", "ground_truth", "summary", "write", "send",
                                 "send_by_source"}


def test_send_by_source_sends_each_source_whole_and_in_its_own_order(monkeypatch):
    events = [{"source": "/budget-execution/410324", "id": "b1"}, {"source": "/treasury-payments/410324", "id": "t1"},
              {"source": "/budget-execution/410324", "id": "b2"}, {"source": "/treasury-payments/410324", "id": "t2"},
              {"source": "/reference/regions", "id": "r1"}]
    sent: list[list[str]] = []
    monkeypatch.setattr(demo, "send", lambda batch, url, api_key: sent.append([e["id"] for e in batch]) or len(batch))
    assert demo.send_by_source(events, "http://ingest", api_key="k", seed=1) == 5
    assert sorted(sent) == [["b1", "b2"], ["r1"], ["t1", "t2"]]
    orders = set()
    for seed in range(12):
        sent.clear()
        demo.send_by_source(events, "http://ingest", api_key="k", seed=seed)
        orders.add(tuple(batch[0][0] for batch in sent))
    assert len(orders) > 1  # the sources come in different orders: the platform must not depend on one


def test_every_event_validates(dataset):
    for raw in dataset.events:
        event = parse_event(raw, pii_key=b"any key")
        assert event.type == raw["type"]
        assert raw["time"].endswith("+08:00")
    people = [e["data"]["person"] for e in dataset.events if e["type"] == "household.registered"]
    assert people and all(citizen_id_checksum_ok(p) for p in people)


def test_wire_form_is_plain_json_with_string_money(dataset):
    line = json.dumps(dataset.events, ensure_ascii=False)
    assert json.loads(line) == dataset.events

    def walk(value, path):
        if isinstance(value, float):
            raise AssertionError(f"float at {path}")
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{path}.{k}")
            if "amount" in value and value["amount"] is not None:
                assert re.fullmatch(r"\d+\.\d{2}", value["amount"]), path
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, f"{path}[{i}]")

    for e in dataset.events:
        walk(e, e["id"])
    accounts = [e["data"]["account"] for e in dataset.events if e["type"] == "account.registered"]
    assert all(re.fullmatch(r"\d{16,19}", a) for a in accounts)


def test_deterministic_and_unique(dataset):
    again = demo.generate(size=SIZE)
    assert json.dumps(again.events, ensure_ascii=False) == json.dumps(dataset.events, ensure_ascii=False)
    assert again.ground_truth == dataset.ground_truth and again.summary == dataset.summary
    ids = [e["id"] for e in dataset.events]
    assert len(ids) == len(set(ids))
    assert demo.generate(size=SIZE, seed=7).events != dataset.events


def test_order_and_reference_stability(dataset):
    times = [e["time"] for e in dataset.events]
    assert times == sorted(times) and times[0].startswith("2026-01") and times[-1].startswith("2026-12")
    first_payment = next(i for i, e in enumerate(dataset.events) if e["type"] == "payment.made")
    assert all(e["type"].split(".")[0] not in ("region", "fund", "group") for e in dataset.events[first_payment:])
    bigger = demo.iter_events(size=SIZE * 3)
    stable = ("region.registered", "fund.registered", "group.assigned")
    reference = [e["data"] for e in dataset.events[:200] if e["type"] in stable]
    big_reference = [e["data"] for e in (next(bigger) for _ in range(200)) if e["type"] in stable]
    assert reference == big_reference
    # regular registry members are prefix-stable per county (only each county's last household may be cut short)
    small, large = _registry(dataset.events), _registry(demo.iter_events(size=SIZE * 3))
    assert small and len(small - large) <= 9 * 4 and len(large) > len(small)


def _registry(events):
    return {(e["region"], e["data"]["person"], e["data"]["name"], e["data"]["household_id"])
            for e in events if e["type"] == "household.registered" and "S" not in e["data"]["household_id"]}


def test_causal_chain(dataset):
    issued = {e["data"]["indicator_id"]: e for e in dataset.events if e["type"] == "indicator.issued"}
    registered = {}
    for e in dataset.events:
        if e["type"] == "indicator.issued":
            assert e["data"]["from_indicator_id"] in registered
        if e["type"] == "indicator.registered":
            d = e["data"]
            if d["source"] == "upper_transfer":
                upper = issued[d["upper_indicator_id"]]
                assert upper["time"] < e["time"] and upper["data"]["to_region"] == e["region"]
                assert d["upper_region"] == upper["region"]
            else:
                assert e["region"] in ("000000", "410000")
            registered[d["indicator_id"]] = e
        if e["type"] in ("indicator.allocated", "payment.made"):
            assert e["data"]["indicator_id"] in registered and e["region"] in COUNTIES


def test_summary_matches_events(dataset):
    money = defaultdict(lambda: defaultdict(Decimal))
    for e in dataset.events:
        d, region = e["data"], e["region"]
        if e["type"] == "indicator.registered" and d["source"] == "upper_transfer":
            money[region]["received"] += Decimal(d["amount"])
        elif e["type"] == "indicator.allocated":
            money[region]["allocated"] += Decimal(d["amount"])
        elif e["type"] == "payment.made" and d.get("valid", True) and d["payment_date"] \
                and d["payee"]["account"] != special_account(region):  # not spending (seed 002)
            money[region]["paid"] += Decimal(d["amount"])
        elif e["type"] == "payment.returned":
            money[region]["paid"] -= Decimal(d["amount"])
    s = dataset.summary
    assert set(s["counties"]) == COUNTIES
    for county, row in s["counties"].items():
        for key in ("received", "allocated", "paid"):
            assert Decimal(row[key]) == money[county][key], (county, key)
    assert s["event_types"] == dict(Counter(e["type"] for e in dataset.events))
    assert abs(s["event_types"]["payment.made"] - SIZE) <= SIZE // 10
    assert s["event_types"].get("payment.returned", 0) >= 2


def _by_id(ds):
    return {e["id"]: e for e in ds.events}


def test_ground_truth_shape(dataset, mid):
    for ds in (dataset, mid):
        ids = _by_id(ds)
        counts = Counter(t["rule_id"] for t in ds.ground_truth)
        assert {r for r, n in counts.items() if n >= 2} >= INJECTED
        for t in ds.ground_truth:
            assert set(t) == {"rule_id", "event_id", "region", "refs", "note"} and t["note"]
            assert t["event_id"] in ids and ids[t["event_id"]]["region"] == t["region"]
            if "payment_id" in t["refs"]:
                assert ids[t["event_id"]]["data"]["payment_id"] == t["refs"]["payment_id"]
        assert ds.summary["ground_truth"] == dict(sorted(counts.items()))
        assert any(t["refs"]["first_region"] != t["region"] for t in ds.ground_truth if t["rule_id"] == "BEN-04")
        assert any(t["refs"]["amount"] == "8000.00" for t in ds.ground_truth if t["rule_id"] == "BEN-02")
    assert demo.ground_truth(size=SIZE) == dataset.ground_truth
    assert demo.summary(size=SIZE) == dataset.summary


def _workdays_after(start: dt.date, n: int) -> dt.date:
    day = start
    while n:
        day += dt.timedelta(days=1)
        if chinese_calendar.is_workday(day):
            n -= 1
    return day


def _covers(classes: list[str], fclass: str) -> bool:
    return not classes or any(fclass.startswith(c) or c.startswith(fclass) for c in classes)


def reference_check(events: list[dict]) -> set[tuple[str, str]]:
    """A deliberately naive, independent implementation of the 47 rules of DESIGN §6 as the
    alerts service decides them, over the whole data set at once (no streaming, no ledger):
    the demo must show exactly the injected cases. Returns (rule, event id) pairs; rules with one
    alert per subject fire once, on the first event that shows them."""
    fired: set[tuple[str, str]] = set()
    subjects: set[tuple[str, str]] = set()
    registry, records, accounts, projects, funds = {}, defaultdict(list), {}, {}, {}
    issued, indicators, pending, available, first_out = {}, {}, {}, {}, {}
    payments_of: dict[str, list[tuple[str, int, str]]] = defaultdict(list)  # indicator → (date, fen, event id)
    returns_of: dict[str, list[tuple[str, int]]] = defaultdict(list)
    allocs_of: dict[str, list[tuple[str, int]]] = defaultdict(list)
    compiled: set[str] = set()
    seen_subsidy, seen_payment, owners, recent = {}, {}, defaultdict(list), defaultdict(list)
    reps, units_of, enterprises, statuses = {}, defaultdict(set), {}, defaultdict(list)
    project_alloc, targets, reported = {}, {}, defaultdict(set)
    day = lambda s: dt.date.fromisoformat(s)  # noqa: E731
    fen = lambda s: int(Decimal(s) * 100)  # noqa: E731
    last_day = max(day(e["time"][:10]) for e in events)

    def once(rule: str, subject: str, eid: str) -> None:
        if (rule, subject) not in subjects:
            subjects.add((rule, subject))
            fired.add((rule, eid))

    for e in events:
        t, d, eid = e["type"], e["data"], e["id"]
        fire = lambda rule: fired.add((rule, eid))  # noqa: E731
        if t == "fund.registered":
            funds[d["fund_code"]] = d
        elif t == "fund.linked":
            if d["upper_fund_code"] != funds[d["fund_code"]].get("upper_fund_code"):
                once("IND-07", d["fund_code"], eid)
        elif t == "household.registered":
            registry[d["person"]] = d
        elif t == "external.recorded":
            if d.get("person"):
                records[d["person"]].append(d)
                if d["kind"] == "public_employee" and d.get("unit_code"):
                    units_of[d["person"]].add(d["unit_code"])
            if d["kind"] == "business_registration":
                enterprises[d["enterprise_code"]] = d
                reps[d["enterprise_code"]] = d.get("related_person")
            elif d["kind"] == "business_status":
                statuses[d["enterprise_code"]].append(d)
        elif t == "account.registered":
            accounts[d["account"]] = d
        elif t == "project.registered":
            projects[d["project_code"]] = d
        elif t == "indicator.issued":
            issued[d["indicator_id"]] = d
            pending[d["from_indicator_id"]] -= Decimal(d["amount"])
            first_out.setdefault(d["from_indicator_id"], d["issued_on"])
            assert pending[d["from_indicator_id"]] >= 0, "over-issued"
            if not d.get("doc_scan_ref"):
                fire("IND-03")
            if not DOC_NO.match(d["doc_no"]):
                fire("IND-04")
        elif t == "indicator.registered":
            assert d["source"] != "carry_over"
            indicators[d["indicator_id"]] = {**d, "region": e["region"], "event": eid}
            pending[d["indicator_id"]] = available[d["indicator_id"]] = Decimal(d["amount"])
            fund = funds[d["fund_code"]]
            assert _covers(fund["functional_classes"], d["functional_class"])
            if d["source"] == "upper_transfer":
                up = issued[d["upper_indicator_id"]]
                if d["fund_code"] != up["fund_code"] and fund.get("upper_fund_code") != up["fund_code"]:
                    fire("IND-05")
                if _workdays_after(day(up["issued_on"]), 5) < day(d["registered_on"]):
                    fire("IND-01")
                if up["budget_year"] < d["budget_year"] and not up["advance_issue"] and not d["advance_issue"]:
                    fire("IND-06")
                if d["amount"] != up["amount"]:
                    fire("IND-02")
            elif e["region"] not in ("000000", "410000") and fund["level"] in ("central", "provincial"):
                fire("IND-05")
            if not d.get("doc_scan_ref"):
                fire("IND-03")
            if not DOC_NO.match(d["doc_no"]):
                fire("IND-04")
        elif t == "indicator.compiled":
            compiled.add(d["indicator_id"])
        elif t == "indicator.allocated":
            ind = indicators[d["indicator_id"]]
            if d["indicator_id"] not in first_out:
                first_out[d["indicator_id"]] = d["allocated_on"]
                if ind["source"] == "upper_transfer" and (day(d["allocated_on"]) - day(ind["registered_on"])).days > 30:
                    fire("ALC-01")
            fund = funds[ind["fund_code"]]
            if not _covers(fund["functional_classes"], d.get("functional_class") or ind["functional_class"]) \
                    or (d.get("economic_class") or "").startswith(("301", "302")):
                fire("ALC-05")
            if Decimal(d["amount"]) > pending[d["indicator_id"]]:
                fire("ALC-02")
            pending[d["indicator_id"]] -= Decimal(d["amount"])
            allocs_of[d["indicator_id"]].append((d["allocated_on"], fen(d["amount"])))
            if d["kind"] == "project":
                name = d.get("project_name") or ""
                if not name or name.isdigit() or name in GENERIC:
                    fire("ALC-03")
                if d["project_code"] not in projects:
                    fire("ALC-04")
                else:
                    project_alloc.setdefault(d["project_code"], (d["allocated_on"], eid))
        elif t == "payment.made":
            amount, paid_on = Decimal(d["amount"]), d["payment_date"]
            payer, payee = d["payer"], d["payee"]
            when = paid_on or e["time"][:10]
            if paid_on is None:
                fire("USE-02")
            if amount > available[d["indicator_id"]]:
                fire("USE-01")
            available[d["indicator_id"]] -= amount
            payee_acc, payer_acc = accounts.get(payee["account"], {}), accounts.get(payer["account"])
            special = payee_acc.get("kind") == "special" and d["channel"] != "special_account"
            if special:
                fire("PRG-04")
            if paid_on and d.get("valid", True) and not special:
                payments_of[d["indicator_id"]].append((paid_on, fen(d["amount"]), eid))
            if (d.get("economic_class") or "").startswith(PROHIBITED_ECONOMIC):
                fire("USE-03")
            if d["settlement"] == "cash" and amount > 50_000:
                fire("USE-04")
            if any(w in d["purpose"] for w in PROHIBITED_PURPOSE):
                fire("USE-09")
            key = (payee["account"], d["amount"], d["purpose"], paid_on)
            if key in seen_payment:
                fire("USE-05")
            seen_payment[key] = d["payment_id"]
            parts = [r for r in recent[payee["account"]] if r[0] == payer["unit_code"] and paid_on and r[1]
                     and abs((day(paid_on) - day(r[1])).days) <= 7 and 20_000 <= r[2] < 100_000
                     and (r[2], r[3], r[1]) != (amount, d["purpose"], paid_on)]
            if parts and 20_000 <= amount < 100_000 and amount + sum(r[2] for r in parts) >= 100_000:
                fire("USE-06")
            recent[payee["account"]].append((payer["unit_code"], paid_on, amount, d["purpose"]))
            owner = payee.get("person") or payee.get("enterprise_code") or f"name:{payee['name']}"
            if owners[payee["account"]] and owner not in owners[payee["account"]]:
                once("ACC-02", payee["account"], eid)
            if owner not in owners[payee["account"]]:
                owners[payee["account"]].append(owner)
            if payee["account_holder"] != payee["name"] or (payee_acc and payee_acc["holder_name"] != payee["name"]):
                fire("ACC-03")
            if d.get("project_code") and (payee["kind"] == "individual" or payee_acc.get("kind") == "personal"):
                fire("ACC-04")
            if payee["account"] == payer["account"] or payee["name"] == payer["unit_name"] \
                    or (payee_acc.get("unit_code") and payee_acc.get("unit_code") == payer["unit_code"]):
                fire("ACC-06")
            if not payer_acc or payer_acc["kind"] != "designated":
                fire("ACC-01")
            if (payer_acc and payer_acc["status"] != "active") or payee_acc.get("status", "active") != "active":
                fire("ACC-05")
            if d.get("project_code"):
                project = projects[d["project_code"]]
                if paid_on and not project["start_date"] <= paid_on <= project["end_date"]:
                    fire("USE-08")
            ent = payee.get("enterprise_code")
            if ent:
                if any(st["record_date"] <= when for st in statuses[ent]):
                    once("BEN-06", ent, eid)
                founded = day(enterprises[ent]["record_date"])
                if 0 <= (day(when) - founded).days <= 180 and amount >= 200_000:
                    once("BEN-07", ent, eid)
                if payer["unit_code"] in units_of.get(reps.get(ent), ()):
                    once("BEN-08", f"{ent}/{payer['unit_code']}", eid)
            lines = d.get("subsidy_lines") or []
            if lines and d["channel"] != "subsidy_card":
                fire("USE-07")
            for line in lines:
                person = line["person"]
                if line["payable"] != line["paid"]:
                    fire("BEN-05")
                entry = registry.get(person)
                if entry is None or entry["status"] == "removed":
                    fire("BEN-01")
                elif entry["status"] == "stable" and entry["since"] <= when:
                    fire("BEN-09")
                for rec in records.get(person, []):
                    if rec["kind"] == "death" and rec["record_date"] < when:
                        fire("BEN-03")
                    elif rec["kind"] in ("deed_tax", "vehicle", "public_employee") and rec["record_date"] <= when:
                        fire("BEN-02")
                subsidy_key = (person, line["subsidy_type"])
                if subsidy_key in seen_subsidy:
                    fire("BEN-04")
                seen_subsidy[subsidy_key] = d["payment_id"]
        elif t == "payment.returned":
            available[d["indicator_id"]] += Decimal(d["amount"])
            returns_of[d["indicator_id"]].append((d["returned_on"], fen(d["amount"])))
        elif t == "performance.targets_set":
            targets[d["project_code"]] = {**d, "event": eid}
            allocated_on, _ = project_alloc[d["project_code"]]
            if _workdays_after(day(allocated_on), 5) < day(d["set_on"]):
                fire("PERF-01")
        elif t == "performance.progress_reported":
            reported[d["project_code"]].add(d["period_end"])
            tg = targets[d["project_code"]]
            target = next(x for x in tg["targets"] if x["metric_id"] == d["metric_id"])
            start, deadline, pe = day(tg["set_on"]), day(target["deadline"]), day(d["period_end"])
            share = Decimal((pe - start).days) / Decimal((deadline - start).days)
            if share >= Decimal("0.2") and Decimal(d["actual_value"]) < Decimal("0.5") * Decimal(target["target_value"]) * share:
                fire("PERF-02")
        elif t == "performance.self_evaluated":
            if Decimal(d["score"]) < Decimal(d["target_score"]):
                fire("PERF-04")

    for code, tg in targets.items():  # PERF-03: monitoring reports of the two periods
        allocated_on = day(project_alloc[code][0])
        for pe in (dt.date(2026, 6, 30), dt.date(2026, 9, 30)):
            if (pe - allocated_on).days > 30 and pe.isoformat() not in reported[code]:
                once("PERF-03", f"{code}/{pe}", tg["event"])
    for ind_id, ind in indicators.items():  # the progress rules, on what the ledger would book
        received, event = fen(ind["amount"]), ind["event"]
        if ind["advance_issue"]:
            if ind_id not in compiled:
                fired.add(("ALC-06", event))
            continue
        on = day(ind["registered_on"])
        pays = sorted(payments_of[ind_id])
        issued_down = sum(fen(x["amount"]) for x in issued.values() if x["from_indicator_id"] == ind_id)
        base = received - issued_down

        def paid_by(cut: dt.date) -> int:
            return sum(f for d_, f, _ in pays if day(d_) <= cut) - sum(f for d_, f in returns_of[ind_id] if day(d_) <= cut)

        if base >= 10_000_000:
            for cp in (dt.date(2026, 6, 30), dt.date(2026, 9, 30)):
                age = (cp - on).days
                if cp > on and age >= 60 and paid_by(cp) < Decimal("0.4") * base * age / (dt.date(2026, 12, 31) - on).days:
                    fired.add(("PRG-01", event))
            if base - paid_by(dt.date(2026, 12, 15)) > Decimal("0.3") * base:
                fired.add(("PRG-03", event))
        held_day = on + dt.timedelta(days=60)
        out = sum(f for d_, f in allocs_of[ind_id] if day(d_) <= held_day) + \
            sum(fen(x["amount"]) for x in issued.values() if x["from_indicator_id"] == ind_id and day(x["issued_on"]) <= held_day)
        if received - out >= 5_000_000 and (received - out) * 10 >= received:
            fired.add(("PRG-05", event))
        if ind_id in first_out:
            since, idle = day(first_out[ind_id]), False
            for d_, f, _ in pays + [(last_day.isoformat(), 0, "")]:
                if (day(d_) - since).days > 120:
                    allocated = sum(a for ad, a in allocs_of[ind_id] if day(ad) <= since + dt.timedelta(days=120))
                    idle |= allocated - paid_by(since + dt.timedelta(days=120)) >= 10_000_000
                since = max(since, day(d_))
            if idle:
                fired.add(("PRG-02", event))
        window = sum(f for d_, f, _ in pays if d_ >= "2026-11-15")
        total = sum(f for _, f, _ in pays)
        if window >= 10_000_000 and window * 10 > total * 3:
            fired.add(("PRG-06", event))
    return fired


def test_injected_irregularities_are_exactly_the_ground_truth(dataset, mid):
    for ds in (dataset, mid):
        truth = {(t["rule_id"], t["event_id"]) for t in ds.ground_truth}
        fired = reference_check(ds.events)
        assert fired - truth == set(), "a rule fires on data the ground truth calls clean"
        assert truth - fired == set(), "an injected case does not show its rule"


def test_streaming_is_lazy():
    """The first events of a 200,000-payment province come before any payment is generated."""
    from services.demo.generator import Generator

    gen = Generator(200_000, 2026)
    stream = gen.events()
    first = [next(stream) for _ in range(1000)]
    assert len({e["id"] for e in first}) == 1000 and first[0]["type"] == "region.registered"
    assert gen.rec.payments == 0 and sum(gen.rec.types.values()) == 1000  # nothing beyond what was taken


def test_write(tmp_path, dataset):
    paths = demo.write(tmp_path, size=SIZE)
    assert [p.name for p in paths] == ["events.jsonl", "ground_truth.json", "summary.json"]
    lines = paths[0].read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == dataset.events
    assert "河南省" in lines[1]  # ensure_ascii=False
    assert json.loads(paths[1].read_text(encoding="utf-8")) == dataset.ground_truth
    assert json.loads(paths[2].read_text(encoding="utf-8")) == dataset.summary
    again = demo.write(tmp_path / "again", size=SIZE)
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(paths, again))


class _Ingest(BaseHTTPRequestHandler):
    batches: list[list[dict]] = []
    keys: list[str] = []
    script: list[int] = []

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["content-length"]))
        status = self.script.pop(0) if self.script else 202
        if status == 202:
            assert self.path == "/v1/events/batch"
            self.batches.append(json.loads(body))
            self.keys.append(self.headers["authorization"])
        self.send_response(status)
        self.end_headers()
        self.wfile.write(b'{"detail": "busy"}' if status != 202 else b'{"accepted": true}')

    def log_message(self, *args):
        pass


@pytest.fixture
def ingest():
    server = HTTPServer(("127.0.0.1", 0), _Ingest)
    _Ingest.batches, _Ingest.script, _Ingest.keys = [], [], []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", _Ingest
    server.shutdown()


def test_send_batches_and_retries_503(ingest, monkeypatch, dataset):
    url, handler = ingest
    monkeypatch.setattr(demo.time, "sleep", lambda s: None)
    handler.script = [503, 503]
    events = dataset.events[:1234]
    assert demo.send(iter(events), url + "/", batch=500, api_key="fwk_k") == 1234
    assert [len(b) for b in handler.batches] == [500, 500, 234]
    assert [e for b in handler.batches for e in b] == events
    assert set(handler.keys) == {"Bearer fwk_k"}


def test_send_picks_the_most_specific_client_for_each_event(ingest, dataset):
    url, handler = ingest
    keys = {"000000": "ministry", "410000": "province", "410324": "county"}
    events = dataset.events[:600]
    assert demo.send(events, url, api_key=keys, batch=600) == 600
    sent = {key: batch for key, batch in zip(handler.keys, handler.batches, strict=True)}
    assert {e["region"][:6] for e in sent["Bearer county"]} == {"410324"}
    assert all(e["region"].startswith("41") and not e["region"].startswith("410324") for e in sent["Bearer province"])
    assert {e["region"] for e in sent["Bearer ministry"]} == {"000000"}
    assert sorted(map(json.dumps, (e for b in handler.batches for e in b))) == sorted(map(json.dumps, events))


def test_send_raises_with_response_text(ingest, dataset):
    url, handler = ingest
    handler.script = [422]
    with pytest.raises(RuntimeError, match="422.*busy"):
        demo.send(dataset.events[:10], url, api_key="fwk_k")
