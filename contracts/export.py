"""Write the JSON Schema files under contracts/schemas/ (`python -m contracts.export`)."""

from __future__ import annotations

import sys
from pathlib import Path

from contracts.envelope import dumps_schema, json_schemas

SCHEMA_DIR = Path(__file__).parent / "schemas"


def rendered() -> dict[str, str]:
    return {f"{name}.json": dumps_schema(schema) for name, schema in json_schemas().items()}


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
