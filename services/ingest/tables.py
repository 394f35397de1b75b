"""Table import: the seeds' tables (XLSX or CSV, Chinese headers) → contract events, checked by
the contract code of every other way in (`validation.validate_rows`).

Each template says which column fills which attribute of the event; the same mapping writes a
filled template from events (`row_of`), so a template filled with the demo's data reads back
into the demo's events. A file is read once as a stream (openpyxl read-only, csv): every row is
checked, the checked events are spooled to disk, and — when there was no error — yielded in
chunks to publish. Memory thus does not grow with the file. Event ids come from the template and
the row's own content, so an upload sent again is the same events (consumers are idempotent by
id), and ingest records each file's SHA-256 so it is imported once."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import IO, Any

from contracts.envelope import Envelope, parse_event
from services.ingest.validation import Authorize, Horizon, validate_rows

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv"
CN = dt.timezone(dt.timedelta(hours=8))
CHUNK = 2000


@dataclass(frozen=True)
class Column:
    header: str  # the Chinese header of the column
    path: str  # where its value goes: "region", "data.amount", "data.payer.unit_code"
    kind: str = "text"  # text | money | date | int | bool | time
    required: bool = True
    line: bool = False  # a per-person subsidy line's column (grouped templates)
    nullable: bool = False  # empty means null (the contract requires the attribute but allows null)


@dataclass(frozen=True)
class Template:
    name: str
    title: str  # the sheet's name and the template's Chinese title
    event_type: str
    columns: tuple[Column, ...]
    date_path: str  # the business date that dates the event when 发生时间 is empty
    group_by: str | None = None  # rows with the same value of this path form one event (its lines)

    @property
    def headers(self) -> list[str]:
        return [c.header for c in self.columns]


ENVELOPE = (Column("区划代码", "region"), Column("事件编号", "id", required=False),
            Column("发生时间", "time", "time", required=False))

_PAYMENT = (
    Column("支付单号", "data.payment_id"), Column("指标编号", "data.indicator_id"),
    Column("项目编码", "data.project_code", required=False), Column("用款计划编号", "data.plan_id", required=False),
    Column("付款单位代码", "data.payer.unit_code"), Column("付款单位名称", "data.payer.unit_name"),
    Column("付款账号", "data.payer.account"), Column("收款人类型", "data.payee.kind"),
    Column("收款人名称", "data.payee.name"), Column("收款人身份证号", "data.payee.person", required=False),
    Column("收款单位信用代码", "data.payee.enterprise_code", required=False),
    Column("收款账号", "data.payee.account"), Column("收款账户户名", "data.payee.account_holder"),
    Column("支付日期", "data.payment_date", "date", required=False, nullable=True), Column("用途", "data.purpose"),
    Column("结算方式", "data.settlement", required=False), Column("支付方式", "data.channel", required=False),
    Column("经济分类", "data.economic_class", required=False), Column("审批单号", "data.approval_no", required=False),
    Column("有效", "data.valid", "bool", required=False),
)
_LINES = (
    Column("身份证号", "person", line=True), Column("姓名", "name", line=True),
    Column("户编号", "household_id", required=False, line=True),
    Column("补助类型", "subsidy_type", required=False, line=True),
    Column("补贴所属期", "period", required=False, line=True),
    Column("一卡通账号", "account", required=False, line=True),
    Column("应发金额", "payable", "money", line=True), Column("实发金额", "paid", "money", line=True),
)

TEMPLATES: dict[str, Template] = {t.name: t for t in (
    Template("indicator-issued", "上级指标文件", "indicator.issued", (*ENVELOPE,
             Column("指标编号", "data.indicator_id"), Column("来源指标编号", "data.from_indicator_id"),
             Column("下达区划", "data.to_region"), Column("资金代码", "data.fund_code"),
             Column("金额", "data.amount", "money"), Column("预算年度", "data.budget_year", "int"),
             Column("文号", "data.doc_no"), Column("发文日期", "data.doc_date", "date"),
             Column("功能分类", "data.functional_class"), Column("提前下达", "data.advance_issue", "bool", False),
             Column("文件扫描件", "data.doc_scan_ref", required=False), Column("下达日期", "data.issued_on", "date")),
             "data.issued_on"),
    Template("indicator-registered", "指标登记", "indicator.registered", (*ENVELOPE,
             Column("指标编号", "data.indicator_id"), Column("资金代码", "data.fund_code"),
             Column("金额", "data.amount", "money"), Column("预算年度", "data.budget_year", "int"),
             Column("文号", "data.doc_no"), Column("发文日期", "data.doc_date", "date"),
             Column("功能分类", "data.functional_class"), Column("经济分类", "data.economic_class", required=False),
             Column("预算项目", "data.budget_project", required=False), Column("来源", "data.source", required=False),
             Column("上级指标编号", "data.upper_indicator_id", required=False),
             Column("上级区划", "data.upper_region", required=False),
             Column("提前下达", "data.advance_issue", "bool", False),
             Column("文件扫描件", "data.doc_scan_ref", required=False),
             Column("登记日期", "data.registered_on", "date"),
             Column("原预算年度", "data.origin_year", "int", required=False)),
             "data.registered_on"),
    Template("indicator-allocated", "指标分配", "indicator.allocated", (*ENVELOPE,
             Column("分配编号", "data.allocation_id"), Column("指标编号", "data.indicator_id"),
             Column("分配类型", "data.kind"), Column("金额", "data.amount", "money"),
             Column("项目编码", "data.project_code", required=False),
             Column("项目名称", "data.project_name", required=False),
             Column("接收区划", "data.to_region", required=False),
             Column("功能分类", "data.functional_class", required=False),
             Column("经济分类", "data.economic_class", required=False),
             Column("分配日期", "data.allocated_on", "date"), Column("文号", "data.doc_no", required=False),
             Column("发文日期", "data.doc_date", "date", required=False),
             Column("文件扫描件", "data.doc_scan_ref", required=False)),
             "data.allocated_on"),
    Template("payments", "支付明细", "payment.made", (*ENVELOPE, *_PAYMENT[:13],
             Column("支付金额", "data.amount", "money"), *_PAYMENT[13:]), "data.payment_date"),
    Template("subsidy-lines", "贫困人员明细", "payment.made", (*ENVELOPE, *_PAYMENT,
             Column("支付金额", "data.amount", "money", required=False), *_LINES),
             "data.payment_date", group_by="data.payment_id"),
    Template("households", "贫困人口登记", "household.registered", (*ENVELOPE,
             Column("身份证号", "data.person"), Column("姓名", "data.name"), Column("户编号", "data.household_id"),
             Column("状态", "data.status", required=False), Column("标注日期", "data.since", "date")),
             "data.since"),
    Template("projects", "项目库", "project.registered", (*ENVELOPE,
             Column("项目编码", "data.project_code"), Column("项目名称", "data.name"),
             Column("资金代码", "data.fund_code", required=False), Column("项目类别", "data.category", required=False),
             Column("实施单位", "data.implementing_unit", required=False),
             Column("开始日期", "data.start_date", "date"), Column("结束日期", "data.end_date", "date")),
             "data.start_date"),
)}


class TableError(ValueError):
    """The file as a whole cannot be read (not XLSX/CSV, no header row, unknown columns)."""


# ------------------------------------------------------------------ cells ↔ JSON values


def _cell(value: Any, kind: str) -> Any:
    """A cell as the JSON value of its attribute; ValueError naming what is wrong."""
    if isinstance(value, str):
        value = value.strip()
        if value == "":
            return None
    if value is None:
        return None
    if kind == "money":
        if isinstance(value, bool):
            raise ValueError("不是金额")
        try:  # a numeric cell is a binary float: its shortest repr is what the user typed
            amount = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))
        except InvalidOperation:
            raise ValueError(f"不是金额: {value}") from None
        return format(amount, "f")
    if kind == "int":
        if isinstance(value, float) and value.is_integer():
            return int(value)
        try:
            return int(str(value))
        except ValueError:
            raise ValueError(f"不是整数: {value}") from None
    if kind == "bool":
        text = str(value).strip().lower()
        if text in ("是", "true", "1", "y", "yes"):
            return True
        if text in ("否", "false", "0", "n", "no"):
            return False
        raise ValueError(f"应填 是 或 否: {value}")
    if kind == "date":
        if isinstance(value, dt.datetime):
            return value.date().isoformat()
        return value.isoformat() if isinstance(value, dt.date) else str(value)
    if kind == "time":
        if isinstance(value, dt.datetime):
            return (value if value.tzinfo else value.replace(tzinfo=CN)).isoformat()
        return str(value)
    if isinstance(value, float) and value.is_integer():  # a code typed as a number
        return str(int(value))
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def _put(target: dict, path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        target = target.setdefault(part, {})
    target[last] = value


def _get(source: dict, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(source, dict) or part not in source:
            return None
        source = source[part]
    return source


def row_of(template: Template, event: dict, line: dict | None = None) -> list[Any]:
    """The template row of an event (and one of its subsidy lines): what a filled template holds."""
    out = []
    for c in template.columns:
        value = _get(line or {}, c.path) if c.line else _get(event, c.path)
        if isinstance(value, bool):
            value = "是" if value else "否"
        out.append(value)
    return out


def rows_of(template: Template, event: dict) -> list[list[Any]]:
    if template.group_by is None:
        return [row_of(template, event)]
    return [row_of(template, event, line) for line in event["data"].get("subsidy_lines", [])]


# ------------------------------------------------------------------ reading a file


@dataclass
class Row:
    number: int  # the row number as the user sees it (the header is row 1)
    cells: dict[str, Any]  # header → cell value


def read_rows(data: IO[bytes], kind: str, template: Template) -> tuple[str, Iterator[Row]]:
    """(sheet name, the data rows) of an XLSX or CSV file, read as a stream; TableError when the
    headers do not fit the template."""
    if kind == XLSX:
        import openpyxl

        try:
            book = openpyxl.load_workbook(data, read_only=True, data_only=True)
        except Exception as exc:
            raise TableError(f"不是有效的 XLSX 文件: {exc}") from None
        sheet = book[template.title] if template.title in book.sheetnames else book.worksheets[0]
        rows: Iterator[tuple] = sheet.iter_rows(values_only=True)
        name = sheet.title
    elif kind == CSV:
        text = io.TextIOWrapper(data, encoding="utf-8-sig", newline="")
        rows = (tuple(r) for r in csv.reader(text))
        name = template.title
    else:
        raise TableError(f"文件类型 {kind} 不支持: 请上传 XLSX ({XLSX}) 或 CSV ({CSV})")
    try:
        header = next(rows)
    except StopIteration:
        raise TableError(f"工作表 {name}: 没有表头行") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise TableError(f"不是 UTF-8 编码的 CSV 文件: {exc}") from None
    headers = [str(h).strip() if h is not None else "" for h in header]
    known = set(template.headers)
    unknown = [h for h in headers if h and h not in known]
    missing = [c.header for c in template.columns if c.required and c.header not in headers]
    if unknown or missing:
        parts = ([f"未知的列: {', '.join(unknown)}"] if unknown else []) + (
            [f"缺少必填列: {', '.join(missing)}"] if missing else [])
        raise TableError(f"工作表 {name} 第 1 行（表头）: {'; '.join(parts)}（模板 {template.title} 的列: "
                         f"{', '.join(template.headers)}）")

    def body() -> Iterator[Row]:
        for number, values in enumerate(rows, start=2):
            if values is None or all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
                continue
            yield Row(number, {h: v for h, v in zip(headers, values, strict=False) if h})

    return name, body()


# ------------------------------------------------------------------ rows → raw events


@dataclass
class Draft:
    """One event in the making and the rows it came from (a grouped event: one row per line)."""

    raw: dict
    rows: list[int]


def _event_id(template: Template, row: Row) -> str:
    content = json.dumps([template.name, *[str(row.cells.get(h)) for h in template.headers]], ensure_ascii=False)
    return f"tbl-{hashlib.sha256(content.encode()).hexdigest()[:32]}"


def drafts(template: Template, rows: Iterator[Row], sheet: str, errors: list[dict]) -> Iterator[Draft]:
    """The raw events of the rows (cell errors go to `errors`); a grouped template's rows of one
    event must stand together."""
    current: Draft | None = None
    seen_groups: set[str] = set()
    for row in rows:
        raw: dict = {"source": f"/table-import/{template.name}", "type": template.event_type}
        line: dict = {}
        bad = False
        for c in template.columns:
            try:
                value = _cell(row.cells.get(c.header), c.kind)
            except ValueError as exc:
                errors.append(cell_error(sheet, row.number, c.header, c.path, str(exc)))
                bad = True
                continue
            if value is not None or c.nullable:
                _put(line if c.line else raw, c.path, value)
        if bad:
            continue
        own_id = "id" in raw
        raw.setdefault("id", _event_id(template, row))
        if "time" not in raw and isinstance(_get(raw, template.date_path), str):
            raw["time"] = f"{_get(raw, template.date_path)}T12:00:00+08:00"
        if template.group_by is None:
            yield Draft(raw, [row.number])
            continue
        group = str(_get(raw, template.group_by))
        if current is not None and str(_get(current.raw, template.group_by)) == group:
            for c in template.columns:  # the payment's columns say the same on every row of it
                if not c.line and c.path != "id" and _get(raw, c.path) != _get(current.raw, c.path):
                    errors.append(cell_error(sheet, row.number, c.header, c.path,
                                             f"与第 {current.rows[0]} 行同一支付单号的值不同"))
            current.raw["data"]["subsidy_lines"].append(line)
            current.rows.append(row.number)
            continue
        if current is not None:
            yield _finished(current)
        if group in seen_groups:
            errors.append(cell_error(sheet, row.number, _header_of(template, template.group_by), template.group_by,
                                     f"支付单号 {group} 的明细须连续排列（前面已出现过）"))
        seen_groups.add(group)
        raw.setdefault("data", {})["subsidy_lines"] = [line]
        if not own_id:
            raw["id"] = f"tbl-{hashlib.sha256(f'{template.name}/{group}'.encode()).hexdigest()[:32]}"
        current = Draft(raw, [row.number])
    if current is not None:
        yield _finished(current)


def _finished(draft: Draft) -> Draft:
    data = draft.raw["data"]
    if "amount" not in data:  # the payment is what its lines paid
        data["amount"] = format(sum((Decimal(str(x.get("paid", "0"))) for x in data["subsidy_lines"]), Decimal(0)),
                                "f")
    return draft


def _header_of(template: Template, path: str) -> str:
    return next(c.header for c in template.columns if c.path == path)


def cell_error(sheet: str, row: int, header: str | None, field: str, message: str,
               kind: str = "table_error") -> dict:
    where = f'第 {row} 行 "{header}"列' if header else f"第 {row} 行"
    return {"sheet": sheet, "row": row, "column": header, "field": field, "message": f"{where}: {message}",
            "type": kind}


def _column_of(template: Template, field: str, draft: Draft) -> tuple[str | None, int]:
    """The column and row a contract error's field (data.subsidy_lines.3.paid) points to."""
    parts = field.split(".")
    if template.group_by and len(parts) >= 3 and parts[:2] == ["data", "subsidy_lines"] and parts[2].isdigit():
        index = int(parts[2])
        row = draft.rows[index] if index < len(draft.rows) else draft.rows[0]
        path = ".".join(parts[3:])
        return next((c.header for c in template.columns if c.line and c.path == path), None), row
    for c in template.columns:
        if not c.line and (field == c.path or field.startswith(c.path + ".")):
            return c.header, draft.rows[0]
    return None, draft.rows[0]


