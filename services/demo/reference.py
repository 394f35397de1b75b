"""Reference events (基础数据) of the demo, in wire form: regions, the fund catalogue,
responsible groups, accounts, the project library, the poor-household registry and
external records. Also the envelope helper shared by every event builder."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from services.demo import catalogue as cat
from services.demo import naming as nm
from services.demo.naming import h64, yuan
from services.demo.plan import Plan


def env(kind: str, source: str, region: str, subject: str | None, data: dict) -> dict:
    """A CloudEvents envelope; `id` and `time` are filled in when the event is emitted."""
    return {"specversion": "1.0", "id": "", "source": source, "type": kind, "time": "",
            "subject": subject, "region": region, "data": data}


def member(plan: Plan, county: str, j: int) -> tuple[str, str, str]:
    """(citizen ID, name, household id) of regular registry member j of a county."""
    reg = plan.registries[county]
    h = reg.hh[j]
    cid = nm.citizen_id(county, j)
    family = nm.surname(plan.seed, county, h) if j - reg.first[h] != 1 else None
    return cid, nm.person_name(cid, family), reg.household_id(j)


def special(person: dict) -> tuple[str, str, str | None]:
    cid = nm.citizen_id(person["county"], person["index"])
    return cid, nm.person_name(cid), person.get("household_id")


def record_id(person: dict) -> str:
    return f"EXT-{person['record']['kind'].upper()}-S{person['k']:06d}"


def unit_name(county: str, unit: str) -> str:
    return cat.county_name(county) + cat.UNITS[unit]


def _since(seed: int, status: str, key: object) -> str:
    h = h64(seed, "since", key)
    base, span = {"poor": (dt.date(2014, 10, 1), 1_800), "stable": (dt.date(2021, 6, 30), 500),
                  "removed": (dt.date(2020, 3, 1), 280)}[status]
    return (base + dt.timedelta(days=h % span)).isoformat()


def _noise_count(plan: Plan) -> int:
    return min(3_000, max(8, sum(len(r.hh) for r in plan.registries.values()) // 100))


def reference_count(plan: Plan) -> int:
    regions = 2 + len(cat.CITIES) + len(cat.COUNTIES) + sum(len(t) for t in cat.TOWNSHIPS.values())
    groups = len(cat.GROUPS) * (1 + len(cat.COUNTIES))
    accounts = len(cat.COUNTIES) * (len(cat.UNITS) + 1) + len(plan.extra.get("frozen", ())) + \
        len(plan.projects) + len(plan.extra.get("closed", ()))
    people = sum(len(r.hh) for r in plan.registries.values()) + len(plan.extra.get("special", ()))
    records = len(plan.projects) + sum(1 for p in plan.extra.get("special", ()) if p["record"]) + _noise_count(plan) + \
        len(plan.extra.get("employees", ()))
    links = len(plan.extra.get("links", ()))
    return regions + len(cat.FUNDS) + links + groups + accounts + len(plan.projects) + people + records


def reference_events(plan: Plan) -> Iterator[dict]:
    seed = plan.seed
    # regions
    yield env("region.registered", "/reference/regions", cat.CENTRAL, cat.CENTRAL,
              {"code": cat.CENTRAL, "name": "中央", "level": "central"})
    yield env("region.registered", "/reference/regions", cat.PROVINCE, cat.PROVINCE,
              {"code": cat.PROVINCE, "name": "河南省", "level": "province", "parent": cat.CENTRAL})
    for code, name in cat.CITIES.items():
        yield env("region.registered", "/reference/regions", code, code,
                  {"code": code, "name": name, "level": "city", "parent": cat.PROVINCE})
    for code, (name, city) in cat.COUNTIES.items():
        yield env("region.registered", "/reference/regions", code, code,
                  {"code": code, "name": name, "level": "county", "parent": city})
        for town in cat.township_codes(code):
            yield env("region.registered", "/reference/regions", town, town,
                      {"code": town, "name": cat.township_name(town), "level": "township", "parent": code})
    # fund catalogue
    for fund in cat.FUNDS.values():
        group = fund.group if fund.level != "county" else f"{fund.group}-{fund.region}"
        data: dict[str, object] = {"fund_code": fund.code, "name": fund.name, "level": fund.level}
        if fund.upper:
            data["upper_fund_code"] = fund.upper
        data.update(functional_classes=list(fund.classes), group_code=group, for_households=fund.for_households)
        yield env("fund.registered", f"/fund-catalogue/{fund.region}", fund.region, fund.code, data)
    for code, upper in plan.extra.get("links", ()):  # IND-07: a local fund linked to a second upper fund
        region = cat.FUNDS[code].region
        yield env("fund.linked", f"/fund-catalogue/{region}", region, code, {"fund_code": code, "upper_fund_code": upper})
    # responsible groups (谁主管、谁负责)
    upper_funds = [f for f in cat.FUNDS.values() if f.level in ("central", "provincial")]
    for code, (name, _county_name) in cat.GROUPS.items():
        funds = [] if code == "treasury" else [f.code for f in upper_funds if f.group == code]
        yield env("group.assigned", f"/fiscal-admin/{cat.PROVINCE}", cat.PROVINCE, code,
                  {"group_code": code, "group_name": name, "fund_codes": funds, "department": "河南省财政厅"})
    for county in cat.COUNTY_CODES:
        for code, (_name, county_group) in cat.GROUPS.items():
            funds = [] if code == "treasury" else [f.code for f in cat.FUNDS.values() if f.group == code and (
                f.level in ("central", "provincial", "city") or f.region == county)]
            dept = f"{cat.county_name(county)}财政局"
            yield env("group.assigned", f"/fiscal-admin/{county}", county, f"{code}-{county}",
                      {"group_code": f"{code}-{county}", "group_name": dept + county_group, "fund_codes": funds,
                       "department": dept})
    # accounts
    for county in cat.COUNTY_CODES:
        for unit in cat.UNITS:
            yield _account(county, nm.unit_account(county, unit), unit_name(county, unit), "designated", "active",
                           county + unit)
        yield _account(county, nm.special_account(county), f"{cat.county_name(county)}财政局", "special", "active",
                       county + cat.FINANCE_UNIT)
    for county, unit, account in plan.extra.get("frozen", ()):
        yield _account(county, account, unit_name(county, unit), "designated", "frozen", county + unit)
    for ent in (p.enterprise for p in plan.projects):
        yield _account(ent.county, ent.account, ent.name, "unit", "active", ent.code)
        if ent.old_account:
            yield _account(ent.county, ent.old_account, ent.name, "unit", "closed", ent.code)
    # project library
    for slot in plan.slots:
        p = slot.project
        if p is None:
            continue
        yield env("project.registered", f"/project-library/{p.county}", p.county, p.code, {
            "project_code": p.code, "name": p.name, "fund_code": slot.ind.fund,
            "category": "industry" if p.program.cooperative else "infrastructure",
            "implementing_unit": unit_name(p.county, p.program.unit),
            "start_date": p.start.isoformat(), "end_date": p.end.isoformat()})
    # poor-household registry (建档立卡)
    for county, reg in plan.registries.items():
        for j in range(len(reg.hh)):
            cid, name, hid = member(plan, county, j)
            h = reg.hh[j]
            status = reg.status[h]
            yield env("household.registered", f"/poverty-registry/{county}", reg.township[h], hid, {
                "person": cid, "name": name, "household_id": hid, "status": status,
                "since": _since(seed, status, (county, h))})
    for person in plan.extra.get("special", ()):
        cid, name, special_hid = special(person)
        yield env("household.registered", f"/poverty-registry/{person['county']}", person["township"], special_hid, {
            "person": cid, "name": name, "household_id": special_hid, "status": person["status"],
            "since": _since(seed, person["status"], special_hid)})
    yield from _external(plan)


def _account(county: str, account: str, holder: str, kind: str, status: str, unit: str) -> dict:
    return env("account.registered", f"/treasury/{county}", county, unit,
               {"account": account, "holder_name": holder, "kind": kind, "status": status, "unit_code": unit})


_EXTERNAL_SOURCE = {"deed_tax": "/external/tax", "death": "/external/civil-affairs",
                    "vehicle": "/external/public-security", "public_employee": "/external/personnel",
                    "business_registration": "/external/market-regulation"}


def _external(plan: Plan) -> Iterator[dict]:
    seed = plan.seed
    for ent in (p.enterprise for p in plan.projects):
        rep = nm.citizen_id(ent.county, ent.rep_index)
        yield env("external.recorded", _EXTERNAL_SOURCE["business_registration"], ent.county, ent.code, {
            "record_id": f"SCJG-{ent.code}", "kind": "business_registration", "enterprise_code": ent.code,
            "record_date": ent.founded.isoformat(), "status": "存续", "related_person": rep,
            "details": f"{ent.name}；法定代表人{nm.person_name(rep)}"})
    for ent, unit in plan.extra.get("employees", ()):  # BEN-08: the legal representative works for the payer
        rep = nm.citizen_id(ent.county, ent.rep_index)
        yield env("external.recorded", _EXTERNAL_SOURCE["public_employee"], ent.county, f"RY-{ent.code}", {
            "record_id": f"RY-{ent.code}", "kind": "public_employee", "person": rep, "record_date": "2015-03-01",
            "unit_code": unit, "details": f"{unit_name(ent.county, unit[6:])}在编人员"})
    for person in plan.extra.get("special", ()):
        record = person["record"]
        if not record:
            continue
        cid, _name, _hid = special(person)
        data = {"record_id": record_id(person), "kind": record["kind"], "person": cid,
                "record_date": record["date"].isoformat()}
        if "amount" in record:
            data["amount"] = yuan(record["amount"])
        data["details"] = record["details"]
        yield env("external.recorded", _EXTERNAL_SOURCE[record["kind"]], person["county"], data["record_id"], data)
    kinds = ("deed_tax", "vehicle", "public_employee", "death")
    for i in range(_noise_count(plan)):
        county = cat.COUNTY_CODES[i % len(cat.COUNTY_CODES)]
        kind = kinds[(i // len(cat.COUNTY_CODES)) % len(kinds)]
        cid = nm.citizen_id(county, nm.OUTSIDER + i)
        h = h64(seed, "noise", i)
        data = {"record_id": f"EXT-{kind.upper()}-{i:06d}", "kind": kind, "person": cid,
                "record_date": (dt.date(2024, 1, 1) + dt.timedelta(days=h % 700)).isoformat()}
        if kind == "deed_tax":
            data["amount"] = yuan(200_000 + h % 3_000_000)
        unit = nm.pick(list(cat.UNITS), "unit", seed, i)
        if kind == "public_employee":
            data["unit_code"] = county + unit
        data["details"] = {"deed_tax": "购买商品住房缴纳契税", "vehicle": "小型普通客车注册登记",
                           "public_employee": f"{unit_name(county, unit)}在编人员",
                           "death": "死亡注销户籍"}[kind]
        yield env("external.recorded", _EXTERNAL_SOURCE[kind], county, data["record_id"], data)
