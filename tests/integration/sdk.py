"""The official CloudEvents SDK (2.x) as an integrator uses it: a test event dict → its CloudEvent,
and that event in each HTTP content mode."""

from __future__ import annotations

import datetime as dt
import json

from cloudevents.core.bindings import http as ce_http
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRACESTATE = "fundwatch=t61rcWkgMzE"


def cloudevent(raw: dict, *, as_bytes: bool = False, **extensions: str) -> CloudEvent:
    """The SDK's CloudEvent of a test event; `as_bytes`: data handed over as encoded bytes (the SDK
    then writes `data_base64` in structured mode)."""
    attributes = {k: v for k, v in raw.items() if k != "data"}
    attributes["time"] = dt.datetime.fromisoformat(raw["time"])
    attributes.update(extensions)
    attributes.setdefault("datacontenttype", "application/json")
    data = json.dumps(raw["data"], ensure_ascii=False).encode() if as_bytes else raw["data"]
    return CloudEvent(attributes, data)


def binary(event: CloudEvent) -> tuple[dict[str, str], bytes]:
    message = ce_http.to_binary_event(event)
    return dict(message.headers), message.body


def structured(event: CloudEvent) -> tuple[dict[str, str], bytes]:
    message = ce_http.to_structured_event(event)
    return dict(message.headers), message.body


def batch(events: list[CloudEvent]) -> tuple[dict[str, str], bytes]:
    """Batch mode: the SDK writes each event in the JSON format; the batch is their JSON array."""
    fmt = JSONFormat()
    return {"content-type": "application/cloudevents-batch+json"}, b"[" + b",".join(fmt.write(e) for e in events) + b"]"
