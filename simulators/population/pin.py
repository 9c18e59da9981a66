"""The 12-digit personal identification number, `PPP C YY RRRRRR` (DOMAIN.md §2).

PPP is the province where the birth was registered (the 63 legacy codes, with gaps),
C encodes century and sex, YY the last two digits of the birth year, RRRRRR is random.
There is no check digit, so structure is all that can be validated.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from typing import Literal

from simulators.common.resources import specs_dir

__all__ = [
    "PROVINCE_CODES",
    "InvalidPin",
    "PinInfo",
    "Sex",
    "decode_pin",
    "encode_pin",
    "is_valid_pin",
    "province_name",
    "province_unit_2025",
]

Sex = Literal["male", "female"]

PIN_LENGTH = 12
MAX_SERIAL = 999_999
FIRST_YEAR = 1900
LAST_YEAR = 2199


class InvalidPin(ValueError):
    """A string that is not a structurally valid PIN; the message says which part is wrong."""


@dataclass(frozen=True, slots=True)
class PinInfo:
    province_code: str
    sex: Sex
    birth_year: int
    serial: int


def _load_provinces() -> dict[str, tuple[str, str]]:
    # PINs are never renumbered, so prefixes are checked against the legacy 63-code table.
    path = specs_dir() / "data" / "provinces-legacy-63.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        rows = csv.DictReader(handle)
        return {r["pin_prefix"]: (r["legacy_province"], r["province_since_2025"]) for r in rows}


_PROVINCES = _load_provinces()
PROVINCE_CODES: frozenset[str] = frozenset(_PROVINCES)


def province_name(code: str) -> str:
    """The legacy province name for a PIN prefix; KeyError for a code not in the table."""
    return _PROVINCES[code][0]


def province_unit_2025(code: str) -> str:
    """The provincial unit (of the 34 since July 2025) a legacy prefix now belongs to."""
    return _PROVINCES[code][1]


def _century_digit(sex: Sex, birth_year: int) -> int:
    if not FIRST_YEAR <= birth_year <= LAST_YEAR:
        raise ValueError(f"birth year {birth_year} is outside {FIRST_YEAR}–{LAST_YEAR}")
    if sex not in ("male", "female"):
        raise ValueError(f"sex must be 'male' or 'female', got {sex!r}")
    century_index = (birth_year - FIRST_YEAR) // 100
    return century_index * 2 + (1 if sex == "female" else 0)


def encode_pin(province_code: str, sex: Sex, birth_year: int, serial: int) -> str:
    """Compose a PIN; ValueError for an unknown province, a year or serial out of range."""
    if province_code not in PROVINCE_CODES:
        raise ValueError(f"province code {province_code!r} is not one of the 63 legacy codes")
    if not 0 <= serial <= MAX_SERIAL:
        raise ValueError(f"serial {serial} is outside 0–{MAX_SERIAL}")
    digit = _century_digit(sex, birth_year)
    return f"{province_code}{digit}{birth_year % 100:02d}{serial:06d}"


def decode_pin(pin: str) -> PinInfo:
    """Split a PIN into its parts, or raise InvalidPin naming the part that is wrong."""
    if len(pin) != PIN_LENGTH:
        raise InvalidPin(f"a PIN has {PIN_LENGTH} digits; got {len(pin)} characters")
    if not (pin.isascii() and pin.isdigit()):
        raise InvalidPin("a PIN contains only the digits 0-9")
    province = pin[:3]
    if province not in PROVINCE_CODES:
        raise InvalidPin(f"unknown province prefix {province!r}; see provinces-legacy-63.csv")
    digit = int(pin[3])
    if digit > 5:
        raise InvalidPin(f"invalid century/sex digit {digit}; it must be 0-5")
    sex: Sex = "female" if digit % 2 else "male"
    birth_year = FIRST_YEAR + (digit // 2) * 100 + int(pin[4:6])
    return PinInfo(province, sex, birth_year, int(pin[6:]))


def is_valid_pin(pin: str) -> bool:
    try:
        decode_pin(pin)
    except InvalidPin:
        return False
    return True
