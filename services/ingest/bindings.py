"""CloudEvents protocol bindings: an HTTP request or a Kafka record → the raw events it carries
(dicts for `validation.validate_rows`, the one contract check of every way in).

HTTP (CloudEvents HTTP binding 1.0): binary mode (`ce-*` headers, the event's `data` as the body),
structured mode (`application/cloudevents+json`), batch mode (`application/cloudevents-batch+json`);
plain `application/json` is read as structured (one object) or batch (an array). Anything else is
415. Kafka (Kafka binding 1.0): binary mode (`ce_*` headers, `data` as the value) or structured
(the value is the event). Only JSON data is taken (`datacontenttype` application/json)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote

CE_JSON = "application/cloudevents+json"
CE_BATCH = "application/cloudevents-batch+json"
JSON = "application/json"
TRACE_HEADERS = ("traceparent", "tracestate")


class Unsupported(ValueError):
    """A content type ingest does not take (HTTP 415)."""


class Malformed(ValueError):
    """A body that is not what its content type says (HTTP 422)."""

    def __init__(self, message: str, kind: str = "json_invalid") -> None:
        super().__init__(message)
        self.kind = kind


def media_type(content_type: str | None) -> str:
    """`application/json; charset=utf-8` → `application/json`."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_json(content_type: str | None) -> bool:
    return media_type(content_type) == JSON


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise Malformed(f"body is not JSON: {exc}") from exc
    except RecursionError:  # nesting the depth check did not see (brackets hidden in strings)
        raise Malformed("body nests too deep") from None


def from_http(headers: Mapping[str, str], body: bytes, *, batch: bool) -> list[Any]:
    """The raw events of a request to /v1/events (`batch` False: one event, or a batch by its
    content type) or /v1/events/batch (`batch` True: a batch only). Header names lower-case."""
    content_type = headers.get("content-type")
    kind = media_type(content_type)
    if "ce-specversion" in headers:
        if batch:
            raise Unsupported(f"a batch is sent as {CE_BATCH}, not in binary mode (ce-* headers)")
        if not is_json(content_type):
            raise Unsupported(f"binary mode: the data's Content-Type must be {JSON}, not {kind or 'missing'}")
        attributes = {name[3:]: unquote(value) for name, value in headers.items() if name.startswith("ce-")}
        rows: list[Any] = [{**attributes, "datacontenttype": JSON, "data": parse_json(body)}]
    elif kind == CE_JSON:
        if batch:
            raise Unsupported(f"a batch is sent as {CE_BATCH} (or a JSON array as {JSON}), not as {CE_JSON}")
        rows = [_object(parse_json(body))]
    elif kind == CE_BATCH or (kind == JSON and batch):
        rows = parse_json(body)
        if not isinstance(rows, list):
            raise Malformed("batch body must be a JSON array", "list_type")
    elif kind == JSON:
        raw = parse_json(body)
        rows = raw if isinstance(raw, list) else [_object(raw)]
    else:
        raise Unsupported(f"Content-Type {kind or 'missing'} is not taken: send {CE_JSON}, {CE_BATCH}, "
                          f"{JSON} or binary mode (ce-* headers with {JSON} data)")
    return [_traced(row, headers) for row in rows]


def _object(raw: Any) -> Any:
    if isinstance(raw, list):
        raise Malformed(f"one event is a JSON object; send a batch as {CE_BATCH}", "dict_type")
    return raw


def _traced(row: Any, headers: Mapping[str, str]) -> Any:
    """The W3C trace headers of the request, for an event that carries no trace context of its own."""
    if not isinstance(row, dict) or any(name in row for name in TRACE_HEADERS):
        return row
    found = {name: headers[name] for name in TRACE_HEADERS if name in headers}
    return {**row, **found} if "traceparent" in found else row


def from_kafka(headers: Iterable[tuple[str, bytes]], value: bytes | None) -> Any:
    """The raw event of a Kafka record: binary mode when it has a `ce_specversion` header, else
    structured (the value is the whole event)."""
    found = {name.lower(): (raw or b"").decode("utf-8", "replace") for name, raw in headers}
    if "ce_specversion" in found:
        content_type = found.get("content-type", JSON)
        if not is_json(content_type):
            raise Unsupported(f"binary mode: the record's content-type must be {JSON}, not {media_type(content_type)}")
        attributes = {name[3:]: v for name, v in found.items() if name.startswith("ce_")}
        return {**attributes, "datacontenttype": JSON, "data": parse_json(value or b"")}
    structured_type = found.get("content-type")
    if structured_type is not None and media_type(structured_type) not in (CE_JSON, JSON):
        raise Unsupported(f"structured mode: the record's content-type must be {CE_JSON}, "
                          f"not {media_type(structured_type)}")
    return parse_json(value or b"")
