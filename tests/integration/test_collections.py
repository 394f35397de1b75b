"""定制报表采集任务 (seed 004): a city issues a form to two counties, each county's system uploads
its filled form under its own key, and the task adds the forms up across the counties by project,
with each county's completion; a form with a bad cell is not stored, one from a county the task
was not issued to is refused, and a county's new upload replaces its old one."""

from __future__ import annotations

import csv
import datetime as dt
import io

import httpx
import openpyxl
import pytest

from services.ingest import collections, tables
from services.runtime.auth import Role
from tests.clients import api_key, key_header, token_header

TASK = {"task_id": "SJ-2026-01", "title": "一季度扶贫项目资金使用情况", "regions": ["410324", "410325"],
        "columns": [{"header": "项目编码", "kind": "text"}, {"header": "项目名称", "kind": "text"},
                    {"header": "下达资金", "kind": "money"}, {"header": "已支付", "kind": "money"},
                    {"header": "受益户数", "kind": "int"}],
        "key": "项目编码", "due": "2026-04-10"}
HEADERS = [c["header"] for c in TASK["columns"]]


def form_csv(rows: list[list]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows([HEADERS, *rows])
    return out.getvalue().encode()


def form_xlsx(rows: list[list]) -> bytes:
    book = openpyxl.Workbook()
    for row in [HEADERS, *rows]:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@pytest.mark.unit
def test_a_task_is_checked_and_its_forms_add_up_by_key_across_regions():
    task = collections.parse_task(TASK, "410300")
    with pytest.raises(collections.TaskError, match="regions.0"):
        collections.parse_task({**TASK, "regions": ["411326"]}, "410300")  # not below the issuer
    with pytest.raises(collections.TaskError, match="key"):
        collections.parse_task({**TASK, "key": "下达资金"}, "410300")
    assert collections.region_of_uploader(task, "410324001") == "410324"  # a township fills its county's form
    assert collections.region_of_uploader(task, "411326") is None
    at = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
    result = collections.aggregate(task, [
        ("410324", at, [{"项目编码": "P1", "下达资金": "100.10", "已支付": "50.05", "受益户数": 3}]),
        ("410325", at, [{"项目编码": "P1", "下达资金": "0.20", "已支付": None, "受益户数": 1},
                        {"项目编码": "P2", "下达资金": "7", "已支付": "7", "受益户数": 2}])])
    assert result["totals"] == {"下达资金": "107.30", "已支付": "57.05", "受益户数": "6"}
    assert result["by_key"][0] == {"项目编码": "P1", "sums": {"下达资金": "100.30", "已支付": "50.05", "受益户数": "4"},
                                   "regions": ["410324", "410325"]}
    assert result["completion"] == {"issued": 2, "submitted": 2, "pending": []}


@pytest.mark.integration
def test_a_city_collects_a_form_from_its_counties_and_reads_the_sums(ingest):
    url = f"{ingest.url('ingest')}/v1/collections"
    city = token_header(ingest, "410300", roles=(Role.treasury,))
    r = httpx.post(url, json=TASK, headers=city, timeout=30)
    assert r.status_code == 201, r.text
    assert httpx.post(url, json=TASK, headers=city, timeout=30).status_code == 409
    bad = httpx.post(url, json={**TASK, "task_id": "SJ-x", "regions": ["411326"]}, headers=city, timeout=30)
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "regions", "0"]
    empty = httpx.get(f"{url}/SJ-2026-01/form", params={"format": "csv"}, timeout=30)
    assert empty.content.decode("utf-8-sig").strip() == ",".join(HEADERS)

    luanchuan, songxian = api_key(ingest, "410324"), api_key(ingest, "410325")
    outsider = api_key(ingest, "411326")
    csv_upload = {"Content-Type": tables.CSV}
    forms = f"{url}/SJ-2026-01/forms"
    refused = httpx.post(forms, content=form_csv([["P1", "产业扶贫", "100.00", "20.00", "5"]]),
                         headers={**key_header(outsider), **csv_upload}, timeout=30)
    assert refused.status_code == 403
    bad_cell = httpx.post(forms, content=form_csv([["P1", "产业扶贫", "100.00", "20.00", "5"],
                                                   ["P2", "道路", "1,00", "0", "1"]]),
                          headers={**key_header(luanchuan), **csv_upload}, timeout=30)
    assert bad_cell.status_code == 422
    assert [(e["row"], e["column"]) for e in bad_cell.json()["errors"]] == [(3, "下达资金")]
    page = httpx.get(f"{url}/SJ-2026-01", headers=city, timeout=30).json()
    assert page["completion"] == {"issued": 2, "submitted": 0, "pending": ["410324", "410325"]}  # nothing stored

    ok = httpx.post(forms, content=form_csv([["P1", "产业扶贫", "100.00", "20.00", "5"], ["P2", "道路", "30.50", "0", "1"]]),
                    headers={**key_header(luanchuan), **csv_upload}, timeout=30)
    assert ok.status_code == 202 and ok.json()["rows"] == 2
    page = httpx.get(f"{url}/SJ-2026-01", headers=city, timeout=30).json()
    assert page["completion"]["pending"] == ["410325"]
    xlsx = form_xlsx([["P1", "产业扶贫", "50.25", "10.00", 2]])
    ok = httpx.post(forms, content=xlsx, headers={**key_header(songxian), "Content-Type": tables.XLSX}, timeout=30)
    assert ok.status_code == 202, ok.text
    page = httpx.get(f"{url}/SJ-2026-01", headers=city, timeout=30).json()
    assert page["completion"] == {"issued": 2, "submitted": 2, "pending": []}
    assert page["totals"] == {"下达资金": "180.75", "已支付": "30.00", "受益户数": "8"}
    p1 = next(k for k in page["by_key"] if k["项目编码"] == "P1")
    assert p1["sums"]["下达资金"] == "150.25" and p1["regions"] == ["410324", "410325"]

    again = httpx.post(forms, content=form_csv([["P1", "产业扶贫", "1.00", "1.00", "1"]]),
                       headers={**key_header(luanchuan), **csv_upload}, timeout=30)
    assert again.status_code == 202  # the county's new form replaces its old one
    page = httpx.get(f"{url}/SJ-2026-01", headers=city, timeout=30).json()
    assert page["totals"]["下达资金"] == "51.25"
    other_city = token_header(ingest, "411300", roles=(Role.treasury,))
    assert httpx.get(f"{url}/SJ-2026-01", headers=other_city, timeout=30).status_code == 404
    county = token_header(ingest, "410324", roles=(Role.treasury,))
    assert httpx.get(f"{url}/SJ-2026-01", headers=county, timeout=30).status_code == 404  # the city's task
