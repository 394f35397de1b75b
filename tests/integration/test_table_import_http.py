"""Table import through a running ingest, under the uploading client's API key: templates to
download, a filled XLSX imported onto its topic once (the same file again: 409, nothing twice),
a bad cell or a row outside the client's scope imports nothing, anything but XLSX/CSV is 415."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import httpx
import pytest

from contracts import parse_event
from contracts.topics import Family
from services.ingest import tables
from tests import factories as f
from tests.clients import api_key, key_header
from tests.conftest import settings_env
from tests.platform import ROOT
from tests.test_ingest import read_all

pytestmark = pytest.mark.integration


def test_a_filled_template_is_imported_once_and_a_bad_one_not_at_all(ingest, tmp_path):
    url = ingest.url("ingest")
    key = api_key(ingest, "410324", client_id="budget-410324")
    listed = httpx.get(f"{url}/v1/templates", timeout=10).json()["items"]
    assert {t["name"]: t["title"] for t in listed}["subsidy-lines"] == "贫困人员明细"
    empty = httpx.get(f"{url}/v1/templates/indicator-registered", params={"format": "csv"}, timeout=10)
    assert empty.status_code == 200
    assert empty.content.decode("utf-8-sig").startswith("区划代码,事件编号,发生时间,指标编号")

    template = tables.TEMPLATES["indicator-registered"]
    body = tables.template_xlsx(template, [f.registered("X1", "10.00"), f.registered("X2", "20.00")])
    upload = {**key_header(key), "Content-Type": tables.XLSX}
    r = httpx.post(f"{url}/v1/imports/indicator-registered", content=body, headers=upload, timeout=60)
    assert r.status_code == 202, r.text
    assert (r.json()["rows"], r.json()["accepted"]) == (2, 2)
    again = httpx.post(f"{url}/v1/imports/indicator-registered", content=body, headers=upload, timeout=60)
    assert again.status_code == 409 and "nothing imported again" in again.json()["detail"]
    landed = [parse_event(v) for v in asyncio.run(read_all(ingest, Family.indicator))]
    assert sorted((e.data.indicator_id, str(e.data.amount), e.authid) for e in landed) == [
        ("X1", "10.00", "budget-410324"), ("X2", "20.00", "budget-410324")]

    bad = tables.template_xlsx(template, [f.registered("X3", "1.00"), f.registered("X4", "1,00")])
    r = httpx.post(f"{url}/v1/imports/indicator-registered", content=bad, headers=upload, timeout=60)
    assert r.status_code == 422 and [(e["row"], e["column"]) for e in r.json()["errors"]] == [(3, "金额")]
    outside = tables.template_xlsx(template, [f.registered("X5", "1.00", region="411326")])
    r = httpx.post(f"{url}/v1/imports/indicator-registered", content=outside, headers=upload, timeout=60)
    assert r.status_code == 403 and r.json()["errors"][0]["column"] == "区划代码"
    r = httpx.post(f"{url}/v1/imports/indicator-registered", content=b"x", headers={**key_header(key),
                   "Content-Type": "application/pdf"}, timeout=60)
    assert r.status_code == 415
    assert httpx.post(f"{url}/v1/imports/indicator-registered", content=body, timeout=60).status_code == 401
    landed = [parse_event(v).data.indicator_id for v in asyncio.run(read_all(ingest, Family.indicator))]
    assert sorted(landed) == ["X1", "X2"]

    filled = tmp_path / "指标.csv"
    filled.write_bytes(tables.template_csv(template, [f.registered("X6", "6.00")]))
    cli = subprocess.run([sys.executable, "-m", "services.runtime.cli", "import", "indicator-registered", str(filled),
                          "--api-key", key], cwd=ROOT, env=settings_env(ingest), capture_output=True, text=True,
                         timeout=120)
    assert cli.returncode == 0, cli.stderr
    assert "imported 1 event(s) from 1 row(s)" in cli.stdout
    again = subprocess.run([sys.executable, "-m", "services.runtime.cli", "import", "indicator-registered",
                            str(filled), "--api-key", key], cwd=ROOT, env=settings_env(ingest), capture_output=True,
                           text=True, timeout=120)
    assert again.returncode == 1 and "refused (409)" in again.stderr
