"""The query API over a projected demo province, on SQLite and PostgreSQL: statistics against the
demo's own recomputation, three-tier scoping, tracing to the central document, the chain down,
search in Chinese, and the derived stream against the demo's ground truth."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import pytest

COUNTY, OTHER_COUNTY, CITY = "410324", "410325", "410300"


def truth(dataset, rule: str, ref: str) -> set[str]:
    return {g["refs"][ref] for g in dataset.ground_truth if g["rule_id"] == rule}


def seed_002_paid(events: list[dict]) -> dict[str, Decimal]:
    """Spending per county recomputed from the wire events (seed 002): valid payments with a
    payment date, not into a fiscal special account, net of their returns."""
    special = {e["data"]["account"] for e in events if e["type"] == "account.registered" and e["data"]["kind"] == "special"}
    counted: dict[str, tuple[str, Decimal]] = {}
    paid: dict[str, Decimal] = defaultdict(Decimal)
    for e in events:
        d = e["data"]
        if e["type"] == "payment.made" and d.get("valid", True) and d.get("payment_date") \
                and d["payee"]["account"] not in special and d["payment_id"] not in counted:
            counted[d["payment_id"]] = (e["region"], Decimal(d["amount"]))
            paid[e["region"]] += Decimal(d["amount"])
        elif e["type"] == "payment.returned" and d["payment_id"] in counted:
            paid[counted[d["payment_id"]][0]] -= Decimal(d["amount"])
    return paid


async def test_overview_per_county_equals_the_demo_statistics(api, demo_ledger):
    paid = seed_002_paid(demo_ledger.dataset.events)
    for county, totals in demo_ledger.dataset.summary["counties"].items():
        o = await api.ok("/v1/overview", who=county)
        assert o["region"] == county and o["region_name"] == totals["name"]
        t = o["totals"]
        assert (Decimal(t["scale"]), Decimal(t["allocated"]), Decimal(t["paid"])) == (
            Decimal(totals["received"]), Decimal(totals["allocated"]), paid[county]), county
        assert Decimal(t["progress"]) == (Decimal(t["paid"]) / Decimal(t["available"])).quantize(Decimal("0.0001"))


async def test_overview_by_level_and_fund_add_up(api):
    o = await api.ok("/v1/overview", budget_year=2026)
    scale = Decimal(o["totals"]["scale"])
    assert {x["level"] for x in o["by_level"]} == {"central", "provincial"}
    assert sum(Decimal(x["scale"]) for x in o["by_level"]) == scale
    assert sum(Decimal(x["paid"]) for x in o["by_fund"]) == Decimal(o["totals"]["paid"])
    assert all(f["fund_name"] for f in o["by_fund"])
    assert (await api.ok("/v1/overview", budget_year=2025))["totals"]["indicators"] == 0


async def test_region_tree_ranks_children_and_drills_down(api, demo_ledger):
    tree = await api.ok("/v1/regions/tree", who="410000")
    children = tree["children"]["items"]
    assert {c["code"] for c in children} == {"410300", "410400", "411600", "411300"}
    assert [c["rank"] for c in children] == [1, 2, 3, 4]
    assert [Decimal(c["progress"]) for c in children] == sorted((Decimal(c["progress"]) for c in children), reverse=True)
    city = await api.ok("/v1/regions/tree", who="410000", region=CITY)
    paid = {c["code"]: Decimal(c["paid"]) for c in city["children"]["items"]}
    counties = demo_ledger.dataset.summary["counties"]
    expected = seed_002_paid(demo_ledger.dataset.events)
    assert paid == {c: expected[c] for c, v in counties.items() if v["city"] == CITY}
    page = await api.ok("/v1/regions/tree", region=CITY, limit=1, offset=1)
    assert page["children"]["total"] == 3 and len(page["children"]["items"]) == 1


async def test_views_by_region_group_and_department(api):
    counties = await api.ok("/v1/views/regions", level="county")
    assert counties["total"] == 9 and [r["rank"] for r in counties["items"]] == list(range(1, 10))
    groups = await api.ok("/v1/views/groups", who=COUNTY)
    assert {g["key"] for g in groups["items"]} <= {f"{g}-{COUNTY}" for g in ("agri", "edu", "social", "econ", "treasury")}
    assert all(g["department"] == "栾川县财政局" for g in groups["items"])
    departments = await api.ok("/v1/views/departments", who=CITY)  # the city's books: the province's groups
    assert {d["key"] for d in departments["items"]} == {"栾川县财政局", "嵩县财政局", "汝阳县财政局", "河南省财政厅"}


@pytest.mark.parametrize("path", ["/v1/overview", "/v1/regions/tree", "/v1/views/regions", "/v1/indicators",
                                  "/v1/transfers", "/v1/payments", "/v1/search"])
async def test_a_county_cannot_ask_for_another_region(api, path):
    q = "项目" if path == "/v1/search" else None
    assert (await api.get(path, who=COUNTY, region=OTHER_COUNTY, q=q)).status_code == 403
    assert (await api.get(path, who=COUNTY, region=CITY, q=q)).status_code == 403
    assert (await api.get(path, who=None, q=q)).status_code == 401


async def test_another_countys_objects_are_not_found(api):
    theirs = (await api.ok("/v1/payments", who=OTHER_COUNTY, limit=1))["items"][0]
    ind = theirs["indicator_id"]
    for path in (f"/v1/indicators/{ind}", f"/v1/indicators/{ind}/payments", f"/v1/payments/{theirs['payment_id']}/trace"):
        assert (await api.get(path, who=COUNTY)).status_code == 404, path
        assert (await api.get(path, who=CITY)).status_code == 200, path  # their city sees them
    assert (await api.get("/v1/journal", who=COUNTY, indicator_id=ind, account="5201")).status_code == 404
    lists = await api.ok("/v1/indicators", who=COUNTY, limit=500)
    assert lists["total"] > 0 and all(i["region"] == COUNTY for i in lists["items"])


async def test_a_payment_traces_back_to_the_central_document(api, demo_ledger):
    events = {e["data"].get("indicator_id"): e for e in demo_ledger.dataset.events if e["type"] == "indicator.registered"}
    central = [e for e in events.values() if e["region"] == "000000"]
    payment = (await api.ok("/v1/payments", who=COUNTY, status="counted", limit=200))["items"]
    payment = next(p for p in payment if "-C" in p["indicator_id"])  # a centrally funded programme
    trace = await api.ok(f"/v1/payments/{payment['payment_id']}/trace", who=COUNTY)
    chain = trace["chain"]
    assert [(x["kind"], x["region"]) for x in chain] == [
        ("indicator", COUNTY), ("transfer", CITY), ("indicator", CITY), ("transfer", "410000"),
        ("indicator", "410000"), ("transfer", "000000"), ("indicator", "000000")]
    assert all(x["doc_no"] and x["doc_date"] and x["date"] for x in chain)
    top = trace["top_document"]
    assert top["region"] == "000000" and top["doc_no"] == events[top["id"]]["data"]["doc_no"] and top["id"] in {
        e["data"]["indicator_id"] for e in central}
    assert trace["postings"][0]["debit"] == "5201" and trace["payment"]["payee_account"].count("*") >= 4


async def test_indicator_detail_has_the_whole_chain_down_to_payments(api):
    root = next(i for i in (await api.ok("/v1/indicators", region="000000", limit=50))["items"])
    detail = await api.ok(f"/v1/indicators/{root['indicator_id']}")
    assert detail["upstream"] == []
    (to_province,) = detail["downstream"]
    province = to_province["receipts"][0]
    cities = province["transfers"]
    assert cities and all(t["transfer"]["to_region"].endswith("00") for t in cities)
    county = cities[0]["receipts"][0]["transfers"][0]["receipts"][0]["indicator"]
    county_detail = await api.ok(f"/v1/indicators/{county['indicator_id']}", payments_limit=2)
    assert len(county_detail["upstream"]) == 6 and county_detail["payments"]["total"] > 2
    assert len(county_detail["payments"]["items"]) == 2
    assert sum(s["payments"] for s in county_detail["payment_summary"]) == county_detail["payments"]["total"]
    assert county_detail["allocations"]


async def test_journal_has_a_running_balance(api):
    ind = (await api.ok("/v1/payments", who=COUNTY, status="counted", limit=1))["items"][0]["indicator_id"]
    j = await api.ok("/v1/journal", who=COUNTY, indicator_id=ind, account="5201", limit=500)
    entries = j["entries"]["items"]
    running = Decimal(0)
    for e in entries:
        running += Decimal(e["change"])
        assert Decimal(e["balance"]) == running
    assert Decimal(j["balance"]) == running
    detail = await api.ok(f"/v1/indicators/{ind}", who=COUNTY)
    assert Decimal(detail["indicator"]["balances"]["5201"]) == running
    second = await api.ok("/v1/journal", who=COUNTY, indicator_id=ind, account="5201", limit=2, offset=1)
    assert second["entries"]["items"] == entries[1:3]


async def test_search_finds_chinese_project_keywords_and_document_numbers(api, demo_ledger):
    hits = await api.ok("/v1/search", q="道路硬化")
    assert hits["projects"] and all("道路硬化" in p["name"] for p in hits["projects"])
    assert hits["payments"] and {p["project_code"] for p in hits["payments"]} <= {p["project_code"] for p in hits["projects"]}
    two = await api.ok("/v1/search", q="栾川县 硬化")
    assert {p["project_code"] for p in two["projects"]} == {p["project_code"] for p in hits["projects"]
                                                            if "栾川县" in p["name"]}
    doc = next(e["data"]["doc_no"] for e in demo_ledger.dataset.events if e["type"] == "indicator.issued")
    by_doc = await api.ok("/v1/search", q=doc)
    assert doc in {t["doc_no"] for t in by_doc["transfers"]}
    scoped = await api.ok("/v1/search", who=OTHER_COUNTY, q="道路硬化")
    assert all(p["region"] == OTHER_COUNTY for p in scoped["projects"] + scoped["payments"])


async def test_similar_project_names_are_found_on_postgres(api, demo_ledger):
    if "sqlite" in demo_ledger.url:
        pytest.skip("SQLite searches by substring only")
    hits = await api.ok("/v1/search", q="槐树村道路硬化工程")  # not a substring of any name
    assert any("槐树村道路硬化" in p["name"] for p in hits["projects"])


async def test_derived_stream_matches_the_injected_ground_truth(demo_ledger):
    dataset, derived = demo_ledger.dataset, demo_ledger.derived
    by_type = defaultdict(list)
    for e in derived:
        by_type[e.type].append(e.data)
    mismatched = {d.receipt_indicator_ids[0] for d in by_type["ledger.interlock_checked"] if d.state == "mismatch"}
    assert mismatched == truth(dataset, "IND-02", "indicator_id")
    exceeded = by_type["ledger.balance_exceeded"]
    assert {d.payment_id for d in exceeded if d.payment_id} == truth(dataset, "USE-01", "payment_id")
    assert {d.allocation_id for d in exceeded if d.allocation_id} == truth(dataset, "ALC-02", "allocation_id")
    assert len({e.id for e in derived}) == len(derived)


async def test_transfers_list_shows_interlock_breaks(api, demo_ledger):
    broken = await api.ok("/v1/transfers", state="mismatch", limit=500)
    assert {t["transfer_id"] for t in broken["items"]} == truth(demo_ledger.dataset, "IND-02", "upper_indicator_id")
    assert all(Decimal(t["issued"]) - Decimal(t["received"]) == Decimal(t["in_transit"]) for t in broken["items"])


async def test_fund_catalogue_shows_the_scope_and_the_levels_above_with_links(api):
    funds = (await api.ok("/v1/funds", who=COUNTY, limit=500))["items"]
    regions = {f["region"] for f in funds}
    assert COUNTY in regions and OTHER_COUNTY not in regions and regions <= {COUNTY, CITY, "410000", "000000"}
    local = [f for f in funds if f["region"] == COUNTY]
    assert local and all(f["upper_fund_code"] and f["linked_upper_funds"] == [f["upper_fund_code"]] for f in local)


async def test_special_account_transfers_and_fund_link_conflicts_match_the_ground_truth(api, demo_ledger):
    dataset = demo_ledger.dataset
    special = await api.ok("/v1/payments", status="special_transfer", limit=500)
    assert {p["payment_id"] for p in special["items"]} == truth(dataset, "PRG-04", "payment_id")
    conflicts = {e.data.fund_code for e in demo_ledger.derived if e.type == "ledger.fund_link_conflict"}
    assert conflicts == truth(dataset, "IND-07", "fund_code")
