"""Console page times: each page fetched N times as a signed-in user from a running platform
(`make run`, or any console URL), printing p50/max per page in milliseconds.

    .venv/bin/python benchmarks/console_bench.py http://127.0.0.1:8005 guoku PASSWORD [N]

The 1M-payment figure needs a ledger of that size (benchmarks/ledger_bench.py builds one);
this script measures whatever ledger the console in front of it reads."""

from __future__ import annotations

import statistics
import sys
import time

import httpx

PAGES = ("/", "/regions", "/alerts", "/alerts/rows", "/search?q=公益性岗位", "/views/departments", "/views/groups",
         "/rules", "/rules/USE-04", "/alerts?format=xlsx")


def main() -> int:
    url, user, password = sys.argv[1:4]
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    with httpx.Client(base_url=url, timeout=60) as c:
        if c.post("/login", data={"username": user, "password": password}).status_code != 303:
            print("login failed", file=sys.stderr)
            return 1
        for path in PAGES:
            times = []
            for _ in range(n):
                t = time.perf_counter()
                r = c.get(path)
                times.append((time.perf_counter() - t) * 1000)
                r.raise_for_status()
            print(f"{path:<28} p50 {statistics.median(times):7.1f} ms   max {max(times):7.1f} ms   ({len(r.content)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
