"""定制报表采集任务 (seed 004): a report-collection task defines its own form — columns of figures per
project or per person — and is issued by a fiscal unit to the regions below it; each lower region
uploads its filled form (CSV or XLSX, under its client's key and scope), and the results are added
up across the regions' forms by the form's key column, with each region's completion. In contrast
to hand-filled reports, nobody re-types a figure: the sums come from the forms as uploaded.

Pure: plain data in, plain data out (the API and the store are services.ingest.collections_api
and services.ingest.store). Money is Decimal, written as strings."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from contracts.types import parse_region, region_within
from services.ingest import tables

KINDS = ("text", "money", "int")
_ID = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")


class TaskError(ValueError):
    """A task definition that cannot stand: `field` names what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class FormColumn:
    header: str  # the Chinese header, as the form shows it
    kind: str = "text"  # text | money | int: money and int columns are added up
    required: bool = True


@dataclass(frozen=True)
class Task:
    task_id: str
    title: str
    region: str  # the issuing fiscal unit
    regions: tuple[str, ...]  # the lower regions it is issued to
    columns: tuple[FormColumn, ...]
    key: str  # the header of the column the results are grouped by (项目编码, 身份证号 …)
    due: dt.date | None = None

    @property
    def template(self) -> tables.Template:
        """The form as an import template: read by the table reader of every other import."""
        return tables.Template(self.task_id, self.title[:31], "", tuple(
            tables.Column(c.header, f"c{i}", "money" if c.kind == "money" else c.kind, c.required)
            for i, c in enumerate(self.columns)), "c0")

    @property
    def summed(self) -> list[str]:
        return [c.header for c in self.columns if c.kind in ("money", "int")]


def parse_task(body: dict[str, Any], issuer: str) -> Task:
    """A task from its JSON definition, issued by the fiscal unit `issuer`; TaskError naming the field."""
    task_id = body.get("task_id")
    if not isinstance(task_id, str) or not _ID.match(task_id):
        raise TaskError("task_id", "1–40 letters, digits, '_', '.', '-'")
    title = body.get("title")
    if not isinstance(title, str) or not title.strip() or len(title) > 100:
        raise TaskError("title", "the form's title, 1–100 characters")
    regions = body.get("regions")
    if not isinstance(regions, list) or not regions:
        raise TaskError("regions", "the lower regions the task is issued to (a non-empty list)")
    for i, region in enumerate(regions):
        try:
            parse_region(region)
        except (TypeError, ValueError) as exc:
            raise TaskError(f"regions.{i}", str(exc)) from None
        if region == issuer or not region_within(region, issuer):
            raise TaskError(f"regions.{i}", f"{region} is not below the issuing region {issuer}")
    if len(set(regions)) != len(regions):
        raise TaskError("regions", "a region is named twice")
    columns = body.get("columns")
    if not isinstance(columns, list) or not columns or len(columns) > 50:
        raise TaskError("columns", "the form's columns (1–50 of {header, kind})")
    parsed = []
    for i, c in enumerate(columns):
        header = c.get("header") if isinstance(c, dict) else None
        if not isinstance(header, str) or not header.strip() or len(header) > 40:
            raise TaskError(f"columns.{i}.header", "1–40 characters")
        kind = c.get("kind", "text")
        if kind not in KINDS:
            raise TaskError(f"columns.{i}.kind", f"one of {', '.join(KINDS)}")
        parsed.append(FormColumn(header.strip(), kind, bool(c.get("required", True))))
    headers = [c.header for c in parsed]
    if len(set(headers)) != len(headers):
        raise TaskError("columns", "a header is used twice")
    key = body.get("key", headers[0])
    if key not in headers or next(c for c in parsed if c.header == key).kind != "text":
        raise TaskError("key", "the header of a text column to group the results by")
    if not any(c.kind != "text" for c in parsed):
        raise TaskError("columns", "at least one money or int column: what the regions report")
    due = body.get("due")
    try:
        due_date = dt.date.fromisoformat(due) if due is not None else None
    except (TypeError, ValueError):
        raise TaskError("due", "a date (YYYY-MM-DD)") from None
    return Task(task_id, title.strip(), issuer, tuple(regions), tuple(parsed), key, due_date)


