"""`fundwatch report make` against a notify API served on a real port (the ledger and alerts APIs
behind it over ASGI, on the demo ledger and March's alerts): each format written, its numbers the
API's; a refusal printed in the API's words."""

from __future__ import annotations

import asyncio
import io
import json
import threading
import time

import httpx
import pytest
import uvicorn
from openpyxl import load_workbook
from pypdf import PdfReader

from services.alerts.api import create_app as alerts_app
from services.ledger.api import create_app as ledger_app
from services.notify.api import create_app
from services.runtime.broker import free_port
from services.runtime.cli import main
from services.runtime.db import make_engine
from tests.clients import token_header
from tests.notify.test_channels import settings_for
from tests.notify.test_report import MARCH, demo_ledger, into_alerts  # noqa: F401 (the fixture)

pytestmark = pytest.mark.store


@pytest.fixture
def notify_url(demo_ledger):  # noqa: F811
    settings = settings_for(database_url=demo_ledger)
    engine = make_engine(demo_ledger)
    ledger = httpx.AsyncClient(transport=httpx.ASGITransport(app=ledger_app(engine, None, settings)),
                               base_url="http://ledger")
    alerts = httpx.AsyncClient(transport=httpx.ASGITransport(app=alerts_app(engine, settings)),
                               base_url="http://alerts")
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(engine, None, settings, ledger, alerts), host="127.0.0.1",
                                           port=port, log_level="warning", lifespan="off"))

    async def serve() -> None:
        await into_alerts(engine, *MARCH)
        await server.serve()

    thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    yield settings, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(30)


def test_report_make_writes_every_format(notify_url, tmp_path, capsys) -> None:
    settings, url = notify_url
    token = token_header(settings, "410300")["Authorization"].removeprefix("Bearer ")
    base = ["report", "make", "--month", "2026-03", "--region", "410300", "--url", url, "--token", token]
    for suffix in ("json", "xlsx", "pdf", "html"):
        assert main([*base, "--out", str(tmp_path / f"r.{suffix}")]) == 0
    said = capsys.readouterr().out
    assert "report 2026-03.410300.all: raised 3, closed 2, open at month end 2, overdue 1" in said
    numbers = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert numbers["dispositions"]["recovered"] == "6000.00"
    book = load_workbook(io.BytesIO((tmp_path / "r.xlsx").read_bytes()))
    assert [c.value for c in book["预警概况"][3]] == ["本月新发", 0, 2, 1, 0, 3]
    text = " ".join(PdfReader(tmp_path / "r.pdf").pages[0].extract_text().split())
    assert "本月新发 0 2 1 0 3" in text and "6000.00" in text
    assert "追回资金" in (tmp_path / "r.html").read_text(encoding="utf-8")

    assert main(["report", "list", "--url", url, "--token", token]) == 0
    assert "2026-03.410300.all" in capsys.readouterr().out

    member = token_header(settings, "410324", ("agri",))["Authorization"].removeprefix("Bearer ")
    assert main(["report", "make", "--month", "2026-03", "--region", "410324", "--url", url, "--token", member,
                 "--out", str(tmp_path / "no.xlsx")]) == 1
    assert "refused (403): group_code: the overall report is the treasury group's" in capsys.readouterr().err
    assert not (tmp_path / "no.xlsx").exists()
    assert main([*base, "--out", str(tmp_path / "r.docx")]) == 2
