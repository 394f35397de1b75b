"""The SDK as the client of a running ingest: binary, structured, data_base64 and batch requests on
/v1/events are accepted and land on their topics with their trace context; other content types are
415; far-future and far-past times are 422 naming the field `time`, the row and the horizon."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from contracts import parse_event
from contracts.topics import Family
from tests import factories as f
from tests.clients import api_key, key_header
from tests.integration.sdk import TRACEPARENT, TRACESTATE, batch, binary, cloudevent, structured
from tests.test_ingest import read_all

pytestmark = pytest.mark.integration


def test_the_sdk_in_every_content_mode_is_accepted_and_its_trace_context_kept(ingest):
    key = api_key(ingest, "410324")
    url = f"{ingest.url('ingest')}/v1/events"
    sent = {"binary": f.registered("B1", "1.00"), "structured": f.registered("S1", "2.00"),
            "data_base64": f.registered("D1", "3.00"), "batch": f.registered("T1", "4.00")}
    ext = {"traceparent": TRACEPARENT, "tracestate": TRACESTATE}
    requests = {"binary": binary(cloudevent(sent["binary"], **ext)),
                "structured": structured(cloudevent(sent["structured"], **ext)),
                "data_base64": structured(cloudevent(sent["data_base64"], as_bytes=True, **ext)),
                "batch": batch([cloudevent(sent["batch"], **ext)])}
    for mode, (headers, body) in requests.items():
        r = httpx.post(url, content=body, headers={**headers, **key_header(key)}, timeout=30)
        assert (mode, r.status_code, r.json()["ids"]) == (mode, 202, [sent[mode]["id"]])
    batch_path = httpx.post(f"{url}/batch", content=requests["batch"][1],
                            headers={**requests["batch"][0], **key_header(key)}, timeout=30)
    assert batch_path.status_code == 202
    landed = {e.data.indicator_id: (e.traceparent, e.tracestate, e.authid is not None)
              for e in map(parse_event, asyncio.run(read_all(ingest, Family.indicator)))}
    assert landed == dict.fromkeys(("B1", "S1", "D1", "T1"), (TRACEPARENT, TRACESTATE, True))

    plain = httpx.post(url, content=b"{}", headers={"content-type": "text/plain", **key_header(key)}, timeout=30)
    assert plain.status_code == 415 and plain.json()["errors"][0]["field"] == "Content-Type"
    assert "application/cloudevents+json" in plain.json()["detail"]


def test_far_future_and_far_past_times_are_refused_naming_row_field_and_horizon(ingest):
    key = api_key(ingest, "410324")
    good = f.registered("I1", "1.00")
    future = {**f.registered("I2", "1.00"), "time": "9999-12-31T23:59:59+00:00"}
    past = {**f.registered("I3", "1.00"), "time": "1970-01-01T00:00:00+00:00"}
    r = httpx.post(f"{ingest.url('ingest')}/v1/events/batch", json=[good, future, past], headers=key_header(key),
                   timeout=30)
    assert r.status_code == 422
    errors = r.json()["errors"]
    assert [(e["row"], e["field"], e["type"]) for e in errors] == [(1, "time", "time_out_of_horizon"),
                                                                   (2, "time", "time_out_of_horizon")]
    assert "now + 366 days" in errors[0]["message"] and "now - 3660 days" in errors[1]["message"]
    assert asyncio.run(read_all(ingest, Family.indicator, timeout_ms=1500)) == []