def check_chunk(template: Template, chunk: list[Draft], sheet: str, pii_key: bytes, authorize: Authorize | None,
                horizon: Horizon | None, errors: list[dict]) -> list[Envelope]:
    events, found = validate_rows([d.raw for d in chunk], pii_key, authorize=authorize, horizon=horizon)
    for e in found:
        draft = chunk[e["row"]]
        header, row = _column_of(template, e["field"], draft)
        errors.append(cell_error(sheet, row, header, e["field"], e["message"], e["type"]))
    return events


def import_file(template: Template, opener: Callable[[], IO[bytes]], kind: str, pii_key: bytes, *,
                authorize: Authorize | None = None, horizon: Horizon | None = None,
                max_errors: int = 200, progress: Callable[[int, int], None] | None = None,
                ) -> tuple[list[dict], int, Iterator[list[Envelope]]]:
    """(errors, rows, the events in chunks). The file is read once as a stream; the checked events
    go to a spool file on disk (memory stays flat), and the chunks read them back — only to be
    consumed when there is no error. `progress(rows read, events checked)` after each chunk."""
    errors: list[dict] = []
    sheet, rows = read_rows(opener(), kind, template)
    counted = [0]

    def counting() -> Iterator[Row]:
        for row in rows:
            counted[0] += 1
            yield row

    spool = tempfile.TemporaryFile()  # noqa: SIM115 - handed to the chunk reader, closed by it
    chunk: list[Draft] = []

    checked = [0]

    def check(drafts_: list[Draft]) -> None:
        for event in check_chunk(template, drafts_, sheet, pii_key, authorize, horizon, errors):
            spool.write(event.to_json() + b"\n")
            checked[0] += 1
        if progress is not None:
            progress(counted[0], checked[0])

    for draft in drafts(template, counting(), sheet, errors):
        chunk.append(draft)
        if len(chunk) >= CHUNK:
            check(chunk)
            chunk = []
        if len(errors) >= max_errors:
            break
    if chunk:
        check(chunk)

    def events() -> Iterator[list[Envelope]]:
        with spool:
            spool.seek(0)
            batch: list[Envelope] = []
            for line in spool:
                batch.append(parse_event(line))  # as checked: personal numbers are hashes now
                if len(batch) >= CHUNK:
                    yield batch
                    batch = []
            if batch:
                yield batch

    return errors[:max_errors], counted[0], events()


# ------------------------------------------------------------------ templates to download


def template_csv(template: Template, events: list[dict] = ()) -> bytes:  # type: ignore[assignment]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(template.headers)
    for event in events:
        writer.writerows(rows_of(template, event))
    return ("\ufeff" + out.getvalue()).encode()  # the BOM makes Excel read UTF-8


def template_xlsx(template: Template, events: list[dict] = ()) -> bytes:  # type: ignore[assignment]
    import openpyxl
    from openpyxl.styles import Font

    book = openpyxl.Workbook(write_only=False)
    sheet = book.active
    sheet.title = template.title
    sheet.append(template.headers)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.comment = None
    for i, c in enumerate(template.columns, start=1):
        letter = openpyxl.utils.get_column_letter(i)
        sheet.column_dimensions[letter].width = max(12, len(c.header) * 2 + 4)
        if c.kind in ("text", "money", "date"):  # codes, amounts and dates stay text: no float, no lost zeros
            sheet.column_dimensions[letter].number_format = "@"
    for event in events:
        for row in rows_of(template, event):
            sheet.append(row)
    data = io.BytesIO()
    book.save(data)
    return data.getvalue()
