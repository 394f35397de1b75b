"""Ingest: the validated front door. 401 without a registered client's API key (services.ingest.auth);
202 only after the broker acknowledged; 422 with field-level errors and 403 for rows outside the
client's region scope or families (nothing of a refused batch is published); 503 when the broker
is away. Each accepted event is stamped with its client (CloudEvents `authtype`/`authid`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.audit import ActorKind, Outcome
from contracts.envelope import Envelope, event_schema, json_schemas
from contracts.topics import INPUT_FAMILIES
from services.ingest import bindings, clients_api, deadletters_api, tables_api
from services.ingest.auth import authenticate
from services.ingest.clients import Client, refusals
from services.ingest.publisher import BrokerUnavailable, Publisher, PublisherSink
from services.ingest.validation import Horizon, validate_rows
from services.runtime.audit import audit_event, client_ip
from services.runtime.auth import OptionalPrincipal
from services.runtime.db import make_engine
from services.runtime.http import limit_bodies
from services.runtime.settings import Settings

MAX_BATCH = 5000
_REF = "#/components/schemas/{model}"
_EVENT_SCHEMA = event_schema(INPUT_FAMILIES, ref_template=_REF)
_DEFS = _EVENT_SCHEMA.pop("$defs", {})


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
    limit_bodies(app, settings.ingest_max_body_bytes, settings.max_json_depth)
    app.include_router(clients_api.router)
    app.include_router(deadletters_api.router)
    app.include_router(tables_api.router)

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

    body_doc = {"requestBody": {"required": True, "content": {"application/json": {"schema": _EVENT_SCHEMA}}}}
    batch_doc = {"requestBody": {"required": True, "content": {
        "application/json": {"schema": {"type": "array", "maxItems": MAX_BATCH, "items": _EVENT_SCHEMA}}}}}

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

    @app.get("/v1/schemas/{name}")
    async def schema(name: str) -> JSONResponse:
        schemas = json_schemas()
        if name not in schemas:
            return JSONResponse(status_code=404, content={"detail": f"no schema {name}"})
        return JSONResponse(schemas[name])

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
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def stamped(events: list[Envelope], client: Client) -> list[Envelope]:
    """Each event with the source the platform authenticated (CloudEvents Auth Context)."""
    return [e.model_copy(update={"authtype": "api_key", "authid": client.client_id}) for e in events]
