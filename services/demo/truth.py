"""Ground truth and summary: what was injected, and the money per county, accumulated
from the emitted events themselves so the summary is a recomputation, not a claim."""

from __future__ import annotations

from collections import Counter

from services.demo import catalogue as cat
from services.demo.naming import special_account, yuan


def fen(amount: str) -> int:
    whole, _, frac = amount.partition(".")
    return int(whole) * 100 + int((frac + "00")[:2])


def subject_of(rule: str, refs: dict) -> str:
    """The natural key an alert about the case carries (the alert's subject; for persons without
    their hashed ID, for ACC-02 the clear account number that the alert names by its hash)."""
    if rule == "IND-02":
        return f"transfer/{refs['upper_indicator_id']}"
    if rule in ("IND-03", "IND-04"):
        return f"indicator/{refs['indicator_id']}"
    if "allocation_id" in refs:
        return f"allocation/{refs['allocation_id']}"
    return f"payment/{refs['payment_id']}"


class Recorder:
    def __init__(self, size: int, seed: int) -> None:
        self.size, self.seed = size, seed
        self.types: Counter[str] = Counter()
        self.money = {c: {"received": 0, "allocated": 0, "paid": 0} for c in cat.COUNTY_CODES}
        self.truth: list[dict] = []
        self.payments = 0

    def observe(self, event: dict) -> None:
        kind, region, data = event["type"], event["region"], event["data"]
        self.types[kind] += 1
        county = self.money.get(region)
        if county is None:
            return
        if kind == "indicator.registered" and data.get("source") == "upper_transfer":
            county["received"] += fen(data["amount"])
        elif kind == "indicator.allocated":
            county["allocated"] += fen(data["amount"])
        elif kind == "payment.made":
            self.payments += 1
            into_special = (data.get("payee") or {}).get("account") == special_account(region)
            if data.get("valid", True) and data.get("payment_date") and not into_special:
                county["paid"] += fen(data["amount"])
        elif kind == "payment.returned":
            county["paid"] -= fen(data["amount"])

    def add(self, rule: str, event: dict, refs: dict, note: str) -> None:
        refs = {**refs, "subject": refs.get("subject") or subject_of(rule, refs)}
        self.truth.append({"rule_id": rule, "event_id": event["id"], "region": event["region"],
                           "refs": refs, "note": note})

    def summary(self) -> dict:
        rules = Counter(t["rule_id"] for t in self.truth)
        return {
            "size": self.size,
            "seed": self.seed,
            "budget_year": cat.YEAR,
            "events": sum(self.types.values()),
            "payments": self.payments,
            "event_types": dict(sorted(self.types.items())),
            "counties": {
                code: {"name": cat.county_name(code), "city": cat.city_of(code),
                       **{k: yuan(v) for k, v in m.items()}}
                for code, m in self.money.items()
            },
            "paid_rule": "payment.made with valid=true and a payment_date, not into the county's fiscal special "
                         "account, minus payment.returned (seed 002)",
            "ground_truth": dict(sorted(rules.items())),
        }
