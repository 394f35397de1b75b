"""The deterministic demo data set (services.demo): wire validity, determinism, streaming,
the ground truth against an independent reference check of the DESIGN §6 rules, the
summary against a recomputation, and the HTTP sender."""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time
from collections import Counter, defaultdict
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from contracts import parse_event
from contracts.types import citizen_id_checksum_ok
from services import demo

SIZE = 300
INJECTED = {"BEN-01", "BEN-02", "BEN-03", "BEN-04", "BEN-05", "BEN-09", "USE-01", "USE-02", "USE-04", "USE-05",
            "USE-07", "ACC-01", "ACC-05", "IND-02", "IND-03", "IND-04", "ALC-02", "ALC-03", "ALC-04"}
COUNTIES = {"410324", "410325", "410326", "410423", "411624", "411622", "411603", "411625", "411326"}
DOC_NO = re.compile(r"^\S+〔\d{4}〕\d+号$")
GENERIC = {"水利专项", "扶贫项目", "基础设施建设", "产业项目", "项目"}
PROHIBITED_ECONOMIC = ("301", "302", "30217", "31001", "31013")


@pytest.fixture(scope="module")
def dataset():
    return demo.generate(size=SIZE)


@pytest.fixture(scope="module")
def mid():
    return demo.generate(size=2000)


def test_public_api():
    assert set(demo.__all__) == {"iter_events", "generate", "ground_truth", "summary", "write", "send"}


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
        elif e["type"] == "payment.made" and d.get("valid", True) and d["payment_date"]:
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


def reference_check(events: list[dict]) -> set[tuple[str, str]]:
    """A deliberately naive, independent implementation of the §6 rules the demo covers,
    plus the timing/consistency rules clean data must never trip."""
    fired: set[tuple[str, str]] = set()
    registry, records, accounts, projects, funds = {}, defaultdict(list), {}, {}, {}
    issued, indicators, pending, available = {}, {}, {}, {}
    project_left: dict[tuple[str, str], Decimal] = {}
    seen_subsidy, seen_payment, payee_owner = {}, {}, {}
    reps, employees, enterprises = set(), set(), {}
    day = lambda s: dt.date.fromisoformat(s)  # noqa: E731
    for e in events:
        t, d, eid = e["type"], e["data"], e["id"]
        fire = lambda rule: fired.add((rule, eid))  # noqa: E731
        if t == "fund.registered":
            funds[d["fund_code"]] = d
        elif t == "household.registered":
            registry[d["person"]] = d
        elif t == "external.recorded":
            if d.get("person"):
                records[d["person"]].append(d)
                if d["kind"] == "public_employee":
                    employees.add(d["person"])
            if d.get("related_person"):
                reps.add(d["related_person"])
            if d.get("enterprise_code"):
                enterprises[d["enterprise_code"]] = d
            assert d["kind"] != "business_status"
        elif t == "account.registered":
            accounts[d["account"]] = d
        elif t == "project.registered":
            projects[d["project_code"]] = d
        elif t == "indicator.issued":
            issued[d["indicator_id"]] = d
            pending[d["from_indicator_id"]] -= Decimal(d["amount"])
            assert pending[d["from_indicator_id"]] >= 0, "over-issued"
            if not d.get("doc_scan_ref"):
                fire("IND-03")
            if not DOC_NO.match(d["doc_no"]):
                fire("IND-04")
        elif t == "indicator.registered":
            assert d["source"] != "carry_over" and not d["advance_issue"]
            indicators[d["indicator_id"]] = d
            pending[d["indicator_id"]] = available[d["indicator_id"]] = Decimal(d["amount"])
            assert d["functional_class"] in funds[d["fund_code"]]["functional_classes"]
            if d["source"] == "upper_transfer":
                up = issued[d["upper_indicator_id"]]
                designated = funds[d["fund_code"]].get("upper_fund_code")
                assert up["fund_code"] in (d["fund_code"], designated)  # IND-05
                assert (day(d["registered_on"]) - day(up["issued_on"])).days <= 7  # IND-01
                if d["amount"] != up["amount"]:
                    fire("IND-02")
            if not d.get("doc_scan_ref"):
                fire("IND-03")
            if not DOC_NO.match(d["doc_no"]):
                fire("IND-04")
        elif t == "indicator.allocated":
            ind = indicators[d["indicator_id"]]
            assert (day(d["allocated_on"]) - day(ind["registered_on"])).days <= 30  # ALC-01
            assert d["functional_class"] in funds[ind["fund_code"]]["functional_classes"]  # ALC-05
            assert not d["economic_class"].startswith(("301", "302"))
            if Decimal(d["amount"]) > pending[d["indicator_id"]]:
                fire("ALC-02")
            pending[d["indicator_id"]] -= Decimal(d["amount"])
            if d["kind"] == "project":
                name = d.get("project_name") or ""
                if not name or name.isdigit() or name in GENERIC:
                    fire("ALC-03")
                if d["project_code"] not in projects:
                    fire("ALC-04")
                else:
                    project_left[(d["indicator_id"], d["project_code"])] = Decimal(d["amount"])
        elif t == "payment.made":
            amount, paid_on = Decimal(d["amount"]), d["payment_date"]
            payer, payee = d["payer"], d["payee"]
            if paid_on is None:
                fire("USE-02")
            if amount > available[d["indicator_id"]]:
                fire("USE-01")
            available[d["indicator_id"]] -= amount
            if d.get("project_code"):
                key = (d["indicator_id"], d["project_code"])
                if amount > project_left[key] and ("USE-01", eid) not in fired:
                    raise AssertionError(f"{eid} overdraws its project allocation only")
                project_left[key] -= amount
                project = projects[d["project_code"]]
                if paid_on:
                    assert project["start_date"] <= paid_on <= project["end_date"]  # USE-08
                assert payee["kind"] != "individual"  # ACC-04
            assert not (d.get("economic_class") or "").startswith(PROHIBITED_ECONOMIC)  # USE-03
            if d["settlement"] == "cash" and amount > 50_000:
                fire("USE-04")
            key = (payee["account"], d["amount"], d["purpose"], paid_on)
            if key in seen_payment:
                fire("USE-05")
            seen_payment[key] = d["payment_id"]
            owner = payee.get("person") or payee.get("enterprise_code")
            assert payee_owner.setdefault(payee["account"], owner) == owner  # ACC-02
            assert payee["account_holder"] == payee["name"]  # ACC-03
            assert payee["account"] != payer["account"]  # ACC-06
            payer_acc = accounts.get(payer["account"])
            if not payer_acc or payer_acc["kind"] != "designated":
                fire("ACC-01")
            payee_acc = accounts.get(payee["account"], {})
            if (payer_acc and payer_acc["status"] != "active") or payee_acc.get("status", "active") != "active":
                fire("ACC-05")
            if payee["kind"] == "enterprise" and paid_on:  # BEN-07: founded long before the award
                founded = day(enterprises[payee["enterprise_code"]]["record_date"])
                assert (day(paid_on) - founded).days > 365
            lines = d.get("subsidy_lines") or []
            if lines and d["channel"] != "subsidy_card":
                fire("USE-07")
            for line in lines:
                person = line["person"]
                if line["payable"] != line["paid"]:
                    fire("BEN-05")
                entry = registry.get(person)
                if entry is None:
                    fire("BEN-01")
                elif entry["status"] != "poor":
                    fire("BEN-09")
                for rec in records.get(person, []):
                    when = paid_on or "2026-12-31"
                    if rec["kind"] == "death" and rec["record_date"] < when:
                        fire("BEN-03")
                    elif rec["kind"] in ("deed_tax", "vehicle", "public_employee") and rec["record_date"] < when:
                        fire("BEN-02")
                subsidy_key = (person, line["subsidy_type"])
                if subsidy_key in seen_subsidy:
                    fire("BEN-04")
                seen_subsidy[subsidy_key] = d["payment_id"]
        elif t == "payment.returned":
            available[d["indicator_id"]] += Decimal(d["amount"])
        elif t == "performance.self_evaluated":
            assert Decimal(d["score"]) >= Decimal(d["target_score"])  # PERF-04
    assert not (reps & employees)  # BEN-08
    return fired


