"""Table-import jobs: one per upload, its progress (rows read, events checked, events published)
kept in ingest's database so a client can poll it while a 100k-row file goes through.

The uploaded file is on disk (streamed there by the endpoint); it is read and checked in a worker
thread (`tables.import_file`: a streaming reader, the checked events spooled to disk), so the API
keeps answering meanwhile and memory does not grow with the file. Only a file without error is
published, chunk by chunk, in file order. Tansu has no transactions (services/runtime/kafka.py),
so an import cannot be made atomic on the log: when the event log goes away midway the job stops
as `interrupted`, saying how many of its events the log acknowledged, and the same file sent
again by the same client resumes that job — it publishes only the events after those (the
events' ids come from the rows, so even a repeat of one the log already had is applied once)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.audit import ActorKind
from services.ingest import store, tables
from services.ingest.clients import Client, refusals
from services.ingest.intake import stamp
from services.ingest.publisher import BrokerUnavailable, Publisher
from services.ingest.validation import Horizon
from services.runtime.audit import AuditSink, audit_event
from services.runtime.settings import Settings

log = logging.getLogger(__name__)
RUNNING = ("reading", "publishing")
TICK_S = 0.5


class Busy(Exception):
    """This client's same file is being imported right now (by job `job_id`)."""

    def __init__(self, job_id: str) -> None:
        super().__init__(job_id)
        self.job_id = job_id


@dataclass
class Progress:
    rows_read: int = 0
    events_checked: int = 0
    events_published: int = 0

    def read(self, rows: int, checked: int) -> None:  # called from the reading thread
        self.rows_read, self.events_checked = rows, checked


@dataclass(frozen=True)
class Upload:
    client: Client
    template: tables.Template
    path: str  # the uploaded file, deleted when the job ends
    kind: str  # tables.XLSX | tables.CSV
    sha256: str
    size: int
    ip: str | None = None
    target: str = ""


def view(row: Any) -> dict:
    """A job as the API shows it."""
    return {"job_id": row.job_id, "template": row.template, "state": row.state, "sha256": row.sha256,
            "bytes": row.bytes, "rows_read": row.rows_read, "events_checked": row.events_checked,
            "events_total": row.events_total, "events_published": row.events_published, "attempts": row.attempts,
            "errors": json.loads(row.errors) if row.errors else [], "detail": row.detail,
            "created_at": store.aware(row.created_at).isoformat(),  # type: ignore[union-attr]
            "updated_at": store.aware(row.updated_at).isoformat(),  # type: ignore[union-attr]
            "status_url": f"/v1/import-jobs/{row.job_id}"}


