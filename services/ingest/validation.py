"""Validate raw upstream events into contract envelopes, with errors that name row and field."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from contracts.envelope import AUTH_ATTRIBUTES, EVENT_TYPES, Envelope, parse_event
from contracts.topics import INPUT_FAMILIES

Authorize = Callable[[list[tuple[int, Envelope]]], list[dict]]


def _loc(loc: tuple) -> str:
    # Drop the discriminator tag pydantic inserts ("payment.made") so the path reads data.amount.
    parts = [str(p) for p in loc if not (isinstance(p, str) and p in EVENT_TYPES)]
    return ".".join(parts)


def _field(err: Any) -> str:
    loc = _loc(err["loc"])
    if err["type"] == "unsafe_text":  # a model-level check: the field is in its context
        return f"{loc}.{err['ctx']['field']}" if loc else err["ctx"]["field"]
    return loc


def validate_rows(rows: list[Any], pii_key: bytes,
                  authorize: Authorize | None = None) -> tuple[list[Envelope], list[dict]]:
    """Every row validated; (events, errors). Errors: {row, field, message, type}. `authorize`
    sees each valid (row, event) and names those the sender may not send (type forbidden_*)."""
    events: list[Envelope] = []
    errors: list[dict] = []
    seen: dict[str, Envelope] = {}
    rows_of: list[tuple[int, Envelope]] = []
    for i, raw in enumerate(rows):
        if not isinstance(raw, dict):
            errors.append({"row": i, "field": "", "message": "event must be a JSON object", "type": "type_error"})
            continue
        stamped = [a for a in AUTH_ATTRIBUTES if a in raw]
        if stamped:
            errors.append({"row": i, "field": stamped[0], "type": "value_error",
                           "message": f"{stamped[0]} is set by the platform from your API key, not by the sender"})
            continue
        etype = raw.get("type")
        if etype in EVENT_TYPES and EVENT_TYPES[etype][1] not in INPUT_FAMILIES:
            errors.append({"row": i, "field": "type", "message": f"{etype} is produced by the platform, not ingested",
                           "type": "value_error"})
            continue
        try:
            event = parse_event(raw, pii_key=pii_key)
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                errors.append({"row": i, "field": _field(err), "message": err["msg"], "type": err["type"]})
            continue
        previous = seen.get(event.id)
        if previous is not None:
            if previous != event:
                errors.append({"row": i, "field": "id", "type": "value_error",
                               "message": f"event id {event.id} repeats with different content"})
            continue  # identical repeat: publish once
        seen[event.id] = event
        events.append(event)
        rows_of.append((i, event))
    if authorize is not None:
        errors += authorize(rows_of)
    return events, errors


def parse_body(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"body is not JSON: {exc}") from exc
    except RecursionError:  # nesting the depth check did not see (brackets hidden in strings)
        raise ValueError("body nests too deep") from None
