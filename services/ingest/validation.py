"""Validate raw upstream events into contract envelopes, with errors that name row and field."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from contracts.envelope import EVENT_TYPES, Envelope, parse_event
from contracts.topics import INPUT_FAMILIES


def _loc(loc: tuple) -> str:
    # Drop the discriminator tag pydantic inserts ("payment.made") so the path reads data.amount.
    parts = [str(p) for p in loc if not (isinstance(p, str) and p in EVENT_TYPES)]
    return ".".join(parts)


def validate_rows(rows: list[Any], pii_key: bytes) -> tuple[list[Envelope], list[dict]]:
    """Every row validated; (events, errors). Errors: {row, field, message, type}."""
    events: list[Envelope] = []
    errors: list[dict] = []
    seen: dict[str, Envelope] = {}
    for i, raw in enumerate(rows):
        if not isinstance(raw, dict):
            errors.append({"row": i, "field": "", "message": "event must be a JSON object", "type": "type_error"})
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
                errors.append({"row": i, "field": _loc(err["loc"]), "message": err["msg"], "type": err["type"]})
            continue
        previous = seen.get(event.id)
        if previous is not None:
            if previous != event:
                errors.append({"row": i, "field": "id", "type": "value_error",
                               "message": f"event id {event.id} repeats with different content"})
            continue  # identical repeat: publish once
        seen[event.id] = event
        events.append(event)
    return events, errors


def parse_body(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"body is not JSON: {exc}") from exc
