"""Ingest: the validated front door. 401 without a registered client's API key (services.ingest.auth);
202 only after the broker acknowledged; 422 with field-level errors and 403 for rows outside the
client's region scope or families (nothing of a refused batch is published); 503 when the broker
is away. Each accepted event is stamped with its client (CloudEvents `authtype`/`authid`)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts import export
from contracts.asyncapi import asyncapi
from contracts.audit import ActorKind, Outcome
from contracts.envelope import EVENT_TYPES, Envelope, event_schema, json_schemas
from contracts.topics import INPUT_FAMILIES
from services.ingest import bindings, clients_api, collections_api, deadletters_api, streams_api, tables_api
from services.ingest.auth import authenticate
from services.ingest.clients import Client, refusals
from services.ingest.imports import Importer
from services.ingest.intake import stamp
from services.ingest.publisher import BrokerUnavailable, Publisher, PublisherSink
from services.ingest.validation import Horizon, validate_rows
from services.runtime.audit import audit_event, client_ip
from services.runtime.auth import OptionalPrincipal
from services.runtime.db import make_engine
from services.runtime.http import limit_bodies
from services.runtime.openapi import Problem, problem
from services.runtime.openapi import document_errors as runtime_document_errors
from services.runtime.settings import Settings

MAX_BATCH = 5000
_REF = "#/components/schemas/{model}"
_EVENT_SCHEMA = event_schema(INPUT_FAMILIES, ref_template=_REF)
_DEFS = _EVENT_SCHEMA.pop("$defs", {})
_SCHEMAS = json_schemas(export.all_examples())
_INGESTED = {name for name, (_model, family) in EVENT_TYPES.items() if family in INPUT_FAMILIES}
_ASYNCAPI = asyncapi()


def _problem(description: str) -> dict:
    return problem(description)


ERRORS = {
    "401": _problem("no valid API key (missing, malformed, unknown, revoked or expired)"),
    "403": _problem("rows outside the client's region scope or families; nothing accepted"),
    "413": _problem(f"more than {MAX_BATCH} events, or a body over the size limit"),
    "415": _problem("a Content-Type that is not a CloudEvents binding (application/cloudevents+json, "
                    "application/cloudevents-batch+json, application/json, binary mode)"),
    "422": _problem("validation failed, naming row and field; nothing accepted"),
    "503": _problem("the event log is unavailable; nothing accepted, retry after Retry-After"),
}
API_KEY = "IngestApiKey"
_KEYED = ("/v1/events", "/v1/events/batch", "/v1/imports/{name}", "/v1/import-jobs", "/v1/import-jobs/{job_id}",
          "/v1/collections/{task_id}/forms")


def document_errors(doc: dict) -> None:
    """Every operation documents the errors it gives (services.runtime.openapi's rule); the
    API-key scheme where a client's key is needed instead of a user's token."""
    doc.setdefault("components", {}).setdefault("securitySchemes", {})[API_KEY] = {
        "type": "http", "scheme": "bearer", "bearerFormat": "fwk_<12 hex>_<43 characters>",
        "description": "the API key of your registered upstream client (`fundwatch client create`)"}
    for path in _KEYED:
        for operation in doc.get("paths", {}).get(path, {}).values():
            operation["security"] = [{API_KEY: []}]
    runtime_document_errors(doc)


def create_app(settings: Settings, engine: AsyncEngine | None = None) -> FastAPI:
    publisher = Publisher(settings)
    accepted: Counter[str] = Counter()
    owned = engine is None
    engine = engine or make_engine(settings.database_url)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await publisher.close()
        if owned:
            await engine.dispose()

    app = FastAPI(title="fundwatch ingest", version="1", lifespan=lifespan,
                  description="财政扶贫资金动态监控: upstream systems post indicator, payment, performance "
                              "and reference events here (CloudEvents 1.0 envelope, see /v1/schemas), "
                              "with `Authorization: Bearer <API key of the registered client>`.")
    app.state.settings, app.state.engine, app.state.publisher = settings, engine, publisher
    app.state.audit = PublisherSink(settings, publisher)
    app.state.importer = Importer(settings, engine, publisher, app.state.audit)
    # a table upload streams to disk under its own, higher limit; every other body is buffered
    limit_bodies(app, settings.ingest_max_body_bytes, settings.max_json_depth,
                 streamed={"/v1/imports/": settings.ingest_import_max_bytes})
    app.include_router(clients_api.router)
    app.include_router(deadletters_api.router)
    app.include_router(tables_api.router)
    app.include_router(collections_api.router)
    app.include_router(streams_api.router)
    app.state.started = time.monotonic()

    async def handle(rows: list, client: Client, request: Request) -> JSONResponse:
        if len(rows) > MAX_BATCH:
            return JSONResponse(status_code=413, content={"detail": f"at most {MAX_BATCH} events per batch"})
        events, errors = validate_rows(rows, settings.pii_key_bytes, authorize=lambda found: refusals(client, found),
                                       horizon=Horizon.of(settings))
        if errors:
            forbidden = all(e["type"].startswith("forbidden_") for e in errors)
            if forbidden:  # a credential used beyond its scope is worth an auditor's look
                await app.state.audit.record(request, "client.refused", actor=client.client_id,
                                             actor_kind=ActorKind.client, region=client.scope,
                                             outcome=Outcome.refused, target=request.url.path,
                                             reason=f"row {errors[0]['row']}: {errors[0]['message']}")
            return JSONResponse(status_code=403 if forbidden else 422, content={
                "detail": f"{'not allowed for client ' + client.client_id if forbidden else 'validation failed'}; "
                          "nothing was accepted", "errors": errors})
        events = stamped(events, client)
        used = audit_event("ingest", "client.used", actor=client.client_id, actor_kind=ActorKind.client,
                           region=client.scope, target=request.url.path, ip=client_ip(request),
                           details={"events": str(len(events)), "types": ",".join(sorted({e.type for e in events}))})
        try:
            await publisher.publish([*events, used])
        except BrokerUnavailable as exc:
            return JSONResponse(status_code=503, headers={"Retry-After": "5"},
                                content={"detail": f"event log unavailable, nothing accepted: {exc}"})
        accepted.update(e.type for e in events)
        return JSONResponse(status_code=202, content={"accepted": len(events), "ids": [e.id for e in events]})

    examples = export.examples()
    one = {name: {"summary": name, "value": event} for name, event in examples.items()}
    batch_example = {"demo": {"summary": "a batch", "value": list(examples.values())[:3]}}
    batch_schema = {"type": "array", "maxItems": MAX_BATCH, "items": _EVENT_SCHEMA}
    binary_data = {"type": "object", "description": "binary mode: the event's `data`; its attributes in ce-* headers "
                                                     "(ce-specversion, ce-id, ce-source, ce-type, ce-time, ce-region)"}
    body_doc = {"requestBody": {"required": True, "content": {
        bindings.CE_JSON: {"schema": _EVENT_SCHEMA, "examples": one},
        bindings.JSON: {"schema": {"oneOf": [_EVENT_SCHEMA, binary_data]}, "examples": one},
        bindings.CE_BATCH: {"schema": batch_schema, "examples": batch_example}}}, "responses": ERRORS}
    batch_doc = {"requestBody": {"required": True, "content": {
        bindings.CE_BATCH: {"schema": batch_schema, "examples": batch_example},
        bindings.JSON: {"schema": batch_schema, "examples": batch_example}}}, "responses": ERRORS}

    def body_error(message: str, kind: str) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": message, "errors": [
            {"row": None, "field": "", "message": message, "type": kind}]})

    async def intake(request: Request, batch: bool) -> JSONResponse:
        client = await authenticate(request, engine)
        try:
            rows = bindings.from_http(request.headers, await request.body(), batch=batch)
        except bindings.Unsupported as exc:
            return JSONResponse(status_code=415, content={"detail": str(exc), "errors": [
                {"row": None, "field": "Content-Type", "message": str(exc), "type": "unsupported_media_type"}]})
        except bindings.Malformed as exc:
            return body_error(str(exc), exc.kind)
        return await handle(rows, client, request)

    @app.post("/v1/events", status_code=202, openapi_extra=body_doc)
    async def post_event(request: Request) -> JSONResponse:
        """One event (structured or binary mode) or a batch (`application/cloudevents-batch+json`)."""
        return await intake(request, batch=False)

    @app.post("/v1/events/batch", status_code=202, openapi_extra=batch_doc)
    async def post_batch(request: Request) -> JSONResponse:
        """A batch: `application/cloudevents-batch+json` or a JSON array as `application/json`."""
        return await intake(request, batch=True)

    @app.get("/v1/schemas", summary="the index of the event JSON Schemas and the AsyncAPI document")
    async def schema_index(request: Request) -> dict:
        base = str(request.base_url).rstrip("/")
        return {"items": [{"name": name, "$id": doc["$id"], "url": f"{base}/v1/schemas/{name}",
                           "ingested": name in _INGESTED} for name, doc in _SCHEMAS.items()],
                "asyncapi": f"{base}/v1/asyncapi.json", "openapi": f"{base}/openapi.json"}

    @app.get("/v1/schemas/{name}", responses={404: {"description": "no such schema", "model": Problem}})
    async def schema(name: str) -> JSONResponse:
        if name not in _SCHEMAS:
            return JSONResponse(status_code=404, content={"detail": f"no schema {name}"})
        return JSONResponse(_SCHEMAS[name])

    @app.get("/v1/asyncapi.json", summary="the AsyncAPI 3 document of the topics (Kafka intake)")
    async def asyncapi_doc() -> JSONResponse:
        return JSONResponse(_ASYNCAPI)

    @app.get("/v1/status")
    async def status(principal: OptionalPrincipal) -> dict:
        if principal is None:  # anonymous: health only
            return {"status": "ok"}
        return {"status": "ok", "accepted_total": sum(accepted.values()), "accepted_by_type": dict(accepted)}

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    def openapi() -> dict:
        # The event schemas' definitions go where their references point (#/components/schemas).
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            doc.setdefault("components", {}).setdefault("schemas", {}).update(_DEFS)
            document_errors(doc)
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def stamped(events: list[Envelope], client: Client) -> list[Envelope]:
    """Each event with the source the platform authenticated (CloudEvents Auth Context)."""
    return [stamp(e, client) for e in events]
