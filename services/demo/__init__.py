"""The deterministic demo data set of fundwatch.

Events come in wire form, as upstream systems send them to ingest: CloudEvents envelopes
with clear citizen IDs and bank account numbers, money as decimal strings. The same
(size, seed) always gives byte-identical output; `size` is the number of payments, and
everything is streamed, so a million payments never sit in memory. A known set of
irregularities (DESIGN §6) is injected and listed in the ground truth."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from services.demo.generator import Generator

__all__ = ["generate", "ground_truth", "iter_events", "send", "send_by_source", "summary", "write"]


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


ApiKeys = str | Mapping[str, str]
"""One client's API key, or keys by client scope (region code): each event goes with the key of
the most specific client whose scope covers its region (a county's own system, else the
province's, else the Ministry's)."""


def key_for(api_key: ApiKeys, region: str) -> str:
    if isinstance(api_key, str):
        return api_key
    from contracts.types import region_prefix, region_within

    scopes = [s for s in api_key if region_within(region, s)]
    if not scopes:
        raise ValueError(f"no client's scope covers region {region}")
    return api_key[max(scopes, key=lambda s: len(region_prefix(s)))]


def send(events: Iterable[dict], ingest_url: str, *, api_key: ApiKeys, batch: int = 500) -> int:
    """POST the events to `{ingest_url}/v1/events/batch` in JSON-list batches, each with the API
    key of its client (`api_key`); returns the count.

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
                sent += _post_by_client(client, url, chunk, api_key)
                chunk = []
        if chunk:
            sent += _post_by_client(client, url, chunk, api_key)
    return sent


def _post_by_client(client, url: str, chunk: list[dict], api_key: ApiKeys) -> int:
    # One fiscal unit's events all go with one key, so their order is kept.
    by_key: dict[str, list[dict]] = {}
    for event in chunk:
        by_key.setdefault(key_for(api_key, event["region"]), []).append(event)
    return sum(_post(client, url, events, key) for key, events in by_key.items())


def send_by_source(events: Iterable[dict], ingest_url: str, *, api_key: ApiKeys, seed: int = 2026) -> int:
    """Send the events as the upstream systems deliver them: each source's extraction on its own (the
    envelope's `source`: a county's budget execution, treasury payments, subsidy card, registry …),
    in its own order, one source after another in a random order of sources (seeded). Nothing makes
    a county's payments arrive after its allocations or its reference data: the platform takes them
    in any order (the ledger's balances are sums; the alerts wait for each source to be complete up
    to the moment they judge). Returns the count."""
    by_source: dict[str, list[dict]] = {}
    for event in events:
        by_source.setdefault(event["source"], []).append(event)
    order = sorted(by_source)
    random.Random(seed).shuffle(order)
    return sum(send(by_source[source], ingest_url, api_key=api_key) for source in order)


RETRIES_503 = 6


def _post(client, url: str, chunk: list[dict], api_key: str) -> int:
    body = json.dumps(chunk, ensure_ascii=False).encode()
    delay = 0.5
    headers = {"content-type": "application/json", "authorization": f"Bearer {api_key}"}
    for attempt in range(RETRIES_503 + 1):
        response = client.post(url, content=body, headers=headers)
        if response.status_code == 503 and attempt < RETRIES_503:
            time.sleep(delay)
            delay = min(delay * 2, 8.0)
            continue
        if response.status_code != 202:
            raise RuntimeError(f"ingest refused a batch of {len(chunk)} events: HTTP {response.status_code}: "
                               f"{response.text}")
        return len(chunk)
    raise AssertionError("unreachable")
