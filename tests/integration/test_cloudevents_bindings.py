"""CloudEvents bindings, pure: the SDK's binary, structured (also with data_base64) and batch HTTP
messages and Kafka records read into the same contract events; other content types refused; the
trace context an event carries reaches the alert it raises (through the real alerts engine)."""

from __future__ import annotations

import pytest
from cloudevents.core.bindings import kafka as ce_kafka

from services.alerts.worker.app import transition_event
from services.ingest import bindings
from services.ingest.validation import validate_rows
from tests import factories as f
from tests.alerts.harness import PII_KEY, Harness
from tests.integration.sdk import TRACEPARENT, TRACESTATE, batch, binary, cloudevent, structured

pytestmark = pytest.mark.unit
PERSON, OTHER = f.citizen_id(7), f.citizen_id(8, county="410325")


def lower(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def read(headers: dict[str, str], body: bytes, *, batch_path: bool = False):
    events, errors = validate_rows(bindings.from_http(lower(headers), body, batch=batch_path), PII_KEY)
    assert errors == []
    return events


def subsidy(payment_id: str) -> dict:
    e = f.payment(payment_id, "IND-1", "8000.00", person=PERSON, payment_date="2026-03-02",
                  subsidy_lines=[{"person": PERSON, "name": "王五", "subsidy_type": "到户增收", "payable": "8000.00",
                                  "paid": "8000.00"}])
    e["time"] = "2026-03-02T10:00:00+08:00"
    return e


def test_every_sdk_content_mode_reads_into_the_same_event_with_its_trace_context():
    raw = f.registered("I1", "10.00")
    ce = cloudevent(raw, traceparent=TRACEPARENT, tracestate=TRACESTATE)
    modes = {"binary": read(*binary(ce)), "structured": read(*structured(ce)),
             "data_base64": read(*structured(cloudevent(raw, as_bytes=True, traceparent=TRACEPARENT,
                                                        tracestate=TRACESTATE))),
             "batch": read(*batch([ce])), "batch path": read(*batch([ce]), batch_path=True)}
    assert "data_base64" in structured(cloudevent(raw, as_bytes=True))[1].decode()
    for mode, events in modes.items():
        assert [(e.id, e.type, e.region, e.data.indicator_id, str(e.data.amount), e.traceparent, e.tracestate)
                for e in events] == [(raw["id"], "indicator.registered", "410324", "I1", "10.00", TRACEPARENT,
                                      TRACESTATE)], mode


def test_kafka_binary_and_structured_records_read_into_the_same_event():
    raw = f.registered("I1", "10.00")
    ce = cloudevent(raw, traceparent=TRACEPARENT)
    got = []
    for message in (ce_kafka.to_binary_event(ce), ce_kafka.to_structured_event(ce)):
        headers = list(message.headers.items())
        events, errors = validate_rows([bindings.from_kafka(headers, message.value)], PII_KEY)
        assert errors == []
        got.append([(e.id, e.data.indicator_id, e.traceparent) for e in events])
    assert got == [[(raw["id"], "I1", TRACEPARENT)]] * 2


def test_content_types_other_than_the_bindings_are_415_and_a_bad_base64_names_its_field():
    raw = f.registered("I1", "10.00")
    for headers, batch_path in (({"content-type": "text/plain"}, False), ({}, False),
                                ({"content-type": "application/cloudevents+json"}, True),
                                ({"content-type": "application/xml", "ce-specversion": "1.0"}, False)):
        with pytest.raises(bindings.Unsupported):
            bindings.from_http(headers, b"{}", batch=batch_path)
    with pytest.raises(bindings.Malformed, match="JSON array"):
        bindings.from_http({"content-type": "application/cloudevents-batch+json"}, b"{}", batch=False)
    bad = {k: v for k, v in raw.items() if k != "data"} | {"data_base64": "not base64!"}
    _events, errors = validate_rows([raw, bad], PII_KEY)
    assert [(e["row"], e["field"]) for e in errors] == [(1, "data_base64")]
    xml = {**raw, "datacontenttype": "application/xml"}
    _events, errors = validate_rows([xml], PII_KEY)
    assert [(e["row"], e["field"]) for e in errors] == [(0, "datacontenttype")]


def test_a_plain_w3c_traceparent_header_traces_events_that_carry_none():
    raw = f.registered("I1", "10.00")
    headers, body = structured(cloudevent(raw))
    events = read({**headers, "traceparent": TRACEPARENT}, body)
    assert [e.traceparent for e in events] == [TRACEPARENT]
    own = "00-11111111111111111111111111111111-2222222222222222-01"
    events = read({**headers, "traceparent": TRACEPARENT}, structured(cloudevent(raw, traceparent=own))[1])
    assert [e.traceparent for e in events] == [own]  # the event's own context wins


def test_the_traceparent_sent_with_a_payment_is_on_the_alert_it_raised():
    """BEN-01: a subsidy paid to a person registered as poor in another county, sent by the SDK
    in binary mode with a trace context; the alert the engine raises carries that traceparent."""
    household = read(*structured(cloudevent(f.household(OTHER))))
    payment = read(*binary(cloudevent(subsidy("ZF1"), traceparent=TRACEPARENT, tracestate=TRACESTATE)))
    h = Harness()
    h.feed([*household, *payment])
    h.flush()
    alerts = [transition_event(t).data for t in h.raised("BEN-01")]
    assert [(a.rule_id, a.subject.split("/person/")[0], a.traceparent) for a in alerts] == [
        ("BEN-01", "payment/ZF1", TRACEPARENT)]
    assert alerts[0].evidence_event_ids[-1] == payment[0].id
