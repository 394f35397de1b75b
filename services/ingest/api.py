"""Ingest: the validated front door. 202 only after the broker acknowledged; 422 with
field-level errors (nothing of a bad batch is published); 503 when the broker is away."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from contracts.envelope import json_schemas
from services.ingest.publisher import BrokerUnavailable, Publisher
from services.ingest.validation import parse_body, validate_rows
from services.runtime.settings import Settings

MAX_BATCH = 5000
_EVENT_SCHEMA = json_schemas()["event"]


def create_app(settings: Settings) -> FastAPI:
    publisher = Publisher(settings)
    accepted: Counter[str] = Counter()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await publisher.close()

    app = FastAPI(title="fundwatch ingest", version="1", lifespan=lifespan,
                  description="财政扶贫资金动态监控: upstream systems post indicator, payment, performance "
                              "and reference events here (CloudEvents 1.0 envelope, see /v1/schemas).")

    async def handle(rows: list) -> JSONResponse:
        if len(rows) > MAX_BATCH:
            return JSONResponse(status_code=413, content={"detail": f"at most {MAX_BATCH} events per batch"})
        events, errors = validate_rows(rows, settings.pii_key_bytes)
        if errors:
            return JSONResponse(status_code=422, content={"detail": "validation failed; nothing was accepted",
                                                          "errors": errors})
        try:
            await publisher.publish(events)
        except BrokerUnavailable as exc:
            return JSONResponse(status_code=503, headers={"Retry-After": "5"},
                                content={"detail": f"event log unavailable, nothing accepted: {exc}"})
        accepted.update(e.type for e in events)
        return JSONResponse(status_code=202, content={"accepted": len(events), "ids": [e.id for e in events]})

    body_doc = {"requestBody": {"required": True, "content": {"application/json": {"schema": _EVENT_SCHEMA}}}}
    batch_doc = {"requestBody": {"required": True, "content": {
        "application/json": {"schema": {"type": "array", "maxItems": MAX_BATCH, "items": _EVENT_SCHEMA}}}}}

    def body_error(message: str, kind: str) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": message, "errors": [
            {"row": None, "field": "", "message": message, "type": kind}]})

    @app.post("/v1/events", status_code=202, openapi_extra=body_doc)
    async def post_event(request: Request) -> JSONResponse:
        try:
            return await handle([parse_body(await request.body())])
        except ValueError as exc:
            return body_error(str(exc), "json_invalid")

    @app.post("/v1/events/batch", status_code=202, openapi_extra=batch_doc)
    async def post_batch(request: Request) -> JSONResponse:
        try:
            raw = parse_body(await request.body())
        except ValueError as exc:
            return body_error(str(exc), "json_invalid")
        if not isinstance(raw, list):
            return body_error("batch body must be a JSON array", "list_type")
        return await handle(raw)

    @app.get("/v1/schemas/{name}")
    async def schema(name: str) -> JSONResponse:
        schemas = json_schemas()
        if name not in schemas:
            return JSONResponse(status_code=404, content={"detail": f"no schema {name}"})
        return JSONResponse(schemas[name])

    @app.get("/v1/status")
    async def status() -> dict:
        return {"accepted_total": sum(accepted.values()), "accepted_by_type": dict(accepted)}

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    return app
