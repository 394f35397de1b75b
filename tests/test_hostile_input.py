"""Hostile input, refused at its cause (issue 10): one strict parser for region codes, money, IDs
and account numbers; no control or bidi-override characters; no pre-hashed personal data from
upstream; token decoding that refuses every forgery; dead letters without clear personal data;
body and nesting limits."""

from __future__ import annotations

import datetime as dt
import json

import jwt
import pytest
from pydantic import ValidationError

from contracts import parse_event
from contracts.types import keyed_hash, parse_money, parse_region
from services.ingest.validation import parse_body, validate_rows
from services.runtime.auth import Role, TokenError, issue_token, verify_token
from services.runtime.http import json_too_deep
from services.runtime.kafka import redact
from services.runtime.settings import Settings
from tests import factories as f
from tests.conftest import TEST_SECRET

KEY = b"k" * 16
SETTINGS = Settings(auth_secret=TEST_SECRET)


def refused(rows: list[dict]) -> list[tuple[int, str, str]]:
    events, errors = validate_rows(rows, KEY)
    assert events == [] or errors
    return [(e["row"], e["field"], e["message"]) for e in errors]


@pytest.mark.parametrize("code", ["410324\n", "410324１２３", "４１０３２４", "٤١٠٣٢٤", " 410324", "410324 ",
                                  "4103 24"])
def test_region_codes_are_ascii_and_matched_whole(code):
    with pytest.raises(ValueError, match="ASCII digits"):
        parse_region(code)
    [(row, field, _message)] = refused([f.registered("I1", "1.00", region=code)])
    assert (row, field) == (0, "region")


@pytest.mark.parametrize("amount,why", [
    ("1_0.00", "not a decimal number"), ("1e0", "not a decimal number"), ("１.００", "not a decimal number"),
    ("1.00\n", "not a decimal number"), (" 1.00", "not a decimal number"), ("NaN", "not a decimal number"),
    ("+1.00", "not a decimal number"), ("1.", "not a decimal number"), (".5", "not a decimal number"),
    ("1.234", "at most 2 decimal places"), ("-1.00", "must not be negative"),
    ("1000000000000", "exceeds one trillion"), (1, "a JSON number is refused"), (True, "a JSON number is refused"),
    (1.5, "floats are not exact"),
])
def test_money_is_only_a_decimal_string(amount, why):
    with pytest.raises(ValueError, match=why):
        parse_money(amount)
    [(row, field, message)] = refused([f.registered("I1", amount)])
    assert (row, field) == (0, "data.amount") and why in message


def test_money_that_is_well_formed_is_exact():
    assert str(parse_money("999999999999.99")) == "999999999999.99"
    assert str(parse_money("7")) == "7.00"


def test_full_width_digits_hash_like_their_ascii_form():
    ascii_id = f.citizen_id(4)
    wide_id = ascii_id.translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789"})
    account, wide_account = "6222020200112233445", "６２２２０２０２００１１２２３３４４５"
    raw_a, raw_b = f.payment("P1", "I1", "1.00", person=ascii_id), f.payment("P1", "I1", "1.00", person=wide_id)
    raw_a["data"]["payee"]["account"], raw_b["data"]["payee"]["account"] = account, wide_account
    a, b = parse_event(raw_a, pii_key=KEY), parse_event(raw_b, pii_key=KEY)
    assert a.data.payee.person == b.data.payee.person
    assert a.data.payee.person.hash == keyed_hash(KEY, ascii_id)
    assert a.data.payee.account == b.data.payee.account
    assert wide_id not in b.to_json().decode() and wide_account not in b.to_json().decode()


def test_pre_hashed_personal_references_are_refused_from_upstream_only():
    forged = f.payment("P1", "I1", "1.00", person=f.citizen_id(1))
    forged["data"]["payee"]["person"] = {"hash": "0" * 32, "masked": "410324199001011234"}
    [(row, field, message)] = refused([forged])
    assert (row, field) == (0, "data.payee.person") and "only the platform hashes" in message
    # inside the platform (no key: the log's own, already hashed form) the object is the normal case
    published = parse_event(f.payment("P1", "I1", "1.00", person=f.citizen_id(1)), pii_key=KEY).to_json()
    assert parse_event(published).data.payee.person.hash == keyed_hash(KEY, f.citizen_id(1))


@pytest.mark.parametrize("bad", ["张\x00三", "张三\u202e", "\u2066张三", "张\x1b[31m三", "张\x7f三", "张\x85三",
                                 "张\n三"])
def test_names_refuse_control_and_bidi_override_characters(bad):
    raw = f.payment("P1", "I1", "1.00")
    raw["data"]["payee"]["name"] = bad
    [(row, field, message)] = refused([raw])
    assert (row, field) == (0, "data.payee.name") and "not allowed" in message


