"""Contracts: exact money, region codes, personal data, every event type, exported schemas."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from contracts import EVENT_TYPES, TOPICS, parse_event
from contracts.export import SCHEMA_DIR, rendered
from contracts.types import (
    citizen_id_checksum_ok,
    fiscal_unit,
    from_fen,
    region_level,
    region_within,
    to_fen,
)
from tests import factories as f

KEY = b"test-key"


def errors_of(raw: dict) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as info:
        parse_event(raw, pii_key=KEY)
    return [(".".join(str(p) for p in e["loc"][1:]), e["msg"]) for e in info.value.errors()]


def test_money_is_exact_and_refuses_floats():
    ok = parse_event(f.registered("I1", "1234.5"), pii_key=KEY)
    assert ok.data.amount == Decimal("1234.50")
    assert to_fen(ok.data.amount) == 123450
    assert from_fen(123450) == Decimal("1234.50")
    assert any("floats are not exact" in m for _, m in errors_of(f.registered("I1", 1234.5)))
    assert any("at most 2 decimal places" in m for _, m in errors_of(f.registered("I1", "1.234")))
    assert any("must not be negative" in m for _, m in errors_of(f.registered("I1", "-1")))
    assert any("not a decimal number" in m for _, m in errors_of(f.registered("I1", "12,00")))


def test_integer_money_is_refused_since_the_schema_says_string():
    assert any("a JSON number is refused" in m for _, m in errors_of(f.registered("I1", 100)))
    assert parse_event(f.registered("I1", "100"), pii_key=KEY).data.amount == Decimal("100.00")


@pytest.mark.parametrize("code,level", [("000000", "central"), ("410000", "province"), ("410300", "city"),
                                        ("410324", "county"), ("410324100", "township")])
def test_region_levels(code, level):
    assert region_level(code) == level


def test_region_scope_is_a_prefix_check():
    assert region_within("410324", "410300")
    assert region_within("410324100", "410324")
    assert not region_within("410423", "410300")
    assert region_within("410423", "000000")
    assert fiscal_unit("410324100") == "410324"


@pytest.mark.parametrize("bad", ["41032", "4103240", "990000", "410024", "abcdef"])
def test_bad_region_codes_are_refused_naming_the_field(bad):
    errs = errors_of(f.registered("I1", "1", region=bad))
    assert [field for field, _ in errs] == ["region"]


def test_citizen_id_checksum():
    assert citizen_id_checksum_ok("11010519491231002X")
    assert not citizen_id_checksum_ok("110105194912310021")
    assert citizen_id_checksum_ok(f.citizen_id(7))


def test_personal_data_is_hashed_at_ingest_and_refused_in_clear_elsewhere():
    raw = f.payment("P1", "I1", "100.00", person=f.citizen_id(1))
    event = parse_event(raw, pii_key=KEY)
    person = event.data.payee.person
    assert len(person.hash) == 32 and f.citizen_id(1) not in event.to_json().decode()
    assert person.masked.startswith("4103") and "*" in person.masked
    # The published form parses again (downstream) without the key, and hashes are stable.
    again = parse_event(event.to_json())
    assert again.data.payee.person == person
    assert parse_event(raw, pii_key=KEY).data.payee.person.hash == person.hash
    assert parse_event(raw, pii_key=b"other").data.payee.person.hash != person.hash
    with pytest.raises(ValidationError, match="only accepted by ingest"):
        parse_event(raw)


def test_invalid_citizen_id_names_the_field():
    raw = f.payment("P1", "I1", "100.00", person="110105194912310021")
    assert ("data.payee.person", "Value error, not a valid 18-character citizen ID number (GB 11643 check digit)") \
        in errors_of(raw)


def test_subsidy_lines_must_add_up_to_the_amount():
    raw = f.payment("P1", "I1", "100.00", person=f.citizen_id(1), subsidy_lines=[
        {"person": f.citizen_id(1), "name": "王五", "payable": "60", "paid": "60"}])
    assert any("differs from amount" in m for _, m in errors_of(raw))


def test_unknown_fields_and_types_are_refused():
    raw = f.registered("I1", "1")
    raw["data"]["colour"] = "red"
    assert ("data.colour", "Extra inputs are not permitted") in errors_of(raw)
    raw = f.event("indicator.vanished", {})
    with pytest.raises(ValidationError, match="does not match any of the expected tags"):
        parse_event(raw, pii_key=KEY)


def test_upper_transfer_registration_needs_its_link():
    raw = f.registered("I2", "10", source="upper_transfer")
    assert any("upper_indicator_id" in m for _, m in errors_of(raw))


def test_every_event_type_has_a_topic_and_a_schema():
    schemas = rendered()
    for event_type, (_model, family) in EVENT_TYPES.items():
        assert family in TOPICS
        assert f"{event_type}.json" in schemas


def test_exported_json_schemas_are_up_to_date():
    """Fails when a contract changed without `fundwatch schemas` (make schemas) being run."""
    stale = [name for name, text in rendered().items()
             if not (SCHEMA_DIR / name).exists() or (SCHEMA_DIR / name).read_text(encoding="utf-8") != text]
    extra = {p.name for p in SCHEMA_DIR.glob("*.json")} - set(rendered())
    assert not stale and not extra, f"stale: {stale}, extra: {extra}; run `make schemas`"


def test_every_published_event_parses_again_downstream():
    """What ingest publishes (to_json) is what consumers parse: nulls included (USE-02 payments)."""
    from services import demo

    for raw in demo.iter_events(size=300):
        event = parse_event(raw, pii_key=KEY)
        assert parse_event(event.to_json()) == event
