"""Table import throughput and memory: N rows of 支付明细 (payments) as XLSX and as CSV, read,
checked by the contract code and turned into events (both passes of `tables.import_file`, no
broker). Prints rows/s per format and the peak of traced memory at N/5 and N rows (flat: memory
does not grow with the file). Usage: python benchmarks/ingest_tables.py [rows]"""

from __future__ import annotations

import csv
import io
import sys
import time
import tracemalloc
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
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet(TEMPLATE.title)
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


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    for name, make, kind in (("XLSX", xlsx, tables.XLSX), ("CSV", csv_bytes, tables.CSV)):
        body = make(n)
        t0 = time.perf_counter()
        count, events = run(body, kind)
        dt = time.perf_counter() - t0
        print(f"{name}: {count} rows ({len(body) / 1e6:.1f} MB file) → {events} events in {dt:.1f} s = "
              f"{count / dt:,.0f} rows/s (check and publish passes)")
        peaks = []
        for size in (n // 5, n):
            small = body if size == n else make(size)
            tracemalloc.start()
            run(small, kind)
            peaks.append((size, tracemalloc.get_traced_memory()[1] / 1e6))
            tracemalloc.stop()
        print(f"{name}: peak traced memory (the file's bytes included) "
              + ", ".join(f"{s} rows {p:.1f} MB" for s, p in peaks))


if __name__ == "__main__":
    main()
