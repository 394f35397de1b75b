"""Validate raw upstream events into contract envelopes, with errors that name row and field."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from contracts.envelope import AUTH_ATTRIBUTES, EVENT_TYPES, Envelope, parse_event
from contracts.topics import INPUT_FAMILIES

Authorize = Callable[[list[tuple[int, Envelope]]], list[dict]]


@dataclass(frozen=True)
class Horizon:
    """The event times ingest takes: a far-future or far-past `time` would move the platform's
    clock (deadline rules would fire years early, date arithmetic overflows), so it is refused."""

    past_days: int
    future_days: int
    now: dt.datetime | None = None  # None: the wall clock at each check

    @classmethod
    def of(cls, settings: Any) -> Horizon:
        return cls(settings.ingest_max_past_days, settings.ingest_max_future_days)

    def refusal(self, time: dt.datetime) -> str | None:
        now = self.now or dt.datetime.now(dt.UTC)
        latest, earliest = now + dt.timedelta(days=self.future_days), now - dt.timedelta(days=self.past_days)
        if time > latest:
            return (f"time {time.isoformat()} is later than the horizon: now + {self.future_days} days "
                    f"({latest:%Y-%m-%d}, FUNDWATCH_INGEST_MAX_FUTURE_DAYS)")
        if time < earliest:
            return (f"time {time.isoformat()} is earlier than the horizon: now - {self.past_days} days "
                    f"({earliest:%Y-%m-%d}, FUNDWATCH_INGEST_MAX_PAST_DAYS)")
        return None


def _loc(loc: tuple) -> str:
    # Drop the discriminator tag pydantic inserts ("payment.made") so the path reads data.amount.
    parts = [str(p) for p in loc if not (isinstance(p, str) and p in EVENT_TYPES)]
    return ".".join(parts)


def _field(err: Any) -> str:
    loc = _loc(err["loc"])
    if err["type"] == "unsafe_text":  # a model-level check: the field is in its context
        return f"{loc}.{err['ctx']['field']}" if loc else err["ctx"]["field"]
    return loc


def validate_rows(rows: list[Any], pii_key: bytes, authorize: Authorize | None = None,
                  horizon: Horizon | None = None) -> tuple[list[Envelope], list[dict]]:
    """Every row validated; (events, errors). Errors: {row, field, message, type}. `authorize`
    sees each valid (row, event) and names those the sender may not send (type forbidden_*);
    `horizon` refuses event times too far from now."""
    events: list[Envelope] = []
    errors: list[dict] = []
    seen: dict[str, Envelope] = {}
    rows_of: list[tuple[int, Envelope]] = []
    for i, raw in enumerate(rows):
        if not isinstance(raw, dict):
            errors.append({"row": i, "field": "", "message": "event must be a JSON object", "type": "type_error"})
            continue
        try:
            raw = cloudevent_data(raw)
        except ValueError as exc:
            errors.append({"row": i, "field": str(exc.args[1]), "message": str(exc.args[0]), "type": "value_error"})
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
        beyond = horizon.refusal(event.time) if horizon is not None else None
        if beyond is not None:
            errors.append({"row": i, "field": "time", "message": beyond, "type": "time_out_of_horizon"})
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


def cloudevent_data(raw: dict) -> dict:
    """A CloudEvent as the contract reads it: `data_base64` decoded into `data` (JSON only) and a
    `datacontenttype` with parameters (charset) reduced to its media type. ValueError(message, field)."""
    out = raw
    content_type = raw.get("datacontenttype")
    if isinstance(content_type, str):
        kind = content_type.split(";", 1)[0].strip().lower()
        if kind != "application/json":
            raise ValueError(f"datacontenttype {kind} is not taken: event data is application/json", "datacontenttype")
        out = {**out, "datacontenttype": kind}
    if "data_base64" in raw:
        if "data" in raw:
            raise ValueError("an event has data or data_base64, not both", "data_base64")
        encoded = raw["data_base64"]
        try:
            data = json.loads(base64.b64decode(encoded, validate=True)) if isinstance(encoded, str) else None
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"data_base64 is not base64 of JSON data: {exc}", "data_base64") from None
        if data is None:
            raise ValueError("data_base64 must be a base64 string of JSON data", "data_base64")
        out = {k: v for k, v in out.items() if k != "data_base64"} | {"data": data}
    return out


def parse_body(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"body is not JSON: {exc}") from exc
    except RecursionError:  # nesting the depth check did not see (brackets hidden in strings)
        raise ValueError("body nests too deep") from None
