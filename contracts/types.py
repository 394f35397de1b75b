"""Value types shared by every event family: exact money, region codes, personal data.

Money is decimal yuan with at most two places on the wire ("1234.50") and integer fen
in storage. Floats are refused: 0.1 + 0.2 is not a sum a finance bureau accepts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
)

MAX_YUAN = Decimal("1000000000000")  # one trillion yuan: far above any single indicator


def _parse_money(value: Any) -> Decimal:
    if isinstance(value, bool) or isinstance(value, float):
        raise ValueError("money must be a decimal string such as '1234.50' (floats are not exact)")
    if isinstance(value, int):
        value = Decimal(value)
    elif isinstance(value, str):
        try:
            value = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"money {value!r} is not a decimal number") from None
    elif not isinstance(value, Decimal):
        raise ValueError("money must be a decimal string such as '1234.50'")
    if not value.is_finite():
        raise ValueError("money must be finite")
    if value.as_tuple().exponent < -2:  # type: ignore[operator]
        raise ValueError("money has at most 2 decimal places (fen)")
    if value < 0:
        raise ValueError("money must not be negative (corrections use red-ink events)")
    if value >= MAX_YUAN:
        raise ValueError("money exceeds one trillion yuan")
    return value.quantize(Decimal("0.01"))


Money = Annotated[
    Decimal,
    BeforeValidator(_parse_money),
    WithJsonSchema(
        {"type": "string", "pattern": r"^\d{1,12}(\.\d{1,2})?$", "description": "yuan, at most 2 decimals"}
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
_REGION_RE = re.compile(r"^(\d{6}|\d{9}|\d{12})$")
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


def _check_region(code: str) -> str:
    if not isinstance(code, str) or not _REGION_RE.match(code):
        raise ValueError("region code must be 6, 9 or 12 digits (GB/T 2260)")
    if code != CENTRAL and code[:2] not in _PROVINCE_PREFIXES:
        raise ValueError(f"region code {code} has no valid province prefix")
    if len(code) == 6 and code != CENTRAL and code[2:4] == "00" and code[4:6] != "00":
        raise ValueError(f"region code {code} has a county part without a city part")
    return code


RegionCode = Annotated[str, AfterValidator(_check_region), Field(examples=["410324"])]


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


def citizen_id_checksum_ok(value: str) -> bool:
    """GB 11643 check digit of an 18-character resident identity number."""
    if not re.fullmatch(r"\d{17}[\dX]", value):
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


def _personal(kind: str):
    def validate(value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, str):
            return value  # already a PersonalRef (or a dict of one): model validation follows
        clear = value.strip().upper()
        if kind == "citizen_id" and not citizen_id_checksum_ok(clear):
            raise ValueError("not a valid 18-character citizen ID number (GB 11643 check digit)")
        if kind == "account" and not re.fullmatch(r"\d{8,30}", clear):
            raise ValueError("bank account number must be 8 to 30 digits")
        key = (info.context or {}).get("pii_key")
        if not key:
            raise ValueError("clear personal data is only accepted by ingest; send {hash, masked}")
        # Both values are computed here, so skip re-validating them (half of ingest's CPU).
        return PersonalRef.model_construct(hash=keyed_hash(key, clear), masked=mask(clear))

    return validate


_PERSONAL_SCHEMA = {
    "anyOf": [
        {"type": "string", "description": "clear value, accepted by ingest only"},
        {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "hash": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
                "masked": {"type": "string", "maxLength": 40},
            },
            "required": ["hash", "masked"],
        },
    ]
}
CitizenId = Annotated[PersonalRef, BeforeValidator(_personal("citizen_id")), WithJsonSchema(_PERSONAL_SCHEMA)]
"""Resident identity number (身份证号): clear at ingest, keyed hash afterwards."""
AccountNo = Annotated[PersonalRef, BeforeValidator(_personal("account")), WithJsonSchema(_PERSONAL_SCHEMA)]
"""Bank account number (银行账号): clear at ingest, keyed hash afterwards."""

FundCode = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.-]+$")]
ProjectCode = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.-]+$")]
Identifier = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")]
FunctionalClass = Annotated[str, Field(pattern=r"^\d{3}(\d{2}){0,2}$", description="支出功能分类科目, e.g. 2130504")]
EconomicClass = Annotated[str, Field(pattern=r"^\d{3}(\d{2}){0,2}$", description="支出经济分类科目, e.g. 30305")]
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
