"""Small builders of wire-form events for tests (clear personal data, as upstream sends it)."""

from __future__ import annotations

import itertools

from contracts.types import citizen_id_check_char

_ids = itertools.count(1)
T = "2026-03-02T10:00:00+08:00"


def citizen_id(n: int, county: str = "410324") -> str:
    first = f"{county}19800101{n % 1000:03d}"
    return first + citizen_id_check_char(first)


def event(type_: str, data: dict, region: str = "410324", id: str | None = None, time: str = T) -> dict:
    return {"id": id or f"t-{next(_ids)}", "source": "/test", "type": type_, "time": time, "region": region,
            "data": data}


def registered(indicator_id: str, amount: str, region: str = "410324", id: str | None = None, **extra) -> dict:
    data = {"indicator_id": indicator_id, "fund_code": "C22", "amount": amount, "budget_year": 2026,
            "doc_no": "财农〔2026〕1号", "doc_date": "2026-02-01", "functional_class": "21305",
            "registered_on": "2026-02-02", **extra}
    return event("indicator.registered", data, region, id=id)


def issued(indicator_id: str, from_indicator_id: str, to_region: str, amount: str, region: str) -> dict:
    return event("indicator.issued", {
        "indicator_id": indicator_id, "from_indicator_id": from_indicator_id, "to_region": to_region,
        "fund_code": "C22", "amount": amount, "budget_year": 2026, "doc_no": "豫财农〔2026〕5号",
        "doc_date": "2026-02-05", "functional_class": "21305", "issued_on": "2026-02-05"}, region)


def allocated(allocation_id: str, indicator_id: str, amount: str, region: str = "410324", **extra) -> dict:
    data = {"allocation_id": allocation_id, "indicator_id": indicator_id, "kind": "own_spending",
            "amount": amount, "allocated_on": "2026-02-10", **extra}
    return event("indicator.allocated", data, region)


def payment(payment_id: str, indicator_id: str, amount: str, person: str | None = None, region: str = "410324",
            **extra) -> dict:
    payee = ({"kind": "individual", "name": "王五", "person": person, "account": "6222020200119999",
              "account_holder": "王五"} if person else
             {"kind": "enterprise", "name": "栾川县某合作社", "enterprise_code": "93410324MA00000001",
              "account": "6222020200118888", "account_holder": "栾川县某合作社"})
    data = {"payment_id": payment_id, "indicator_id": indicator_id,
            "payer": {"unit_code": "U1", "unit_name": "栾川县扶贫办", "account": "6222020200112233"},
            "payee": payee, "amount": amount, "payment_date": "2026-03-02", "purpose": "到户增收补助",
            "channel": "subsidy_card" if person else "direct", **extra}
    return event("payment.made", data, region)


def household(person: str, region: str = "410324100", status: str = "poor") -> dict:
    return event("household.registered", {"person": person, "name": "王五", "household_id": "H-1",
                                          "status": status, "since": "2020-01-01"}, region)
