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
