"""The 地区 page's map: which child regions have a boundary in the vendored GeoJSON
(static/vendor/geo/<region>.json, made by vendor.sh at install time) and what each is coloured by."""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from services.console import text

GEO_DIR = Path(__file__).resolve().parent / "static" / "vendor" / "geo"


@lru_cache(maxsize=64)
def boundaries(region: str) -> frozenset[str] | None:
    """The codes drawn on the map of `region`'s children, or None when there is no such map."""
    if not region.isdigit():
        return None
    path = GEO_DIR / f"{region}.json"
    if not path.is_file():
        return None
    features = json.loads(path.read_text(encoding="utf-8"))["features"]
    return frozenset(f["properties"]["adcode"] for f in features)


def _open(counts: dict[str, int]) -> int:
    return sum(counts.values())


def region_map(region: str, children: list[dict[str, Any]], by_region: dict[str, dict[str, int]],
               unit: str, year: int | None) -> dict[str, Any]:
    """What the page's map carries: the GeoJSON to fetch and one item per child region (progress in
    percent and open alerts, with their texts), and the children it cannot draw."""
    codes = boundaries(region)
    suffix = f"&budget_year={year}" if year else ""
    items, missing = [], []
    for c in children:
        if codes is None or c["code"] not in codes:
            missing.append(c["name"] or c["code"])
            continue
        counts = by_region.get(c["code"], {})
        progress = Decimal(str(c["progress"])) if c.get("progress") is not None else None
        items.append({
            "code": c["code"], "name": c["name"] or c["code"],
            # chart values only (the colour scale), rounded as text.percent; every figure shown is text
            "progress": float((progress * 100).quantize(Decimal("0.1"), ROUND_HALF_UP)) if progress is not None else None,
            "progress_text": text.percent(c.get("progress")), "paid_text": text.money(c["paid"], unit),
            "red": counts.get("red", 0), "yellow": counts.get("yellow", 0), "open": _open(counts),
            "href": f"/regions?region={c['code']}{suffix}"})
    return {"code": region, "url": f"/static/vendor/geo/{region}.json" if codes is not None else None,
            "items": items, "missing": missing}
