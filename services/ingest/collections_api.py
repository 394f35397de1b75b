"""`/v1/collections`: report-collection tasks (定制报表采集任务, services.ingest.collections). A
fiscal unit's treasury or upper bureau (a user's token) issues a task to the regions below it;
each region's upstream client (its API key, its region scope) uploads the filled form; the task's
page adds the forms up across the regions, with each region's completion."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse, Response

from services.ingest import bindings, collections, store, tables
from services.ingest.auth import authenticate
from services.runtime.auth import Principal, Role, require_roles

router = APIRouter(prefix="/v1/collections", tags=["report collection"])
Issuer = Annotated[Principal, Depends(require_roles(Role.treasury, Role.rule_admin))]
Reader = Annotated[Principal, Depends(require_roles(Role.treasury, Role.rule_admin, Role.member, Role.auditor))]
KINDS = {tables.XLSX: tables.XLSX, tables.CSV: tables.CSV, "application/csv": tables.CSV}
EXAMPLE = {"task_id": "SJ-2026-01", "title": "2026年一季度扶贫项目资金使用情况", "regions": ["410324", "410325"],
           "columns": [{"header": "项目编码", "kind": "text"}, {"header": "项目名称", "kind": "text"},
                       {"header": "下达资金", "kind": "money"}, {"header": "已支付", "kind": "money"},
                       {"header": "受益户数", "kind": "int"}], "key": "项目编码", "due": "2026-04-10"}


async def _task(request: Request, task_id: str) -> collections.Task:
    async with request.app.state.engine.connect() as conn:
        row = await store.get_task(conn, task_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no collection task {task_id}")
    return collections.task_of(json.loads(row.definition))


@router.post("", status_code=201, summary="issue a report-collection task to the regions below yours",
             responses={409: {"description": "the task id is taken"}})
async def create_task(request: Request, principal: Issuer,
                      body: Annotated[dict[str, Any], Body(examples=[EXAMPLE])]) -> dict:
    try:
        task = collections.parse_task(body, principal.region)
    except collections.TaskError as exc:
        raise HTTPException(422, [{"loc": ["body", *exc.field.split(".")], "msg": str(exc),
                                   "type": "value_error"}]) from None
    async with request.app.state.engine.begin() as conn:
        if not await store.add_task(conn, task_id=task.task_id, region=task.region, created_by=principal.user,
                                    definition=json.dumps(collections.task_dict(task), ensure_ascii=False),
                                    created_at=store.naive(dt.datetime.now(dt.UTC))):
            raise HTTPException(status.HTTP_409_CONFLICT, f"collection task {task.task_id} exists")
    return collections.task_dict(task)


@router.get("/{task_id}", summary="the task, each region's completion and the results added up across the forms",
            responses={404: {"description": "no such task in your region"}})
async def get_task(request: Request, task_id: str, principal: Reader) -> dict:
    task = await _task(request, task_id)
    if not principal.can_see(task.region):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no collection task {task_id}")
    async with request.app.state.engine.connect() as conn:
        forms = await store.forms_of(conn, task_id)
    return {**collections.task_dict(task), **collections.aggregate(
        task, [(f.region, f.submitted_at.replace(tzinfo=dt.UTC), json.loads(f.records)) for f in forms])}


@router.get("/{task_id}/form", summary="the empty form to fill (XLSX or CSV), public like the templates",
            responses={200: {"content": {tables.XLSX: {}, tables.CSV: {}}}, 404: {"description": "no such task"}})
async def get_form(request: Request, task_id: str, format: Literal["xlsx", "csv"] = Query("xlsx")) -> Response:
    template = (await _task(request, task_id)).template
    body = tables.template_xlsx(template) if format == "xlsx" else tables.template_csv(template)
    return Response(body, media_type=tables.XLSX if format == "xlsx" else tables.CSV,
                    headers={"Content-Disposition": f"attachment; filename*=UTF-8''{task_id}.{format}"})


@router.post("/{task_id}/forms", status_code=202, summary="submit your region's filled form (XLSX or CSV body)",
             responses={401: {"description": "no valid API key"},
                        403: {"description": "the task is not issued to your region"},
                        415: {"description": "not XLSX or CSV"}, 422: {"description": "errors by row and column"}},
             openapi_extra={"requestBody": {"required": True, "content": {
                 tables.XLSX: {"schema": {"type": "string", "format": "binary"}},
                 tables.CSV: {"schema": {"type": "string", "format": "binary"}}}}})
async def submit_form(request: Request, task_id: str) -> JSONResponse:
    """A region's form replaces the one it submitted before; a form with any error is not stored."""
    client = await authenticate(request, request.app.state.engine)
    task = await _task(request, task_id)
    region = collections.region_of_uploader(task, client.scope)
    if region is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"task {task_id} is issued to {', '.join(task.regions)}, "
                            f"not to {client.client_id} (scope {client.scope})")
    kind = KINDS.get(bindings.media_type(request.headers.get("content-type")) or "")
    if kind is None:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, f"send {tables.XLSX} or {tables.CSV}")
    body = await request.body()
    try:
        sheet, rows = tables.read_rows(io.BytesIO(body), kind, task.template)
        records, errors = collections.read_form(task, rows, sheet)
    except tables.TableError as exc:
        errors, records = [tables.cell_error(task.title, 1, None, "", str(exc))], []
    if errors:
        return JSONResponse(status_code=422, content={
            "detail": f"{len(errors)} error(s); the form was not stored", "errors": errors[:200]})
    now = dt.datetime.now(dt.UTC)
    async with request.app.state.engine.begin() as conn:
        await store.put_form(conn, task_id=task_id, region=region, client_id=client.client_id,
                             sha256=hashlib.sha256(body).hexdigest(), submitted_at=store.naive(now),
                             records=json.dumps(records, ensure_ascii=False))
    return JSONResponse(status_code=202, content={"task_id": task_id, "region": region, "rows": len(records),
                                                  "submitted_at": now.isoformat()})