def test_free_text_may_hold_lines_but_not_nul_or_bidi():
    ok = f.payment("P1", "I1", "1.00", purpose="到户增收补助\n第二批")
    assert validate_rows([ok], KEY)[1] == []
    bad = f.payment("P1", "I1", "1.00", purpose="到户\u202e增收")
    assert refused([bad])[0][:2] == (0, "data.purpose")
    bad_source = dict(ok, source="/treasury\x00/410324")
    assert refused([bad_source])[0][:2] == (0, "source")


def test_ids_are_ascii_and_whole():
    for bad in ("P1\n", "P１", "P 1", "P1\u202e"):
        raw = f.payment(bad, "I1", "1.00")
        assert ("data.payment_id" in {field for _, field, _ in refused([raw])}), bad


def test_nesting_is_bounded_and_parsing_never_recurses_out():
    assert not json_too_deep(json.dumps([f.payment("P1", "I1", "1.00")]).encode(), 32)
    assert json_too_deep(b"[" * 33 + b"]" * 33, 32)
    assert not json_too_deep(b'["' + b"[" * 100 + b'"]', 32)  # brackets inside a string do not count
    with pytest.raises(ValueError, match="nests too deep"):
        parse_body(b"[" * 100_000 + b"]" * 100_000)


def test_dead_letters_carry_no_clear_personal_data():
    person, account = f.citizen_id(2), "6222020200112233445"
    value = json.dumps({"data": {"payee": {"person": person, "account": account, "name": "张三"}}})
    reason = f"invalid event: 1 validation error … input_value='{account}' … {person}"
    red_value, red_reason = redact(value), redact(reason)
    for clear in (person, account):
        assert clear not in red_value and clear not in red_reason
    assert "6222***********3445" in red_value and "张三" in red_value
    assert "410324" in redact('{"region": "410324", "journal_seq": 12}')  # codes and numbers stay


# ---------------------------------------------------------------- tokens


def test_a_token_names_user_region_groups_and_roles():
    p = verify_token(SETTINGS, issue_token(SETTINGS, "li", "410324", ("agri",), roles=(Role.member, Role.auditor)))
    assert (p.user, p.region, p.groups, p.roles) == ("li", "410324", ("agri",), (Role.member, Role.auditor))
    assert verify_token(SETTINGS, issue_token(SETTINGS, "wang", "410000")).roles == (Role.treasury,)


def _forge(claims: dict, key: str = TEST_SECRET, alg: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=alg)


def _claims(**over) -> dict:
    now = dt.datetime.now(dt.UTC)
    base = {"iss": "fundwatch", "typ": "access", "sub": "li", "region": "410324", "groups": [], "roles": ["treasury"],
            "iat": now, "exp": now + dt.timedelta(minutes=5)}
    return {k: v for k, v in {**base, **over}.items() if v is not None}


@pytest.mark.parametrize("what,token", [
    ("alg none", jwt.encode(_claims(), None, algorithm="none")),
    ("other secret", _forge(_claims(), key="another-secret-of-thirty-two-bytes!!")),
    ("expired", _forge(_claims(exp=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))),
    ("malformed", "not.a.token"),
    ("no roles claim", _forge(_claims(roles=None))),
    ("no region claim", _forge(_claims(region=None))),
    ("no exp claim", _forge(_claims(exp=None))),
    ("other issuer", _forge(_claims(iss="elsewhere"))),
    ("refresh type", _forge(_claims(typ="refresh"))),
    ("unknown role", _forge(_claims(roles=["root"]))),
    ("empty roles", _forge(_claims(roles=[]))),
    ("region with newline", _forge(_claims(region="410324\n"))),
    ("user with bidi", _forge(_claims(sub="li\u202e"))),
    ("groups not a list", _forge(_claims(groups="agri"))),
    ("HS512", _forge(_claims(), alg="HS512")),
])
def test_forged_tokens_are_refused(what, token):
    with pytest.raises(TokenError):
        verify_token(SETTINGS, token)


def test_production_requires_a_real_token_secret(tmp_path):
    with pytest.raises(ValidationError, match="FUNDWATCH_AUTH_SECRET"):
        Settings(mode="production", pii_key="p" * 20)
    with pytest.raises(ValidationError, match="at least 32 bytes"):
        Settings(mode="production", pii_key="p" * 20, auth_secret="short")


def test_embedded_secret_is_random_private_and_kept(tmp_path):
    import stat

    a = Settings(secret_file=tmp_path / "var" / "auth-secret").token_secret()
    b = Settings(secret_file=tmp_path / "other" / "auth-secret").token_secret()
    assert a != b and len(a) >= 32
    mode = (tmp_path / "var" / "auth-secret").stat().st_mode
    assert stat.S_IMODE(mode) == 0o600
    assert Settings(secret_file=tmp_path / "var" / "auth-secret").token_secret() == a
    (tmp_path / "open").write_text("x" * 64)
    (tmp_path / "open").chmod(0o644)
    with pytest.raises(PermissionError, match="chmod 600"):
        Settings(secret_file=tmp_path / "open").token_secret()
