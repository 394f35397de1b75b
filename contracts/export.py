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

    files = {f"{name}.json": dumps_schema(schema) for name, schema in json_schemas(examples()).items()}
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
