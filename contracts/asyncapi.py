"""The AsyncAPI 3 document of fundwatch's topics, generated from `contracts.topics` (names, keys,
partitions) and the event contracts (payloads): what a stock Kafka client needs to produce to
the intake topics and to consume the platform's. Served by ingest at /v1/asyncapi.json and
exported to contracts/schemas/asyncapi.json (a test keeps it fresh)."""

from __future__ import annotations

from typing import Any

from contracts.envelope import ENVELOPES, EVENT_TYPES
from contracts.topics import INPUT_FAMILIES, INTAKE_PARTITIONS, TOPICS, Family, intake_topic

VERSION = "1"
_REF = "#/components/schemas/{model}"
_DEAD_LETTER = {
    "type": "object",
    "description": "a record a consumer refused; listed and replayed by GET /v1/deadletters and "
                   "`fundwatch deadletters`",
    "required": ["consumer", "at", "source_topic", "partition", "offset", "reason", "value"],
    "properties": {
        "consumer": {"type": "string", "description": "the consumer that refused it, e.g. ingest intake"},
        "at": {"type": "string", "format": "date-time", "description": "when it was refused"},
        "source_topic": {"type": "string"}, "partition": {"type": "integer"}, "offset": {"type": "integer"},
        "reason": {"type": "string"},
        "value": {"type": "string", "description": "the record, personal numbers masked"},
        "redacted": {"type": "boolean", "description": "masking changed it (replay a fixed copy)"},
        "headers": {"type": "array", "items": {"type": "array", "items": {"type": "string"}},
                    "description": "its headers, without authorization"},
        "client": {"type": "string"}, "region": {"type": "string"},
    },
}
_CREDENTIALS = {
    "type": "object", "required": ["authorization"],
    "properties": {
        "authorization": {"type": "string", "pattern": "^Bearer fwk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$",
                          "description": "the API key of your registered client (fundwatch client create)"},
        "content-type": {"type": "string", "enum": ["application/cloudevents+json", "application/json"],
                         "description": "structured mode (or omit it); binary mode: application/json with ce_* "
                                        "headers"},
        "ce_specversion": {"type": "string", "const": "1.0", "description": "binary mode: the ce_* attributes"},
    },
}


def _message_name(event_type: str) -> str:
    return event_type.replace(".", "-").replace("_", "-")


def asyncapi() -> dict[str, Any]:
    from contracts.export import all_examples  # export renders this document: imported when it is made

    examples = all_examples()
    schemas: dict[str, Any] = {"DeadLetter": _DEAD_LETTER}
    messages: dict[str, Any] = {}
    for name, envelope in ENVELOPES.items():
        schema = envelope.model_json_schema(ref_template=_REF)
        schemas.update(schema.pop("$defs", {}))
        schemas[envelope.__name__] = schema
        family = EVENT_TYPES[name][1]
        messages[_message_name(name)] = {
            "name": name, "title": schema.get("title", name), "summary": (envelope.__doc__ or "").split("\n")[0],
            "contentType": "application/cloudevents+json",
            "payload": {"$ref": _REF.format(model=envelope.__name__)},
            "bindings": {"kafka": {"key": {"type": "string", "description": TOPICS[family].key}}},
            **({"examples": [{"name": f"example-{_message_name(name)}", "payload": examples[name]}]}
               if name in examples else {}),
        }
    messages["dead-letter"] = {"name": "dead letter", "contentType": "application/json",
                               "payload": {"$ref": _REF.format(model="DeadLetter")}}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for family, spec in TOPICS.items():
        members = [m for m, (_model, f) in EVENT_TYPES.items() if f == family]
        refs = {_message_name(m): {"$ref": f"#/components/messages/{_message_name(m)}"} for m in members}
        if family == Family.deadletter:
            refs = {"dead-letter": {"$ref": "#/components/messages/dead-letter"}}
        config: dict[str, Any] = {"cleanup.policy": ["compact"]} if spec.compacted else {}
        channels[family.value] = {
            "address": spec.name(), "title": spec.name(), "description": spec.description, "messages": refs,
            "bindings": {"kafka": {"topic": spec.name(), "partitions": spec.partitions, "replicas": 1,
                                   **({"topicConfiguration": config} if config else {})}},
        }
        operations[f"receive-{family.value}"] = {
            "action": "receive", "channel": {"$ref": f"#/channels/{family.value}"},
            "summary": f"the platform's {family.value} stream (read-only for integrators)",
            "messages": [{"$ref": f"#/channels/{family.value}/messages/{m}"} for m in refs],
        }
        if family in INPUT_FAMILIES:
            intake = f"intake-{family.value}"
            channels[intake] = {
                "address": intake_topic(family), "title": intake_topic(family),
                "description": f"upstream systems that publish straight to Kafka write their {family.value} events "
                               "here (key: the fiscal unit, first 6 digits of `region`); ingest checks each record "
                               f"and forwards it to {spec.name()}, or dead-letters it with the reason",
                "messages": refs,
                "bindings": {"kafka": {"topic": intake_topic(family), "partitions": INTAKE_PARTITIONS, "replicas": 1}},
            }
            operations[f"send-{intake}"] = {
                "action": "send", "channel": {"$ref": f"#/channels/{intake}"},
                "summary": f"publish {family.value} events with your client's API key",
                "messages": [{"$ref": f"#/channels/{intake}/messages/{m}"} for m in refs],
                "traits": [{"$ref": "#/components/operationTraits/credentials"}],
            }
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "fundwatch topics", "version": VERSION,
                 "description": "财政扶贫资金动态监控: the Kafka topics of the platform. Upstream systems produce "
                                "CloudEvents 1.0 (structured, or binary with ce_* headers) to the intake topics; "
                                "topic names carry a configurable prefix (default fundwatch)."},
        "defaultContentType": "application/cloudevents+json",
        "servers": {"embedded": {"host": "127.0.0.1:19092", "protocol": "kafka",
                                 "description": "the embedded broker of `make run` (FUNDWATCH_KAFKA_BOOTSTRAP)"}},
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "messages": messages,
            "messageTraits": {"intake-headers": {"headers": _CREDENTIALS}},
            "operationTraits": {"credentials": {
                "description": "every intake record carries the header `authorization: Bearer fwk_…` (the "
                               "message trait intake-headers)"}},
        },
    }
