"""Vietnamese name and address parts with realistic frequencies, all in NFC.

Family-name shares follow commonly cited survey figures (DOMAIN.md §3 [recall]); they
only need to look plausible to an agency's forms, not to match a census.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Sequence
from itertools import accumulate
from typing import Literal

__all__ = ["address", "family_name", "full_name"]


def _nfc(words: Sequence[str]) -> tuple[str, ...]:
    # Source files can be saved decomposed by some editors; normalise once at import.
    return tuple(unicodedata.normalize("NFC", w) for w in words)


# (family name, share in percent); the remainder is spread over the long tail.
_FAMILY_SHARES = (
    ("Nguyễn", 38.0),
    ("Trần", 11.0),
    ("Lê", 9.5),
    ("Phạm", 7.0),
    ("Hoàng", 3.0),
    ("Huỳnh", 2.0),
    ("Phan", 4.5),
    ("Vũ", 2.2),
    ("Võ", 1.7),
    ("Đặng", 2.1),
    ("Bùi", 2.0),
    ("Đỗ", 1.4),
    ("Hồ", 1.3),
    ("Ngô", 1.3),
    ("Dương", 1.0),
    ("Lý", 0.5),
    ("Đinh", 0.9),
    ("Trương", 0.8),
    ("Lương", 0.6),
    ("Mai", 0.6),
    ("Trịnh", 0.6),
    ("Đào", 0.5),
    ("Cao", 0.4),
    ("Lâm", 0.4),
    ("Hà", 0.4),
    ("Tạ", 0.3),
    ("Châu", 0.3),
    ("Tô", 0.3),
    ("Quách", 0.2),
    ("Thái", 0.2),
    ("La", 0.2),
)
_FAMILY = _nfc([name for name, _ in _FAMILY_SHARES])
_FAMILY_CUM = tuple(accumulate(share for _, share in _FAMILY_SHARES))

_MIDDLE = {
    "male": (
        _nfc(["Văn", "Đức", "Minh", "Quang", "Hữu", "Công", "Thanh", "Ngọc", "Xuân"]),
        (40, 10, 10, 8, 8, 6, 6, 6, 6),
    ),
    "female": (
        _nfc(["Thị", "Ngọc", "Thu", "Thanh", "Minh", "Kim", "Phương", "Hồng"]),
        (45, 12, 10, 8, 7, 6, 6, 6),
    ),
}

_GIVEN = {
    "male": _nfc(
        [
            "An",
            "Bình",
            "Cường",
            "Dũng",
            "Đức",
            "Hải",
            "Hiếu",
            "Hùng",
            "Huy",
            "Khánh",
            "Khoa",
            "Long",
            "Minh",
            "Nam",
            "Phong",
            "Phúc",
            "Quân",
            "Sơn",
            "Tài",
            "Thắng",
            "Thành",
            "Trung",
            "Tuấn",
            "Việt",
            "Vinh",
            "Bảo",
            "Đạt",
            "Hoàng",
            "Kiên",
            "Tùng",
        ]
    ),
    "female": _nfc(
        [
            "An",
            "Anh",
            "Chi",
            "Dung",
            "Giang",
            "Hà",
            "Hạnh",
            "Hằng",
            "Hoa",
            "Hương",
            "Lan",
            "Linh",
            "Mai",
            "My",
            "Ngân",
            "Ngọc",
            "Nhung",
            "Oanh",
            "Phương",
            "Quỳnh",
            "Thảo",
            "Thu",
            "Trang",
            "Uyên",
            "Vân",
            "Vy",
            "Yến",
            "Hiền",
            "Loan",
            "Tâm",
        ]
    ),
}

_STREETS = _nfc(
    [
        "Lê Lợi",
        "Trần Hưng Đạo",
        "Nguyễn Huệ",
        "Hai Bà Trưng",
        "Lý Thường Kiệt",
        "Quang Trung",
        "Nguyễn Trãi",
        "Lê Duẩn",
        "Điện Biên Phủ",
        "Phan Đình Phùng",
        "Hùng Vương",
        "Bà Triệu",
        "Nguyễn Du",
        "Trần Phú",
        "Lê Thánh Tông",
    ]
)
_WARDS = _nfc(
    [
        "Bến Thành",
        "Hoàn Kiếm",
        "Ba Đình",
        "Tân Định",
        "Hòa Bình",
        "Thống Nhất",
        "Trung Tâm",
        "Đông Hòa",
        "Tân An",
        "Phú Lợi",
        "Hồng Hà",
        "Quyết Thắng",
    ]
)
# Centrally-run cities are written "TP ..."; the rest are provinces ("tỉnh ...").
_CITIES = frozenset(_nfc(["Hà Nội", "Hải Phòng", "Đà Nẵng", "Hồ Chí Minh", "Cần Thơ", "Huế"]))


def family_name(rng: random.Random) -> str:
    return rng.choices(_FAMILY, cum_weights=_FAMILY_CUM)[0]


def full_name(rng: random.Random, sex: Literal["male", "female"], family: str) -> str:
    """`Family Middle Given`, family name first, e.g. "Nguyễn Văn An"."""
    middles, weights = _MIDDLE[sex]
    middle = rng.choices(middles, weights=weights)[0]
    given = rng.choice(_GIVEN[sex])
    return f"{family} {middle} {given}"


def address(rng: random.Random, province_unit: str) -> str:
    """A permanent address in the post-2025 form: house, street, ward, province (no district)."""
    unit = unicodedata.normalize("NFC", province_unit)
    prefix = "TP" if unit in _CITIES else "tỉnh"
    house = rng.randint(1, 300)
    return f"Số {house}, đường {rng.choice(_STREETS)}, phường {rng.choice(_WARDS)}, {prefix} {unit}"
