"""The deterministic demo data set of fundwatch.

Events come in wire form, as upstream systems send them to ingest: CloudEvents envelopes
with clear citizen IDs and bank account numbers, money as decimal strings. The same
(size, seed) always gives byte-identical output; `size` is the number of payments, and
everything is streamed, so a million payments never sit in memory. A known set of
irregularities (DESIGN §6) is injected and listed in the ground truth."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from services.demo.generator import Generator

__all__ = ["generate", "ground_truth", "iter_events", "send", "send_daily", "summary", "write"]


@dataclass
class Dataset:
    events: list[dict] = field(default_factory=list)
    ground_truth: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)


def iter_events(size: int = 2000, seed: int = 2026) -> Iterator[dict]:
    """Stream the events in causal and time order (reference data, then day by day)."""
    return Generator(size, seed).events()


def generate(size: int = 2000, seed: int = 2026) -> Dataset:
    gen = Generator(size, seed)
    events = list(gen.events())
    return Dataset(events, gen.rec.truth, gen.rec.summary())


def _run(size: int, seed: int) -> Generator:
    gen = Generator(size, seed)
    for _ in gen.events():
        pass
    return gen


def ground_truth(size: int = 2000, seed: int = 2026) -> list[dict]:
    return _run(size, seed).rec.truth


def summary(size: int = 2000, seed: int = 2026) -> dict:
    return _run(size, seed).rec.summary()


def write(out_dir: str | Path, size: int = 2000, seed: int = 2026) -> list[Path]:
    """Write events.jsonl, ground_truth.json and summary.json (streaming the events)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    gen = Generator(size, seed)
    events_path = out / "events.jsonl"
    with events_path.open("w", encoding="utf-8", newline="\n") as fh:
        for event in gen.events():
            fh.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")))
            fh.write("\n")
    truth_path, summary_path = out / "ground_truth.json", out / "summary.json"
    truth_path.write_text(json.dumps(gen.rec.truth, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    summary_path.write_text(json.dumps(gen.rec.summary(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return [events_path, truth_path, summary_path]


def send(events: Iterable[dict], ingest_url: str, batch: int = 500) -> int:
    """POST the events to `{ingest_url}/v1/events/batch` in JSON-list batches; returns the count.

    A 503 (ingest busy or its broker not ready) is retried with backoff; any other status
    than 202 raises with the response text."""
    import httpx

    url = ingest_url.rstrip("/") + "/v1/events/batch"
    sent = 0
    with httpx.Client(timeout=60.0) as client:
        chunk: list[dict] = []
        for event in events:
            chunk.append(event)
            if len(chunk) >= batch:
                sent += _post(client, url, chunk)
                chunk = []
        if chunk:
            sent += _post(client, url, chunk)
    return sent


def send_daily(events: Iterable[dict], ingest_url: str, ledger_idle: Callable[[], bool],
               timeout_s: float = 30.0) -> int:
    """Send the events as a year of live operation would: day by day, a day's budget events and,
    once the ledger has applied them (`ledger_idle`), the day's payments. Sent in bulk, the ledger
    may apply a payment before the allocation it draws on (two topics, one consumer, no order
    between them) and book an overdraw that live operation would not have: at size 2000 that made
    ~1,990 false USE-01 alerts (payment beyond the available balance). Returns the count."""
    sent = 0
    for _day, group in itertools.groupby(events, key=lambda e: e["time"][:10]):
        day = list(group)
        budget = [e for e in day if not e["type"].startswith("payment.")]
        payments = [e for e in day if e["type"].startswith("payment.")]
        if budget:
            sent += send(budget, ingest_url)
            if payments:
                deadline = time.monotonic() + timeout_s
                while not ledger_idle():
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"the ledger did not catch up with {_day} within {timeout_s:.0f} s")
                    time.sleep(0.05)
        if payments:
            sent += send(payments, ingest_url)
    return sent


RETRIES_503 = 6


def _post(client, url: str, chunk: list[dict]) -> int:
    body = json.dumps(chunk, ensure_ascii=False).encode()
    delay = 0.5
    for attempt in range(RETRIES_503 + 1):
        response = client.post(url, content=body, headers={"content-type": "application/json"})
        if response.status_code == 503 and attempt < RETRIES_503:
            time.sleep(delay)
            delay = min(delay * 2, 8.0)
            continue
        if response.status_code != 202:
            raise RuntimeError(f"ingest refused a batch of {len(chunk)} events: HTTP {response.status_code}: "
                               f"{response.text}")
        return len(chunk)
    raise AssertionError("unreachable")
