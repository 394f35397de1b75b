"""Table import (XLSX and CSV with Chinese headers): every template filled with the demo's data reads
back into the demo's events and so the same ledger balances; one bad cell imports nothing and is
named by sheet, row and column; headers that do not fit are refused as a whole."""

from __future__ import annotations

import io

import pytest

from contracts import parse_event
from services import demo
from services.ingest import tables
from services.ledger import offline
from services.ledger.recorder import consumed
from tests import factories as f

PII = b"embedded-demo-key-not-for-production"


@pytest.fixture(scope="module")
def dataset():
    return demo.generate(size=40)


def imported(template: tables.Template, body: bytes, kind: str):
    errors, rows, chunks = tables.import_file(template, lambda: io.BytesIO(body), kind, PII)
    return errors, rows, [e for chunk in chunks for e in chunk] if not errors else []


def _view(e):
    return (e.id, e.type, e.region, e.time, e.data)


@pytest.mark.unit
@pytest.mark.parametrize("kind", [tables.XLSX, tables.CSV])
def test_every_template_filled_with_the_demo_reads_back_into_the_demos_events(dataset, kind):
    by_type: dict[str, list[dict]] = {}
    for e in dataset.events:
        by_type.setdefault(e["type"], []).append(e)
    lines = [e for e in by_type["payment.made"] if e["data"].get("subsidy_lines")]
    plain = [e for e in by_type["payment.made"] if not e["data"].get("subsidy_lines")]
    cases = {"indicator-issued": by_type["indicator.issued"], "indicator-registered": by_type["indicator.registered"],
             "indicator-allocated": by_type["indicator.allocated"], "payments": plain, "subsidy-lines": lines,
             "households": by_type["household.registered"], "projects": by_type["project.registered"]}
    for name, events in cases.items():
        template = tables.TEMPLATES[name]
        assert events, name
        body = (tables.template_xlsx if kind == tables.XLSX else tables.template_csv)(template, events)
        errors, rows, got = imported(template, body, kind)
        assert errors == [], (name, errors[:3])
        assert rows == sum(len(tables.rows_of(template, e)) for e in events)
        assert [_view(e) for e in got] == [_view(parse_event(e, pii_key=PII)) for e in events], name


@pytest.mark.store
def test_the_demo_through_the_templates_gives_the_demos_ledger_balances(dataset, tmp_path):
    kinds = ("indicator.issued", "indicator.registered", "indicator.allocated", "payment.made")
    direct = [parse_event(e, pii_key=PII) for e in dataset.events if consumed(e["type"])]
    via: dict[str, list] = {}
    for name in ("indicator-issued", "indicator-registered", "indicator-allocated", "payments", "subsidy-lines"):
        template = tables.TEMPLATES[name]
        events = [e for e in dataset.events if e["type"] == template.event_type
                  and (name not in ("payments", "subsidy-lines")
                       or bool(e["data"].get("subsidy_lines")) == (name == "subsidy-lines"))]
        errors, _rows, got = imported(template, tables.template_xlsx(template, events), tables.XLSX)
        assert errors == []
        for e in got:
            via[e.id] = e
    # the table-imported events in the demo's own order, the demo's other events as they are
    mixed = [via.get(e.id, e) if e.type in kinds else e for e in direct]
    assert sum(1 for e in mixed if e.id in via) == sum(1 for e in direct if e.type in kinds) > 0
    offline.project(f"sqlite+aiosqlite:///{tmp_path / 'direct.db'}", direct, topic=None)
    offline.project(f"sqlite+aiosqlite:///{tmp_path / 'tables.db'}", mixed, topic=None)
    assert offline.checksum(f"sqlite+aiosqlite:///{tmp_path / 'tables.db'}") == offline.checksum(
        f"sqlite+aiosqlite:///{tmp_path / 'direct.db'}")


@pytest.mark.unit
@pytest.mark.parametrize("kind", [tables.XLSX, tables.CSV])
def test_one_bad_cell_imports_nothing_and_names_sheet_row_and_column(kind):
    template = tables.TEMPLATES["indicator-registered"]
    events = [f.registered(f"I{i}", "10.00") for i in range(20)]
    events[10]["data"]["amount"] = "10.5x"
    events[14]["region"] = "999999"
    body = (tables.template_xlsx if kind == tables.XLSX else tables.template_csv)(template, events)
    errors, rows, got = imported(template, body, kind)
    assert rows == 20 and got == []
    assert [(e["sheet"], e["row"], e["column"]) for e in errors] == [
        ("指标登记", 12, "金额"), ("指标登记", 16, "区划代码")]
    assert errors[0]["message"].startswith('第 12 行 "金额"列: ')


@pytest.mark.unit
def test_subsidy_lines_name_the_row_of_the_line_and_payments_are_what_their_lines_paid():
    template = tables.TEMPLATES["subsidy-lines"]
    person, other = f.citizen_id(3), f.citizen_id(4)
    lines = [{"person": person, "name": "王五", "subsidy_type": "到户增收", "payable": "100.00", "paid": "100.00"},
             {"person": other, "name": "赵六", "subsidy_type": "到户增收", "payable": "50.00", "paid": "50.00"}]
    payment = f.payment("ZF1", "I1", "150.00", person=person, subsidy_lines=lines)
    rows = tables.rows_of(template, payment)
    amount = template.headers.index("支付金额")
    for row in rows:
        row[amount] = None  # the payment is the sum of its lines
    headers = template.headers
    good = tables.template_csv(template) + "\n".join(",".join("" if v is None else str(v) for v in r)
                                                                  for r in rows).encode()
    errors, count, got = imported(template, good, tables.CSV)
    assert errors == [] and count == 2
    assert [(e.data.payment_id, str(e.data.amount), [str(x.paid) for x in e.data.subsidy_lines]) for e in got] == [
        ("ZF1", "150.00", ["100.00", "50.00"])]
    rows[1][headers.index("实发金额")] = "abc"
    bad = tables.template_csv(template) + "\n".join(",".join("" if v is None else str(v) for v in r)
                                                    for r in rows).encode()
    errors, _count, _got = imported(template, bad, tables.CSV)
    assert [(e["row"], e["column"]) for e in errors] == [(3, "实发金额")]


@pytest.mark.unit
def test_headers_that_do_not_fit_the_template_are_refused_as_a_whole():
    template = tables.TEMPLATES["households"]
    with pytest.raises(tables.TableError, match=r"未知的列: 证件号码.*缺少必填列: 身份证号"):
        tables.read_rows(io.BytesIO("证件号码,姓名,户编号,标注日期,区划代码\n".encode()), tables.CSV, template)
    with pytest.raises(tables.TableError, match="不是有效的 XLSX"):
        tables.read_rows(io.BytesIO(b"not a zip"), tables.XLSX, template)
