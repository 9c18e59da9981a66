"""The PIN codec: structure of DOMAIN.md §2, round trips and precise rejections."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulators.population.pin import (
    PROVINCE_CODES,
    InvalidPin,
    PinInfo,
    decode_pin,
    encode_pin,
    is_valid_pin,
    province_name,
)

provinces = st.sampled_from(sorted(PROVINCE_CODES))
sexes = st.sampled_from(["male", "female"])
years = st.integers(1900, 2199)
serials = st.integers(0, 999_999)


@given(provinces, sexes, years, serials)
def test_encode_decode_round_trip(province: str, sex: str, year: int, serial: int) -> None:
    pin = encode_pin(province, sex, year, serial)  # type: ignore[arg-type]
    assert len(pin) == 12 and pin.isdigit()
    assert decode_pin(pin) == PinInfo(province, sex, year, serial)  # type: ignore[arg-type]
    assert is_valid_pin(pin)


@pytest.mark.parametrize(
    ("year", "sex", "digit"),
    [
        (1900, "male", "0"),
        (1999, "female", "1"),
        (2000, "male", "2"),
        (2099, "female", "3"),
        (2100, "male", "4"),
        (2199, "female", "5"),
    ],
)
def test_century_sex_digit_table(year: int, sex: str, digit: str) -> None:
    pin = encode_pin("001", sex, year, 42)  # type: ignore[arg-type]
    assert pin[3] == digit
    assert pin[4:6] == f"{year % 100:02d}"
    assert pin == f"001{digit}{year % 100:02d}000042"


def test_prefix_table_has_63_codes_with_gaps() -> None:
    assert len(PROVINCE_CODES) == 63
    assert {"001", "002", "004", "079", "096"} <= PROVINCE_CODES
    assert not {"000", "003", "005", "097", "999"} & PROVINCE_CODES
    assert province_name("001") == "Hà Nội"
    assert province_name("079") == "Hồ Chí Minh"


@pytest.mark.parametrize(
    ("pin", "words"),
    [
        ("00109000001", "12 digits"),
        ("0010900000123", "12 digits"),
        ("", "12 digits"),
        ("00109000000A", "digits 0-9"),
        ("001 90000001", "digits 0-9"),
        ("００１０９００００００１", "digits 0-9"),
        ("003090000001", "unknown province prefix '003'"),
        ("000090000001", "unknown province prefix '000'"),
    ],
)
def test_rejections_say_what_is_wrong(pin: str, words: str) -> None:
    with pytest.raises(InvalidPin, match=words):
        decode_pin(pin)
    assert not is_valid_pin(pin)


@given(st.integers(6, 9), st.integers(0, 99), serials)
def test_century_digits_6_to_9_are_invalid(digit: int, yy: int, serial: int) -> None:
    pin = f"001{digit}{yy:02d}{serial:06d}"
    with pytest.raises(InvalidPin, match=f"century/sex digit {digit}"):
        decode_pin(pin)


@given(st.text(max_size=14))
def test_decode_never_fails_other_than_invalid_pin(text: str) -> None:
    with contextlib.suppress(InvalidPin):
        decode_pin(text)


def test_invalid_pin_is_a_value_error() -> None:
    assert issubclass(InvalidPin, ValueError)


@pytest.mark.parametrize("year", [1899, 2200, 1000])
def test_years_outside_1900_2199_cannot_be_encoded(year: int) -> None:
    with pytest.raises(ValueError, match="birth year"):
        encode_pin("001", "male", year, 1)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("003", "male", 1990, 1), "province code"),
        (("001", "male", 1990, 1_000_000), "serial"),
        (("001", "male", 1990, -1), "serial"),
        (("001", "other", 1990, 1), "sex"),
    ],
)
def test_encode_rejects_bad_parts(args: tuple[str, str, int, int], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        encode_pin(*args)  # type: ignore[arg-type]