def test_injected_irregularities_are_exactly_the_ground_truth(dataset, mid):
    for ds in (dataset, mid):
        truth = {(t["rule_id"], t["event_id"]) for t in ds.ground_truth}
        fired = reference_check(ds.events)
        assert fired - truth == set(), "a rule fires on data the ground truth calls clean"
        assert truth - fired == set(), "an injected case does not show its rule"


def test_streaming_is_lazy():
    started = time.monotonic()
    stream = demo.iter_events(size=200_000)
    first = [next(stream) for _ in range(1000)]
    assert time.monotonic() - started < 5
    assert len({e["id"] for e in first}) == 1000 and first[0]["type"] == "region.registered"


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
    script: list[int] = []

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["content-length"]))
        status = self.script.pop(0) if self.script else 202
        if status == 202:
            assert self.path == "/v1/events/batch"
            self.batches.append(json.loads(body))
        self.send_response(status)
        self.end_headers()
        self.wfile.write(b'{"detail": "busy"}' if status != 202 else b'{"accepted": true}')

    def log_message(self, *args):
        pass


@pytest.fixture
def ingest():
    server = HTTPServer(("127.0.0.1", 0), _Ingest)
    _Ingest.batches, _Ingest.script = [], []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", _Ingest
    server.shutdown()


def test_send_batches_and_retries_503(ingest, monkeypatch, dataset):
    url, handler = ingest
    monkeypatch.setattr(demo.time, "sleep", lambda s: None)
    handler.script = [503, 503]
    events = dataset.events[:1234]
    assert demo.send(iter(events), url + "/", batch=500) == 1234
    assert [len(b) for b in handler.batches] == [500, 500, 234]
    assert [e for b in handler.batches for e in b] == events


def test_send_raises_with_response_text(ingest, dataset):
    url, handler = ingest
    handler.script = [422]
    with pytest.raises(RuntimeError, match="422.*busy"):
        demo.send(dataset.events[:10], url)
