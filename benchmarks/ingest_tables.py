"""Table import throughput and memory: N rows of 支付明细 (payments) as XLSX and as CSV, read,
checked by the contract code and turned into events (both passes of `tables.import_file`, no
broker), each in a fresh process. Prints rows/s per format and the growth of peak RSS at N/10 and
N rows (flat: memory does not grow with the file). Usage: python benchmarks/ingest_tables.py [rows]"""

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


if __name__ == "__main__":
    if sys.argv[1:2] == ["--one"]:
        one(sys.argv[2], sys.argv[3])
    else:
        main()
