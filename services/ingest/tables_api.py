"""`/v1/templates` (public: the tables upstream fills) and `/v1/imports/{template}` (an upstream
client's API key, its region scope and families, like `/v1/events`): a file with any error
imports nothing and names sheet, row and column; the same file again imports nothing twice. Each
upload is an import job (`/v1/import-jobs/{id}`: its progress; services.ingest.imports)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from typing import Literal

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse, Response

from services.ingest import bindings, imports, store, tables
from services.ingest.auth import authenticate, authenticate_uploader
from services.runtime.audit import client_ip
from services.runtime.http import BodyTooLarge

router = APIRouter(tags=["table import"])
KINDS = {tables.XLSX: "xlsx", tables.CSV: "csv", "application/csv": "csv"}


def _template(name: str) -> tables.Template:
    if name not in tables.TEMPLATES:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no template {name} (templates: {', '.join(tables.TEMPLATES)})")
    return tables.TEMPLATES[name]


@router.get("/v1/templates", summary="the import templates and their columns")
async def list_templates() -> dict:
    return {"items": [{"name": t.name, "title": t.title, "event_type": t.event_type,
                       "columns": [{"header": c.header, "field": c.path, "kind": c.kind, "required": c.required}
                                   for c in t.columns]} for t in tables.TEMPLATES.values()]}


@router.get("/v1/templates/{name}", summary="an empty template to fill (XLSX or CSV)",
            responses={200: {"content": {tables.XLSX: {}, tables.CSV: {}}}, 404: {"description": "no such template"}})
async def get_template(name: str, format: Literal["xlsx", "csv"] = Query("xlsx")) -> Response:
    template = _template(name)
    body = tables.template_xlsx(template) if format == "xlsx" else tables.template_csv(template)
    media = tables.XLSX if format == "xlsx" else tables.CSV
    return Response(body, media_type=media, headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{name}.{format}"})


IMPORT_RESPONSES: dict[int | str, dict] = {
    401: {"description": "no valid API key"}, 403: {"description": "rows outside your scope"},
    404: {"description": "no such template"},
    409: {"description": "this file was imported (or is being imported right now)"},
    413: {"description": "the file is over the import limit (FUNDWATCH_INGEST_IMPORT_MAX_BYTES)"},
    415: {"description": "not XLSX or CSV"}, 422: {"description": "errors by sheet, row, column"},
    503: {"description": "the event log went away midway: the job is interrupted, the same file again resumes it"}}


async def _receive(request: Request, limit: int) -> tuple[str, str, int]:
    """(path, SHA-256, size) of the body, streamed to a file on disk: never held in memory whole."""
    fd, path = tempfile.mkstemp(prefix="fundwatch-import-")
    digest, size = hashlib.sha256(), 0
    try:
        with os.fdopen(fd, "wb") as out:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise BodyTooLarge(limit)
                digest.update(chunk)
                out.write(chunk)
    except BodyTooLarge as exc:
        os.unlink(path)
        raise HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, f"{exc}: the import limit is {limit} bytes "
                            "(FUNDWATCH_INGEST_IMPORT_MAX_BYTES)") from None
    except BaseException:
        os.unlink(path)
        raise
    return path, digest.hexdigest(), size


def _answer(job: dict) -> JSONResponse:
    """The synchronous answer of a finished job (what the upload answered before jobs existed)."""
    if job["state"] == "done":
        return JSONResponse(status_code=202, content={
            "template": job["template"], "rows": job["rows_read"], "accepted": job["events_total"],
            "sha256": job["sha256"], "job": job})
    if job["state"] == "refused":
        errors = job["errors"]
        forbidden = bool(errors) and all(e["type"].startswith("forbidden_") for e in errors)
        return JSONResponse(status_code=403 if forbidden else 422, content={
            "detail": job["detail"], "errors": errors, "job": job})
    if job["state"] == "interrupted":
        return JSONResponse(status_code=503, headers={"Retry-After": "5"}, content={"detail": job["detail"], "job": job})
    return JSONResponse(status_code=500, content={"detail": job["detail"], "job": job})


@router.post("/v1/imports/{name}", status_code=202, summary="import a filled template (XLSX or CSV body)",
             responses=IMPORT_RESPONSES,
             openapi_extra={"parameters": [{
                 "name": "Prefer", "in": "header", "required": False, "schema": {"type": "string"},
                 "description": "`respond-async` (RFC 7240): answer 202 with the import job at once (Location: "
                                "its status URL to poll) instead of when the import is done"}],
                 "requestBody": {"required": True, "content": {
                     tables.XLSX: {"schema": {"type": "string", "format": "binary"}},
                     tables.CSV: {"schema": {"type": "string", "format": "binary"}}}}})
async def import_table(name: str, request: Request) -> JSONResponse:
    """The file is streamed to disk (up to FUNDWATCH_INGEST_IMPORT_MAX_BYTES, 256 MB by default),
    read with a streaming reader and published only when no row has an error. By default the
    answer comes when the import is done; with `Prefer: respond-async` it is the job, at once."""
    app = request.app
    settings, engine = app.state.settings, app.state.engine
    client = await authenticate_uploader(request, engine)  # an API key, or a user's login (console)
    template = _template(name)
    kind = bindings.media_type(request.headers.get("content-type"))
    if kind not in KINDS:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                            f"Content-Type {kind or 'missing'}: send {tables.XLSX} or {tables.CSV}")
    path, digest, size = await _receive(request, settings.ingest_import_max_bytes)
    async with engine.connect() as conn:
        earlier = await store.get_import(conn, digest)
    if earlier is not None:
        os.unlink(path)
        raise HTTPException(status.HTTP_409_CONFLICT, f"this file (SHA-256 {digest[:12]}…) was imported at "
                            f"{earlier.at:%Y-%m-%d %H:%M:%S} UTC by {earlier.client_id}: nothing imported again")
    upload = imports.Upload(client, template, path, tables.XLSX if KINDS[kind] == "xlsx" else tables.CSV, digest,
                            size, client_ip(request), request.url.path)
    try:
        job_id, task = await app.state.importer.start(upload)
    except imports.Busy as busy:
        os.unlink(path)
        raise HTTPException(status.HTTP_409_CONFLICT, f"this file is being imported right now: "
                            f"/v1/import-jobs/{busy.job_id}") from None
    if "respond-async" in request.headers.get("prefer", ""):
        row = await app.state.importer.get(job_id)
        return JSONResponse(status_code=202, content=imports.view(row),
                            headers={"Location": f"/v1/import-jobs/{job_id}", "Preference-Applied": "respond-async"})
    await asyncio.shield(task)  # a client that hangs up does not stop the import
    return _answer(imports.view(await app.state.importer.get(job_id)))


@router.get("/v1/import-jobs/{job_id}", summary="an import job's progress: rows read, events checked and published",
            responses={401: {"description": "no valid API key"}, 404: {"description": "no such job of yours"}})
async def get_import_job(job_id: str, request: Request) -> dict:
    client = await authenticate(request, request.app.state.engine)
    row = await request.app.state.importer.get(job_id)
    if row is None or row.client_id != client.client_id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no import job {job_id} of client {client.client_id}")
    return imports.view(row)


@router.get("/v1/import-jobs", summary="your latest import jobs",
            responses={401: {"description": "no valid API key"}})
async def list_import_jobs(request: Request, limit: int = Query(50, ge=1, le=500)) -> dict:
    client = await authenticate(request, request.app.state.engine)
    async with request.app.state.engine.connect() as conn:
        rows = await store.jobs_of(conn, client.client_id, limit)
    return {"items": [imports.view(r) for r in rows]}
