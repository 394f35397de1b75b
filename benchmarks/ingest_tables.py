"""Table import throughput and memory: N rows of 支付明细 (payments) as XLSX and as CSV, read,
checked by the contract code and turned into events (both passes of `tables.import_file`, no
broker), each in a fresh process. Prints rows/s per format and the growth of peak RSS at N/10 and
N rows (flat: memory does not grow with the file). Usage: python benchmarks/ingest_tables.py [rows]

`--http [rows]`: the whole way through a running ingest on an embedded broker — the file uploaded
(streamed to disk), read, checked and published as an import job polled for its progress — with
the rows/s, the ingest process's peak RSS (VmHWM) at N/10 and N rows, and the publishing rate as
a fraction of the raw broker limit (benchmarks/rawlimit.py)."""

from __future__ import annotations

import csv
import io
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import openpyxl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere: tests.factories

from services.ingest import tables
from tests import factories as f

PII = b"embedded-demo-key-not-for-production"
TEMPLATE = tables.TEMPLATES["payments"]


def rows(n: int):
    for i in range(n):
        e = f.payment(f"P{i}", f"I{i % 500}", f"{i % 9000 + 1}.{i % 100:02d}")
        e["id"] = f"bench-{i}"
        yield tables.row_of(TEMPLATE, e)


def xlsx(n: int) -> bytes:
    book = openpyxl.Workbook()  # shared strings, as Excel writes them (write-only mode writes inline strings)
    sheet = book.active
    sheet.title = TEMPLATE.title
    sheet.append(TEMPLATE.headers)
    for r in rows(n):
        sheet.append(r)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def csv_bytes(n: int) -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(TEMPLATE.headers)
    w.writerows(rows(n))
    return out.getvalue().encode()


def run(body: bytes, kind: str) -> tuple[int, int]:
    errors, count, chunks = tables.import_file(TEMPLATE, lambda: io.BytesIO(body), kind, PII)
    assert not errors, errors[:3]
    events = sum(len(c) for c in chunks)
    return count, events


def one(path: str, kind: str) -> None:
    """In a fresh process: import the file at `path`; print rows, seconds and peak RSS growth."""
    body = Path(path).read_bytes()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    count, events = run(body, kind)
    seconds = time.perf_counter() - t0
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    print(json.dumps({"rows": count, "events": events, "seconds": seconds, "rss_growth_mb": grown / 1024}))


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with tempfile.TemporaryDirectory() as tmp:
        for name, make, kind in (("CSV", csv_bytes, tables.CSV), ("XLSX", xlsx, tables.XLSX)):
            results = []
            for size in (n // 10, n):
                path = Path(tmp) / f"{size}.{name.lower()}"
                path.write_bytes(make(size))
                done = subprocess.run([sys.executable, __file__, "--one", str(path), kind], capture_output=True,
                                      text=True, check=True)
                results.append((size, path.stat().st_size, json.loads(done.stdout)))
            for size, nbytes, r in results:
                print(f"{name}: {size} rows ({nbytes / 1e6:.1f} MB file) in {r['seconds']:.1f} s = "
                      f"{r['rows'] / r['seconds']:,.0f} rows/s; peak RSS growth {r['rss_growth_mb']:.0f} MB "
                      "(read, check, spool, read back; the file's bytes included)")


def _hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def http(n: int) -> None:
    import asyncio
    import uuid

    import httpx

    from benchmarks import rawlimit
    from services.runtime.broker import EmbeddedBroker, free_port
    from services.runtime.kafka import ensure_topics
    from services.runtime.settings import Settings
    from tests.clients import api_key, key_header
    from tests.platform import ServiceProcess, wait_for

    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker(free_port()) as broker:
        settings = Settings(kafka_bootstrap=broker.bootstrap, topic_prefix=f"b{uuid.uuid4().hex[:8]}",
                            database_url=f"sqlite+aiosqlite:///{tmp}/fw.db", ingest_port=free_port(),
                            auth_secret="x" * 48)
        asyncio.run(ensure_topics(settings))
        events = [f.payment(f"P{i}", f"I{i % 500}", "10.00") for i in range(200)]
        limit = rawlimit.measure(broker.bootstrap, rawlimit.payloads_of(events), 50_000)
        print(limit, flush=True)
        files = {name: {size: make(size) for size in (n // 10, n)}
                 for name, make in (("CSV", csv_bytes), ("XLSX", xlsx))}
        for name, kind in (("CSV", tables.CSV), ("XLSX", tables.XLSX)):
            for size, body in files[name].items():
                # a fresh ingest per file: its peak RSS is this import's
                proc = ServiceProcess("ingest", settings.model_copy(update={
                    "topic_prefix": f"b{uuid.uuid4().hex[:8]}", "ingest_port": free_port()}), Path(tmp))
                asyncio.run(ensure_topics(proc.settings))
                proc.start().wait_healthy()
                try:
                    key = api_key(proc.settings, "410000")
                    base = proc.settings.url("ingest")
                    idle = _hwm_mb(proc.process.pid)  # type: ignore[union-attr]
                    t0 = time.perf_counter()
                    r = httpx.post(f"{base}/v1/imports/payments", content=body, timeout=600,
                                   headers={**key_header(key), "Content-Type": kind, "Prefer": "respond-async"})
                    assert r.status_code == 202, r.text
                    status_url = base + r.json()["status_url"]
                    polls = []

                    def finished(status_url: str = status_url, key: str = key, polls: list = polls) -> dict | None:
                        job = httpx.get(status_url, headers=key_header(key), timeout=30).json()
                        polls.append((job["rows_read"], job["events_published"]))
                        return job if job["state"] not in ("reading", "publishing") else None

                    job = wait_for(finished, 1800, "import done", proc)
                    seconds = time.perf_counter() - t0
                    assert job["state"] == "done", job
                    peak = _hwm_mb(proc.process.pid)  # type: ignore[union-attr]
                    seen = len(set(polls))
                    print(f"{name} over HTTP: {size} rows ({len(body) / 1e6:.1f} MB) in {seconds:.1f} s = "
                          f"{size / seconds:,.0f} rows/s; ingest peak RSS {peak:.0f} MB (idle {idle:.0f} MB); "
                          f"{seen} distinct progress states seen while polling; {limit.of(size / seconds)}",
                          flush=True)
                finally:
                    proc.stop()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--one"]:
        one(sys.argv[2], sys.argv[3])
    elif sys.argv[1:2] == ["--http"]:
        http(int(sys.argv[2]) if len(sys.argv) > 2 else 100_000)
    else:
        main()