class Importer:
    """Starts jobs and runs them as tasks of this process; a job found `reading`/`publishing` in
    the database that is not among them was cut off by a restart, and is resumed like an
    interrupted one."""

    def __init__(self, settings: Settings, engine: AsyncEngine, publisher: Publisher, audit: AuditSink) -> None:
        self.settings, self.engine, self.publisher, self.audit = settings, engine, publisher, audit
        self.tasks: dict[str, asyncio.Task] = {}

    async def start(self, upload: Upload) -> tuple[str, asyncio.Task]:
        now = _now()
        async with self.engine.begin() as conn:
            earlier = await store.job_of_file(conn, upload.sha256, upload.template.name, upload.client.client_id)
            task = self.tasks.get(earlier.job_id) if earlier is not None else None
            if earlier is not None and task is not None and not task.done():
                raise Busy(earlier.job_id)
            if earlier is not None:  # interrupted (or cut off by a restart): resume after what the log has
                job_id, resume_from = earlier.job_id, earlier.events_published
                await store.update_job(conn, job_id, state="reading", rows_read=0, events_checked=0, errors=None,
                                       detail=f"resumed after {resume_from} published event(s)",
                                       attempts=earlier.attempts + 1, updated_at=now)
            else:
                job_id, resume_from = uuid.uuid4().hex, 0
                await store.add_job(conn, job_id=job_id, template=upload.template.name,
                                    client_id=upload.client.client_id, sha256=upload.sha256, bytes=upload.size,
                                    state="reading", rows_read=0, events_checked=0, events_total=None,
                                    events_published=0, attempts=1, errors=None, detail=None, created_at=now,
                                    updated_at=now)
        task = asyncio.create_task(self._run(job_id, upload, resume_from), name=f"import {job_id}")
        self.tasks[job_id] = task
        task.add_done_callback(lambda _t: self.tasks.pop(job_id, None))
        return job_id, task

    async def get(self, job_id: str) -> Any:
        async with self.engine.connect() as conn:
            return await store.get_job(conn, job_id)

    async def _save(self, job_id: str, progress: Progress, **values: Any) -> None:
        async with self.engine.begin() as conn:
            await store.update_job(conn, job_id, rows_read=progress.rows_read, events_checked=progress.events_checked,
                                   events_published=progress.events_published, updated_at=_now(), **values)

    async def _tick(self, job_id: str, progress: Progress) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            try:
                await self._save(job_id, progress)
            except Exception:  # a missed tick only delays what a poll sees
                log.debug("import job %s: progress not saved", job_id, exc_info=True)

    async def _run(self, job_id: str, upload: Upload, resume_from: int) -> None:
        progress = Progress(events_published=resume_from)
        ticker = asyncio.create_task(self._tick(job_id, progress))
        final: dict[str, Any] = {"state": "failed"}
        try:
            final = await self._import(job_id, upload, resume_from, progress)
        except asyncio.CancelledError:
            final = {"state": "interrupted", "detail": "ingest stopped during the import: send the same file again"}
            raise
        except Exception as exc:
            log.exception("import job %s failed", job_id)
            final = {"state": "failed", "detail": f"{type(exc).__name__}: {exc}"}
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            with contextlib.suppress(OSError):
                os.unlink(upload.path)
            await asyncio.shield(self._save(job_id, progress, **final))

    async def _import(self, job_id: str, upload: Upload, resume_from: int, progress: Progress) -> dict[str, Any]:
        client, template = upload.client, upload.template
        try:
            errors, rows, chunks = await asyncio.to_thread(
                tables.import_file, template, lambda: open(upload.path, "rb"), upload.kind,  # noqa: SIM115
                self.settings.pii_key_bytes, authorize=lambda found: refusals(client, found),
                horizon=Horizon.of(self.settings), progress=progress.read)
        except tables.TableError as exc:
            return {"state": "refused", "detail": str(exc), "errors": json.dumps([
                {"sheet": None, "row": 1, "column": None, "field": "", "message": str(exc), "type": "table_error"}],
                ensure_ascii=False)}
        progress.rows_read = rows
        if errors:
            return {"state": "refused", "detail": f"{len(errors)} error(s) in {rows} row(s); nothing was imported",
                    "errors": json.dumps(errors, ensure_ascii=False)}
        total = progress.events_checked
        await self._save(job_id, progress, state="publishing", events_total=total)
        index = 0
        try:
            while (chunk := await asyncio.to_thread(next, chunks, None)) is not None:
                first, index = index, index + len(chunk)
                missing = chunk[max(0, resume_from - first):]
                if missing:
                    await self.publisher.publish([stamp(e, client) for e in missing])
                    progress.events_published += len(missing)
        except BrokerUnavailable as exc:
            return {"state": "interrupted", "detail": f"event log unavailable after {progress.events_published} of "
                                                      f"{total} event(s); send the same file again to publish the "
                                                      f"rest: {exc}"}
        finally:
            chunks.close()  # type: ignore[attr-defined]
        used = audit_event("ingest", "client.imported", actor=client.client_id, actor_kind=ActorKind.client,
                           region=client.scope, target=upload.target, ip=upload.ip,
                           details={"template": template.name, "rows": str(rows), "events": str(total),
                                    "sha256": upload.sha256, "job": job_id})
        await self.audit.emit(used)
        async with self.engine.begin() as conn:
            await store.add_import(conn, sha256=upload.sha256, template=template.name, client_id=client.client_id,
                                   rows=rows, events=total, at=dt.datetime.now(dt.UTC))
        return {"state": "done", "detail": f"{total} event(s) from {rows} row(s) published"}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