def region_of_uploader(task: Task, scope: str) -> str | None:
    """The issued region an uploader with region scope `scope` fills the form for (None: not issued
    to it): its own region or one above it among the task's regions."""
    return next((r for r in task.regions if region_within(scope, r)), None)


def read_form(task: Task, rows: Iterator[tables.Row], sheet: str) -> tuple[list[dict[str, Any]], list[dict]]:
    """(the form's records, header → JSON value; errors naming row and column). Amounts are strings."""
    records, errors = [], []
    keys: dict[str, int] = {}
    for row in rows:
        record: dict[str, Any] = {}
        for c in task.columns:
            try:
                value = tables._cell(row.cells.get(c.header), c.kind)
            except ValueError as exc:
                errors.append(tables.cell_error(sheet, row.number, c.header, c.header, str(exc)))
                continue
            if value is None and c.required:
                errors.append(tables.cell_error(sheet, row.number, c.header, c.header, "必填"))
            if c.kind == "money" and value is not None and Decimal(value).as_tuple().exponent < -2:  # type: ignore[operator]
                errors.append(tables.cell_error(sheet, row.number, c.header, c.header, f"金额最多两位小数: {value}"))
            record[c.header] = value
        key = record.get(task.key)
        if key is not None and key in keys:
            errors.append(tables.cell_error(sheet, row.number, task.key, task.key,
                                            f"与第 {keys[key]} 行重复（每个{task.key}一行）"))
        elif key is not None:
            keys[key] = row.number
        records.append(record)
    return records, errors


def aggregate(task: Task, submissions: Iterable[tuple[str, dt.datetime, list[dict[str, Any]]]]) -> dict[str, Any]:
    """The task's results across the regions' forms: per key (the sums of every money and int column
    over the regions, and which regions reported it), per region (its totals, when it submitted),
    the grand totals, and completion (submitted regions of those issued)."""
    zero = {h: Decimal(0) for h in task.summed}
    by_key: dict[str, dict[str, Any]] = {}
    by_region: dict[str, dict[str, Any]] = {}
    grand = dict(zero)
    for region, at, records in submissions:
        totals = dict(zero)
        for record in records:
            entry = by_key.setdefault(str(record.get(task.key)), {"sums": dict(zero), "regions": []})
            entry["regions"].append(region)
            for h in task.summed:
                amount = Decimal(str(record[h])) if record.get(h) is not None else Decimal(0)
                entry["sums"][h] += amount
                totals[h] += amount
                grand[h] += amount
        by_region[region] = {"submitted_at": at.isoformat(), "rows": len(records), "totals": _text(totals)}
    regions = [{"region": r, "submitted": r in by_region, **by_region.get(r, {})} for r in task.regions]
    return {"completion": {"issued": len(task.regions), "submitted": len(by_region),
                           "pending": [r for r in task.regions if r not in by_region]},
            "regions": regions, "totals": _text(grand),
            "by_key": [{task.key: k, "sums": _text(v["sums"]), "regions": v["regions"]}
                       for k, v in sorted(by_key.items())]}


def _text(sums: dict[str, Decimal]) -> dict[str, str]:
    return {h: format(v, "f") for h, v in sums.items()}


def task_dict(task: Task) -> dict[str, Any]:
    """The task as JSON (what is stored and what the API shows)."""
    return {"task_id": task.task_id, "title": task.title, "region": task.region, "regions": list(task.regions),
            "columns": [{"header": c.header, "kind": c.kind, "required": c.required} for c in task.columns],
            "key": task.key, "due": task.due.isoformat() if task.due else None}


def task_of(data: dict[str, Any]) -> Task:
    return Task(data["task_id"], data["title"], data["region"], tuple(data["regions"]),
                tuple(FormColumn(c["header"], c["kind"], c["required"]) for c in data["columns"]), data["key"],
                dt.date.fromisoformat(data["due"]) if data.get("due") else None)
