"""`/v1/templates` (public: the tables upstream fills) and `/v1/imports/{template}` (an upstream
client's API key, its region scope and families, like `/v1/events`): a file with any error
imports nothing and names sheet, row and column; the same file again imports nothing twice."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from typing import Literal

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse, Response

from contracts.audit import ActorKind
from services.ingest import bindings, store, tables
from services.ingest.auth import authenticate_uploader
from services.ingest.clients import refusals
from services.ingest.intake import stamp
from services.ingest.publisher import BrokerUnavailable
from services.ingest.validation import Horizon
from services.runtime.audit import audit_event, client_ip

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


@router.post("/v1/imports/{name}", status_code=202, summary="import a filled template (XLSX or CSV body)",
             responses={401: {"description": "no valid API key"}, 403: {"description": "rows outside your scope"},
                        404: {"description": "no such template"}, 409: {"description": "this file was imported"},
                        415: {"description": "not XLSX or CSV"}, 422: {"description": "errors by sheet, row, column"}},
             openapi_extra={"requestBody": {"required": True, "content": {
                 tables.XLSX: {"schema": {"type": "string", "format": "binary"}},
                 tables.CSV: {"schema": {"type": "string", "format": "binary"}}}}})
async def import_table(name: str, request: Request) -> JSONResponse:
    app = request.app
    settings, engine = app.state.settings, app.state.engine
    client = await authenticate_uploader(request, engine)  # an API key, or a user's login (console)
    template = _template(name)
    kind = bindings.media_type(request.headers.get("content-type"))
    if kind not in KINDS:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                            f"Content-Type {kind or 'missing'}: send {tables.XLSX} or {tables.CSV}")
    body = await request.body()
    digest = hashlib.sha256(body).hexdigest()
    async with engine.connect() as conn:
        earlier = await store.get_import(conn, digest)
    if earlier is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"this file (SHA-256 {digest[:12]}…) was imported at "
                            f"{earlier.at:%Y-%m-%d %H:%M:%S} UTC by {earlier.client_id}: nothing imported again")
    kind = tables.XLSX if KINDS[kind] == "xlsx" else tables.CSV
    try:
        errors, rows, chunks = tables.import_file(template, lambda: io.BytesIO(body), kind, settings.pii_key_bytes,
                                                  authorize=lambda found: refusals(client, found),
                                                  horizon=Horizon.of(settings))
    except tables.TableError as exc:
        return JSONResponse(status_code=422, content={"detail": str(exc), "errors": [
            {"sheet": None, "row": 1, "column": None, "field": "", "message": str(exc), "type": "table_error"}]})
    if errors:
        forbidden = all(e["type"].startswith("forbidden_") for e in errors)
        return JSONResponse(status_code=403 if forbidden else 422, content={
            "detail": f"{len(errors)} error(s) in {rows} row(s); nothing was imported", "errors": errors})
    published = 0
    try:
        for chunk in chunks:
            await app.state.publisher.publish([stamp(e, client) for e in chunk])
            published += len(chunk)
    except BrokerUnavailable as exc:  # ids are the rows' own: the same file again completes it
        return JSONResponse(status_code=503, headers={"Retry-After": "5"}, content={
            "detail": f"event log unavailable after {published} event(s); send the same file again: {exc}"})
    now = dt.datetime.now(dt.UTC)
    used = audit_event("ingest", "client.imported", actor=client.client_id, actor_kind=ActorKind.client,
                       region=client.scope, target=request.url.path, ip=client_ip(request),
                       details={"template": name, "rows": str(rows), "events": str(published), "sha256": digest})
    await app.state.audit.emit(used)
    async with engine.begin() as conn:
        await store.add_import(conn, sha256=digest, template=name, client_id=client.client_id, rows=rows,
                               events=published, at=now)
    return JSONResponse(status_code=202, content={"template": name, "rows": rows, "accepted": published,
                                                  "sha256": digest})
