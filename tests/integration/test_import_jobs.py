"""Table imports as jobs: a file over the 16 MB-style body limit of every other endpoint streams in
under the import limit, its progress is polled, and an import cut off by the event log going away
midway is not half-applied silently — the job says `interrupted` and how far the log got, and the
same file again publishes only the rest."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal

import httpx
import pytest

from contracts import parse_event
from contracts.audit import ActorKind
from contracts.topics import Family
from services.ingest import imports, registry, store, tables
from services.ingest.publisher import Publisher, PublisherSink
from services.runtime.broker import EmbeddedBroker, free_port
from services.runtime.db import make_engine, migrate_async
from services.runtime.kafka import ensure_topics
from tests import factories as f
from tests.clients import api_key, key_header
from tests.platform import ServiceProcess, wait_for
from tests.test_ingest import read_all

pytestmark = pytest.mark.integration
PAYMENTS = tables.TEMPLATES["payments"]


def payments_csv(n: int, tag: str = "J") -> bytes:
    events = []
    for i in range(n):
        e = f.payment(f"{tag}{i}", f"I{i % 50}", f"{i % 900 + 1}.{i % 100:02d}")
        e.pop("id", None)  # ids from the rows' content, as an upstream's filled template has
        events.append(e)
    return tables.template_csv(PAYMENTS, events)


@pytest.fixture
def small_limits(make_settings, sqlite_url, tmp_path):
    """An ingest whose body limit is 64 KB and whose import limit is 1 MB (the 16 MB / 256 MB of
    production, scaled down so that the test's files are small)."""
    settings = make_settings(sqlite_url, ingest_max_body_bytes=64 << 10, ingest_import_max_bytes=1 << 20)
    asyncio.run(ensure_topics(settings))
    proc = ServiceProcess("ingest", settings, tmp_path).start().wait_healthy()
    yield settings, proc
    proc.stop()


def test_a_file_over_the_body_limit_is_imported_as_a_job_whose_progress_is_polled(small_limits):
    settings, proc = small_limits
    url = settings.url("ingest")
    key, other = api_key(settings, "410000"), api_key(settings, "410000")
    body = payments_csv(1500)
    assert settings.ingest_max_body_bytes < len(body) < settings.ingest_import_max_bytes
    upload = {**key_header(key), "Content-Type": tables.CSV}
    r = httpx.post(f"{url}/v1/imports/payments", content=body, headers={**upload, "Prefer": "respond-async"},
                   timeout=120)
    assert r.status_code == 202, r.text
    assert r.headers["location"] == r.json()["status_url"]
    job_url = url + r.json()["status_url"]
    seen: list[dict] = []

    def finished() -> dict | None:
        job = httpx.get(job_url, headers=key_header(key), timeout=30).json()
        seen.append(job)
        return job if job["state"] not in imports.RUNNING else None

    job = wait_for(finished, 300, "the import job done", proc)
    assert job["state"] == "done", job
    assert (job["rows_read"], job["events_checked"], job["events_total"], job["events_published"]) == (
        1500, 1500, 1500, 1500)
    assert all(s["events_published"] <= s["events_total"] for s in seen if s["events_total"] is not None)
    assert httpx.get(job_url, headers=key_header(other), timeout=30).status_code == 404  # another client's job
    listed = httpx.get(f"{url}/v1/import-jobs", headers=key_header(key), timeout=30).json()["items"]
    assert [j["job_id"] for j in listed] == [job["job_id"]]
    landed = {parse_event(v).data.payment_id for v in asyncio.run(read_all(settings, Family.payment))}
    assert landed == {f"J{i}" for i in range(1500)}

    # every other endpoint keeps its own limit; the import limit holds for imports
    events = [f.payment(f"B{i}", "I1", "1.00") for i in range(400)]
    assert len(httpx.Request("POST", url, json=events).content) > settings.ingest_max_body_bytes
    assert httpx.post(f"{url}/v1/events/batch", json=events, headers=key_header(key), timeout=60).status_code == 413
    big = payments_csv(6000, "K")
    assert len(big) > settings.ingest_import_max_bytes
    r = httpx.post(f"{url}/v1/imports/payments", content=big, headers=upload, timeout=120)
    assert r.status_code == 413 and str(settings.ingest_import_max_bytes) in r.json()["detail"]  # by Content-Length
    chunked = (big[i:i + 65536] for i in range(0, len(big), 65536))  # no Content-Length: cut off while read
    r = httpx.post(f"{url}/v1/imports/payments", content=chunked, headers=upload, timeout=120)
    assert r.status_code == 413 and "FUNDWATCH_INGEST_IMPORT_MAX_BYTES" in r.json()["detail"]

    # the synchronous upload still answers when the import is done, with the job
    r = httpx.post(f"{url}/v1/imports/payments", content=payments_csv(10, "S"), headers=upload, timeout=120)
    assert r.status_code == 202, r.text
    assert (r.json()["rows"], r.json()["accepted"], r.json()["job"]["state"]) == (10, 10, "done")


class StopsTheBroker(Publisher):
    """A publisher after whose first acknowledged chunk the broker stops answering (SIGSTOP: the
    process is there, the log intact, nothing answers — a broker outage)."""

    def __init__(self, settings, broker: EmbeddedBroker) -> None:
        super().__init__(settings, timeout_s=4.0)
        self.broker, self.calls, self.sent = broker, 0, 0

    async def publish(self, events) -> None:
        self.calls += 1
        await super().publish(events)
        self.sent += sum(1 for e in events if e.type == "payment.made")  # not the audit record
        if self.calls == 1 and self.broker.process is not None:
            os.kill(self.broker.process.pid, signal.SIGSTOP)


def test_an_import_cut_off_by_a_broker_outage_says_so_and_the_same_file_again_publishes_only_the_rest(
        make_settings, sqlite_url, tmp_path, monkeypatch):
    monkeypatch.setattr(tables, "CHUNK", 100)
    broker = EmbeddedBroker(free_port(), log_path=tmp_path / "tansu.log").start()
    try:
        settings = make_settings(sqlite_url, kafka_bootstrap=broker.bootstrap)
        asyncio.run(ensure_topics(settings))
        body = payments_csv(500)
        asyncio.run(_outage(settings, broker, body, tmp_path))
        landed = [parse_event(v).id for v in asyncio.run(read_all(settings, Family.payment))]
        assert len(set(landed)) == 500  # every row's event once (a repeat, if any, has the same id)
    finally:
        if broker.process is not None:
            os.kill(broker.process.pid, signal.SIGCONT)
        broker.stop()


async def _outage(settings, broker: EmbeddedBroker, body: bytes, tmp_path) -> None:
    await migrate_async(settings.database_url, "ingest")
    engine = make_engine(settings.database_url)
    try:
        async with engine.begin() as conn:
            client, _key = await registry.create(conn, settings, client_id="payments-410000", name="支付系统",
                                                 scope="410000", families=("payment",), actor="tests",
                                                 actor_kind=ActorKind.system)
        digest = hashlib.sha256(body).hexdigest()

        def upload(n: int) -> imports.Upload:  # the job deletes its file: each upload is a new one
            path = tmp_path / f"upload-{n}.csv"
            path.write_bytes(body)
            return imports.Upload(client, PAYMENTS, str(path), tables.CSV, digest, len(body))

        failing = StopsTheBroker(settings, broker)
        importer = imports.Importer(settings, engine, failing, PublisherSink(settings, failing))
        job_id, task = await importer.start(upload(1))
        await task
        job = imports.view(await importer.get(job_id))
        assert job["state"] == "interrupted", job
        assert (job["events_total"], job["events_published"]) == (500, 100)
        assert "100 of 500" in job["detail"] and "same file again" in job["detail"]
        async with engine.connect() as conn:
            assert await store.get_import(conn, digest) is None  # not recorded as imported
        await failing.close()

        os.kill(broker.process.pid, signal.SIGCONT)  # the broker is back
        publisher = StopsTheBroker(settings, EmbeddedBroker(0))  # counts, stops nothing
        importer = imports.Importer(settings, engine, publisher, PublisherSink(settings, publisher))
        again, task = await importer.start(upload(2))
        await task
        job = imports.view(await importer.get(again))
        assert again == job_id and job["attempts"] == 2
        assert (job["state"], job["events_published"]) == ("done", 500), job
        assert publisher.sent == 400  # only what the log did not have
        async with engine.connect() as conn:
            assert (await store.get_import(conn, digest)).events == 500
        await publisher.close()
    finally:
        await engine.dispose()
