"""The integrator's documents: the AsyncAPI 3 document names every topic of the registry and every
intake topic, and every reference in it resolves; each input type's example event is valid; the
JSON Schemas carry $schema, $id and examples; ingest's OpenAPI resolves and documents its errors."""

from __future__ import annotations

import json

import pytest

from contracts import export, parse_event
from contracts.asyncapi import asyncapi
from contracts.envelope import EVENT_TYPES, json_schemas
from contracts.topics import INPUT_FAMILIES, TOPICS, intake_topic
from services.ingest.api import create_app
from services.runtime.settings import Settings

pytestmark = pytest.mark.unit


def refs(node) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for v in node.values() for r in refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in refs(v)]
    return []


def resolve(doc: dict, ref: str):
    assert ref.startswith("#/"), ref
    node = doc
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def test_asyncapi_names_every_topic_and_every_reference_resolves():
    doc = asyncapi()
    assert doc["asyncapi"] == "3.0.0"
    addresses = {c["address"] for c in doc["channels"].values()}
    assert addresses == {s.name() for s in TOPICS.values()} | {intake_topic(f) for f in INPUT_FAMILIES}
    for ref in refs(doc):
        resolve(doc, ref)
    sends = {op["channel"]["$ref"] for op in doc["operations"].values() if op["action"] == "send"}
    assert sends == {f"#/channels/intake-{f.value}" for f in INPUT_FAMILIES}
    payment = doc["channels"]["intake-payment"]["messages"]
    assert set(payment) == {"payment-planned", "payment-made", "payment-returned"}


def test_every_input_type_has_a_valid_example_and_every_schema_its_id():
    examples = export.examples()
    inputs = {t for t, (_m, family) in EVENT_TYPES.items() if family in INPUT_FAMILIES}
    assert set(examples) == inputs
    for name, event in examples.items():
        assert parse_event(event, pii_key=b"k").type == name
    schemas = json_schemas(examples)
    assert all(s["$schema"] == "https://json-schema.org/draft/2020-12/schema" for s in schemas.values())
    assert schemas["payment.made"]["$id"] == "urn:fundwatch:schema:v1:payment.made"
    assert schemas["payment.made"]["examples"] == [examples["payment.made"]]


def test_ingest_openapi_resolves_and_documents_errors_and_the_key_scheme():
    app = create_app(Settings(database_url="sqlite+aiosqlite:///:memory:"))
    doc = app.openapi()
    assert "#/$defs" not in json.dumps(doc)
    for ref in refs(doc):
        resolve(doc, ref)
    events = doc["paths"]["/v1/events"]["post"]
    assert {"401", "403", "415", "422", "503"} <= set(events["responses"]) and events["security"] == [
        {"IngestApiKey": []}]
    body = events["requestBody"]["content"]
    assert set(body) == {"application/cloudevents+json", "application/cloudevents-batch+json", "application/json"}
    assert {t for t, (_m, f) in EVENT_TYPES.items() if f in INPUT_FAMILIES} == set(
        body["application/cloudevents+json"]["examples"])
    replay = doc["paths"]["/v1/deadletters/{letter_id}/replay"]["post"]["responses"]
    assert {"401", "403", "404", "409", "422"} <= set(replay)
    assert doc["components"]["securitySchemes"]["IngestApiKey"]["scheme"] == "bearer"
    assert doc["info"]["version"] == "1"


def _apps() -> dict:
    from services.access.api import create_app as access_app
    from services.alerts.api import create_app as alerts_app
    from services.ledger.api import create_app as ledger_app
    from services.notify.api import create_app as notify_app
    from services.runtime.db import make_engine

    settings = Settings(database_url="sqlite+aiosqlite:///:memory:", auth_secret="x" * 48)
    engine = make_engine(settings.database_url)  # never connected: the documents only
    return {"ingest": create_app(settings), "ledger": ledger_app(engine, None, settings),
            "alerts": alerts_app(engine, settings), "notify": notify_app(engine, None, settings),
            "access": access_app(engine, settings)}


@pytest.mark.parametrize("service", ["ingest", "ledger", "alerts", "notify", "access"])
def test_every_operation_of_every_service_documents_its_errors_and_the_bearer_scheme(service):
    doc = _apps()[service].openapi()
    assert doc["info"]["version"] == "1"  # one version scheme: the /v1 of the paths
    for ref in refs(doc):
        resolve(doc, ref)
    schemes = doc["components"]["securitySchemes"]
    assert schemes and all(s["type"] == "http" and s["scheme"] == "bearer" for s in schemes.values())
    operations = [(m.upper(), p, op) for p, ops in doc["paths"].items() for m, op in ops.items()]
    assert sum(1 for *_x, op in operations if "security" in op) >= 3
    for method, path, op in operations:
        responses, where = op["responses"], f"{service} {method} {path}"
        if "security" in op:
            assert "401" in responses, where
            assert "403" in responses or path.endswith("/status"), where
        if "{" in path:
            assert "404" in responses, where
        if "requestBody" in op or op.get("parameters"):
            assert "422" in responses, where
        for code, body in responses.items():
            if code.startswith(("4", "5")):
                assert body.get("content", {}).get("application/json", {}).get("schema"), f"{where} {code}"


def test_the_conflicts_the_services_give_are_documented():
    docs = {name: app.openapi() for name, app in _apps().items()}
    conflicts = {
        ("ingest", "post", "/v1/imports/{name}"), ("ingest", "post", "/v1/deadletters/{letter_id}/replay"),
        ("alerts", "post", "/v1/alerts/{alert_id}/dispositions"), ("access", "post", "/v1/applications"),
        ("access", "post", "/v1/applications/{application_id}/grant")}
    for service, method, path in conflicts:
        assert "409" in docs[service]["paths"][path][method]["responses"], (service, path)
    assert "429" in docs["access"]["paths"]["/v1/login"]["post"]["responses"]


def test_every_event_type_has_a_valid_example_in_its_schema_and_in_asyncapi():
    examples = export.all_examples()
    assert set(examples) == set(EVENT_TYPES)  # the platform's own types too
    for name, event in examples.items():
        assert parse_event(event, pii_key=b"k").type == name
    schemas = json_schemas(examples)
    assert all(schemas[name]["examples"] == [examples[name]] for name in EVENT_TYPES)
    messages = asyncapi()["components"]["messages"]
    for name in EVENT_TYPES:
        message = messages[name.replace(".", "-").replace("_", "-")]
        assert message["examples"][0]["payload"] == examples[name], name
