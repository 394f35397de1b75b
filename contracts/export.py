"""Write the JSON Schema files under contracts/schemas/ (`python -m contracts.export`), with the
example events of contracts/examples.json (`fundwatch schemas` refreshes those from the demo), and
the AsyncAPI document of the topics (contracts.asyncapi)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from contracts.envelope import EVENT_TYPES, dumps_schema, json_schemas
from contracts.topics import INPUT_FAMILIES

SCHEMA_DIR = Path(__file__).parent / "schemas"
EXAMPLES_FILE = Path(__file__).parent / "examples.json"
_TIME = "2026-03-10T10:00:00+08:00"
_MORE = {  # input types the demo does not produce
    "indicator.corrected": {"correction_id": "HZ-410324-0001", "corrects_event_id": "ev-alloc-0001",
                            "corrected_amount": "80000.00", "reason": "分配金额录入错误", "corrected_on": "2026-03-10",
                            "doc_no": "栾财农〔2026〕8号"},
    "indicator.compiled": {"indicator_id": "IND-410324-2026-0001", "amount": "500000.00", "budget_year": 2026,
                           "compiled_on": "2026-03-10"},
    "payment.planned": {"plan_id": "JH-410324-0001", "indicator_id": "IND-410324-2026-0001", "amount": "20000.00",
                        "planned_on": "2026-03-10"},
}


# the platform's own events: what the ledger, alerts, notify and every service's audit write
_PLATFORM: dict[str, tuple[str, dict[str, Any]]] = {
    "ledger.posting_applied": ("/ledger", {
        "posting_id": "pay-410324-0001", "journal_seq": 42, "source_event_id": "ev-pay-0001",
        "source_event_type": "payment.made", "source_subject": "ZF-410324-0001", "indicator_id": "IND-410324-2026-0001",
        "fund_code": "C22", "budget_year": 2026, "booked_on": "2026-03-10",
        "moves": [{"debit": "5001", "credit": "1001", "amount": "20000.00"}],
        "balances": {"1001": "480000.00", "5001": "20000.00"}}),
    "ledger.interlock_checked": ("/ledger", {
        "transfer_indicator_id": "IND-410300-2026-0007", "issuer_region": "410300", "receiver_region": "410324",
        "fund_code": "C22", "issued": "500000.00", "received": "500000.00", "in_transit": "0.00", "state": "matched",
        "receipt_indicator_ids": ["IND-410324-2026-0001"], "issued_on": "2026-02-01",
        "first_received_on": "2026-02-02"}),
    "ledger.balance_exceeded": ("/ledger", {
        "kind": "payment_beyond_balance", "source_event_id": "ev-pay-0009", "indicator_id": "IND-410324-2026-0001",
        "fund_code": "C22", "amount": "600000.00", "available": "480000.00", "payment_id": "ZF-410324-0009"}),
    "ledger.fund_link_conflict": ("/ledger", {
        "fund_code": "C22", "upper_fund_codes": ["B10", "B11"], "source_event_id": "ev-fund-0003"}),
    "ledger.progress": ("/ledger", {
        "positions": {"fundwatch.payment.v1:0": 1250}, "newest": {"fundwatch.payment.v1:0": "2026-03-10T10:00:00+08:00"},
        "partition": 0}),
    "alert.transitioned": ("/alerts", {
        "alert_id": "R-01:ZF-410324-0009", "transition_id": "R-01:ZF-410324-0009:raised", "transition": "raised",
        "rule_id": "R-01", "category": "payment", "title_zh": "支付超出指标余额", "title_en": "payment beyond balance",
        "subject": "ZF-410324-0009", "level": "red", "fund_code": "C22", "group_code": "treasury",
        "at": "2026-03-10T10:00:05+08:00"}),
    "alert.disposition_refused": ("/alerts", {
        "disposition_id": "CZ-0001", "alert_id": "R-01:ZF-410324-0009", "action": "rectify", "actor": "zhang.san",
        "reason": "a red alert is rectified only after its verification", "level": "red",
        "at": "2026-03-11T09:00:00+08:00"}),
    "alert.reminded": ("/notify", {
        "reminder_id": "R-01:ZF-410324-0009:reminder:1", "alert_id": "R-01:ZF-410324-0009", "kind": "reminder",
        "ordinal": 1, "level": "red", "rule_id": "R-01", "group_code": "treasury", "recipients": ["zhang.san"],
        "working_days": 3, "at": "2026-03-13T09:00:00+08:00", "text_zh": "红灯预警已 3 个工作日未处理，请尽快核实"}),
    "alert.disposition_filed": ("/alerts", {
        "disposition_id": "CZ-0002", "alert_id": "R-01:ZF-410324-0009", "action": "verify_violation",
        "actor": "zhang.san", "group_code": "treasury", "method": "documents", "corrective_actions": ["recover"],
        "findings": "重复支付，已通知收回"}),
    "rule.configured": ("/alerts", {
        "rule_id": "R-01", "budget_year": 2026, "scope": "410324", "enabled": True, "level": "red",
        "set_by": "li.si"}),
    "notification.delivered": ("/notify", {
        "alert_id": "R-01:ZF-410324-0009", "transition_id": "R-01:ZF-410324-0009:raised", "channel": "wecom",
        "group_code": "treasury", "target": "wecom:treasury-410324", "status": "delivered", "attempts": 1}),
    "audit.recorded": ("/ingest", {
        "actor": "budget-execution-410324", "actor_kind": "client", "action": "client.imported", "outcome": "ok",
        "target": "/v1/imports/payments", "client_ip": "10.0.0.8", "service": "ingest",
        "details": {"template": "payments", "rows": "2", "events": "2"}}),
}


def platform_examples() -> dict[str, dict[str, Any]]:
    """One example event per type the platform itself writes (checked against its contract by a test)."""
    return {name: {"specversion": "1.0", "id": f"example-{name}", "source": source, "type": name,
                   "time": "2026-03-10T10:00:05+08:00", "region": "410324", "data": data}
            for name, (source, data) in _PLATFORM.items()}


def all_examples() -> dict[str, dict[str, Any]]:
    """An example of every event type: what upstream sends and what the platform writes."""
    return {**examples(), **platform_examples()}


def examples() -> dict[str, dict[str, Any]]:
    """One example event per input type (what upstream systems send)."""
    return json.loads(EXAMPLES_FILE.read_text(encoding="utf-8")) if EXAMPLES_FILE.exists() else {}


def write_examples(events: Iterable[dict[str, Any]]) -> None:
    """contracts/examples.json: the first event of each input type in `events` (the demo's)."""
    wanted = {t for t, (_model, family) in EVENT_TYPES.items() if family in INPUT_FAMILIES}
    found: dict[str, dict[str, Any]] = {}
    for event in events:
        if event["type"] in wanted and event["type"] not in found:
            found[event["type"]] = event
    for name, data in _MORE.items():
        found.setdefault(name, {"specversion": "1.0", "id": f"example-{name}", "source": "/budget-execution/410324",
                                "type": name, "time": _TIME, "region": "410324", "data": data})
    EXAMPLES_FILE.write_text(json.dumps(dict(sorted(found.items())), ensure_ascii=False, indent=2) + "\n",
                             encoding="utf-8")


def rendered() -> dict[str, str]:
    from contracts.asyncapi import asyncapi

    files = {f"{name}.json": dumps_schema(schema) for name, schema in json_schemas(all_examples()).items()}
    files["asyncapi.json"] = dumps_schema(asyncapi())
    return files


def main() -> int:
    SCHEMA_DIR.mkdir(exist_ok=True)
    files = rendered()
    for old in SCHEMA_DIR.glob("*.json"):
        if old.name not in files:
            old.unlink()
    for name, text in files.items():
        (SCHEMA_DIR / name).write_text(text, encoding="utf-8")
    print(f"wrote {len(files)} schemas to {SCHEMA_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
