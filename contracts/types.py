"""Value types shared by every event family: exact money, region codes, personal data.

Money is decimal yuan with at most two places on the wire ("1234.50") and integer fen
in storage. Floats are refused: 0.1 + 0.2 is not a sum a finance bureau accepts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import unicodedata
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
)

MAX_YUAN = Decimal("1000000000000")  # one trillion yuan: far above any single indicator


_MONEY_RE = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,2})?", re.ASCII)


def parse_money(value: Any) -> Decimal:
    """The one parser of amounts: a decimal string of yuan on the wire (the schema says string), a
    Decimal from inside the platform. ASCII digits only, full match: "1_0.00", "1e0", "１.００",
    " 1.00", floats and JSON integers are refused."""
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, str):
        if not _MONEY_RE.fullmatch(value):
            if value.startswith("-"):
                raise ValueError("money must not be negative (corrections use red-ink events)")
            if re.fullmatch(r"[0-9]+\.[0-9]{3,}", value, re.ASCII):
                raise ValueError("money has at most 2 decimal places (fen)")
            if re.fullmatch(r"[0-9]{13,}(\.[0-9]*)?", value, re.ASCII):
                raise ValueError("money exceeds one trillion yuan")
            raise ValueError(f"money {value[:40]!r} is not a decimal number: write yuan as ASCII digits with at "
                             "most 2 decimals, e.g. '1234.50'")
        amount = Decimal(value)
    elif isinstance(value, float):
        raise ValueError("money must be a decimal string such as '1234.50' (floats are not exact)")
    else:
        raise ValueError("money must be a decimal string such as '1234.50' (a JSON number is refused)")
    if not amount.is_finite():
        raise ValueError("money must be finite")
    if amount.as_tuple().exponent < -2:  # type: ignore[operator]
        raise ValueError("money has at most 2 decimal places (fen)")
    if amount < 0:
        raise ValueError("money must not be negative (corrections use red-ink events)")
    if amount >= MAX_YUAN:
        raise ValueError("money exceeds one trillion yuan")
    return amount.quantize(Decimal("0.01"))


_parse_money = parse_money


Money = Annotated[
    Decimal,
    BeforeValidator(parse_money),
    WithJsonSchema(
        {"type": "string", "pattern": r"^[0-9]{1,12}(\.[0-9]{1,2})?$", "description": "yuan, at most 2 decimals"}
    ),
]
"""Exact amount in yuan (元), two decimal places at most, never negative."""


def to_fen(amount: Decimal) -> int:
    """Yuan → integer fen (分), exactly."""
    fen = amount * 100
    if fen != fen.to_integral_value():
        raise ValueError(f"{amount} has fractions of a fen")
    return int(fen)


def from_fen(fen: int) -> Decimal:
    return (Decimal(fen) / 100).quantize(Decimal("0.01"))


# ---------------------------------------------------------------- region codes (GB/T 2260)

CENTRAL = "000000"
_REGION_RE = re.compile(r"[0-9]{6}|[0-9]{9}|[0-9]{12}", re.ASCII)  # fullmatch: "410324\n" is refused
_PROVINCE_PREFIXES = {
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
    "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64",
    "65", "71", "81", "82",
}


class RegionLevel(StrEnum):
    """Administrative level of a fiscal unit (中央/省/市/县/乡)."""

    central = "central"
    province = "province"
    city = "city"
    county = "county"
    township = "township"


def parse_region(code: Any) -> str:
    """The one parser of region codes: 6, 9 or 12 ASCII digits, the whole string (no trailing
    newline, no full-width digits), a known province prefix, no county without a city."""
    if not isinstance(code, str) or not _REGION_RE.fullmatch(code):
        raise ValueError("region code must be 6, 9 or 12 ASCII digits (GB/T 2260)")
    if code != CENTRAL and code[:2] not in _PROVINCE_PREFIXES:
        raise ValueError(f"region code {code} has no valid province prefix")
    if len(code) == 6 and code != CENTRAL and code[2:4] == "00" and code[4:6] != "00":
        raise ValueError(f"region code {code} has a county part without a city part")
    return code


_check_region = parse_region

RegionCode = Annotated[
    str,
    AfterValidator(parse_region),
    WithJsonSchema({"type": "string", "pattern": r"^[0-9]{6}([0-9]{3}){0,2}$", "examples": ["410324"],
                    "description": "GB/T 2260 region code: 6, 9 or 12 digits"}),
]


def region_level(code: str) -> RegionLevel:
    if code == CENTRAL:
        return RegionLevel.central
    if len(code) > 6:
        return RegionLevel.township
    if code[2:] == "0000":
        return RegionLevel.province
    if code[4:] == "00":
        return RegionLevel.city
    return RegionLevel.county


def region_prefix(code: str) -> str:
    """The code prefix that every region under `code` starts with ('' for central)."""
    level = region_level(code)
    return {
        RegionLevel.central: "",
        RegionLevel.province: code[:2],
        RegionLevel.city: code[:4],
        RegionLevel.county: code[:6],
        RegionLevel.township: code,
    }[level]


def region_within(code: str, scope: str) -> bool:
    """True when `code` lies under (or is) the region `scope` — the three-tier scope check."""
    return code.startswith(region_prefix(scope))


def fiscal_unit(code: str) -> str:
    """County-level fiscal unit a region belongs to (townships roll up to their county)."""
    return code[:6]


# ---------------------------------------------------------------- personal data (seed 000 art. 25)


class PersonalRef(BaseModel):
    """A citizen ID or bank account number after ingest: keyed hash for matching, mask for display.

    The clear value never travels past ingest; upstream systems send the clear value and
    ingest replaces it (see `protect`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hash: str = Field(pattern=r"^[0-9a-f]{32}$", description="HMAC-SHA256 (first 128 bits) of the clear value")
    masked: str = Field(max_length=40, description="display form, e.g. 4103**********1234")


_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


_CITIZEN_ID_RE = re.compile(r"[0-9]{17}[0-9X]", re.ASCII)
_ACCOUNT_RE = re.compile(r"[0-9]{8,30}", re.ASCII)


def citizen_id_checksum_ok(value: str) -> bool:
    """GB 11643 check digit of an 18-character resident identity number (ASCII, full match)."""
    if not _CITIZEN_ID_RE.fullmatch(value):
        return False
    total = sum(int(d) * w for d, w in zip(value[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == value[17]


def citizen_id_check_char(first17: str) -> str:
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def keyed_hash(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:32]


def mask(value: str) -> str:
    if len(value) <= 8:
        return value[:1] + "*" * (len(value) - 1)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def normalise_personal(value: str) -> str:
    """NFKC first, so that full-width digits (１２３) are the ASCII number they look like and hash
    the same (duplicate matching cannot be dodged by the width of a digit); then trimmed, upper case."""
    return unicodedata.normalize("NFKC", value).strip().upper()


def parse_citizen_id(value: str) -> str:
    clear = normalise_personal(value)
    if not citizen_id_checksum_ok(clear):
        raise ValueError("not a valid 18-character citizen ID number (GB 11643 check digit)")
    return clear


def parse_account_no(value: str) -> str:
    clear = normalise_personal(value)
    if not _ACCOUNT_RE.fullmatch(clear):
        raise ValueError("bank account number must be 8 to 30 digits")
    return clear


_PARSERS = {"citizen_id": parse_citizen_id, "account": parse_account_no}


def _personal(kind: str):
    parse = _PARSERS[kind]

    def validate(value: Any, info: ValidationInfo) -> Any:
        key = (info.context or {}).get("pii_key")
        if not isinstance(value, str):
            if key:  # from upstream: a hash we did not compute could fake or dodge matching, a mask could be clear
                raise ValueError("send the clear value: only the platform hashes personal data "
                                 "(a {hash, masked} object is refused at ingest)")
            return value  # inside the platform: a PersonalRef (or a dict of one), model validation follows
        clear = parse(value)
        if not key:
            raise ValueError("clear personal data is only accepted by ingest; send {hash, masked}")
        # Both values are computed here, so skip re-validating them (half of ingest's CPU).
        return PersonalRef.model_construct(hash=keyed_hash(key, clear), masked=mask(clear))

    return validate


_HASHED_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "hash": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
        "masked": {"type": "string", "maxLength": 40},
    },
    "required": ["hash", "masked"],
}
# What upstream sends (validation) is the clear value; what the platform publishes is the hash and mask.
CitizenId = Annotated[
    PersonalRef,
    BeforeValidator(_personal("citizen_id")),
    WithJsonSchema({"type": "string", "pattern": "^[0-9]{17}[0-9X]$",
                    "description": "clear citizen ID (GB 11643), accepted by ingest only"}, mode="validation"),
    WithJsonSchema(_HASHED_SCHEMA, mode="serialization"),
]
"""Resident identity number (身份证号): clear at ingest, keyed hash afterwards."""
AccountNo = Annotated[
    PersonalRef,
    BeforeValidator(_personal("account")),
    WithJsonSchema({"type": "string", "pattern": "^[0-9]{8,30}$",
                    "description": "clear bank account number, accepted by ingest only"}, mode="validation"),
    WithJsonSchema(_HASHED_SCHEMA, mode="serialization"),
]
"""Bank account number (银行账号): clear at ingest, keyed hash afterwards."""

# ---------------------------------------------------------------- identifiers and text

# Codes and ids are matched whole, as sent: no stripping of a trailing newline into a valid id.
_AS_SENT = StringConstraints(strip_whitespace=False)
FundCode = Annotated[str, _AS_SENT, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.-]+$")]
ProjectCode = Annotated[str, _AS_SENT, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.-]+$")]
Identifier = Annotated[str, _AS_SENT, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")]
# Patterns run on pydantic's Rust regex engine: `$` is the end of the text there, but `\d` is any
# Unicode digit, so digits are spelled [0-9].
FunctionalClass = Annotated[str, _AS_SENT, Field(pattern=r"^[0-9]{3}([0-9]{2}){0,2}$",
                                       description="支出功能分类科目, e.g. 2130504")]
EconomicClass = Annotated[str, _AS_SENT, Field(pattern=r"^[0-9]{3}([0-9]{2}){0,2}$", description="支出经济分类科目, e.g. 30305")]
BudgetYear = Annotated[int, Field(ge=2000, le=2100)]
Text = Annotated[str, Field(max_length=500)]


FIRST_DAY = dt.date(2000, 1, 1)
LAST_DAY = dt.date(2100, 12, 31)


def _check_business_date(value: dt.date) -> dt.date:
    if not FIRST_DAY <= value <= LAST_DAY:
        raise ValueError(f"date must lie between {FIRST_DAY} and {LAST_DAY} (the budget years the platform holds)")
    return value


BusinessDate = Annotated[dt.date, AfterValidator(_check_business_date)]
"""A business date (payment date, registration date, deadline …) within the budget years the
platform holds (2000–2100, as `BudgetYear`): deadlines and periods are computed from it, so a
year-9999 date is refused at the door rather than overflowing a calendar later."""

SubsidyPeriod = Annotated[str, Field(pattern=r"^(19|20|21)\d{2}(-(H[12]|Q[1-4]|0[1-9]|1[0-2]))?$",
                                     examples=["2026", "2026-H1", "2026-Q2", "2026-03"])]
"""The period a per-person subsidy is for (补贴所属期): a year, half-year, quarter or month."""

# C0 and C1 control characters (NUL included), DEL, and the bidi embeddings/overrides/isolates that
# make text display otherwise than it reads (U+202A–U+202E, U+2066–U+2069).
_UNSAFE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_UNSAFE_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")  # tab, newlines kept
FREE_TEXT_FIELDS = frozenset({"findings", "reason", "purpose", "details", "last_error"})
"""Fields of free text (several lines allowed); every other string is a name or code on one line."""


def check_text(value: str, *, multiline: bool = False) -> str:
    """Refuse control and bidi-override characters: names and codes on one line; free text may
    hold tabs and line breaks."""
    bad = (_UNSAFE_TEXT if multiline else _UNSAFE_LINE).search(value)
    if bad:
        raise ValueError(f"control or bidi-override character U+{ord(bad.group()):04X} at position {bad.start()} "
                         "is not allowed")
    return value
