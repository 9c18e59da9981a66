"""Vietnamese names and address parts with realistic frequencies, all in NFC, as tables.

Family-name shares follow commonly cited survey figures (DOMAIN.md §3 [recall]); they
only need to look plausible to an agency's forms, not to match a census.

Generation draws indices into these tables, a whole chunk at a time, rather than
composing strings person by person: every `Family Middle Given` name is one entry of
`FULL_NAMES` (about 16,000 strings, built once per process), so a chunk's names are one
numpy index, and people with the same name share one str object, which the database
drivers then encode to UTF-8 only once.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Generic, TypeVar

import numpy as np
import numpy.typing as npt

__all__ = [
    "FAMILY",
    "FULL_NAMES",
    "HAS_NFD_FORM",
    "NFD_NAMES",
    "RURAL_HAMLETS",
    "URBAN_HOUSES",
    "Weighted",
    "given_index",
    "hamlet_index",
    "house_index",
    "lookalike",
    "middle_index",
    "name_index",
]

T = TypeVar("T")
Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]


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


class Weighted(Generic[T]):
    """Weighted choice for a whole array of uniforms at once: `pick(u)` gives the index
    into `values` for each u in [0, 1) (one `searchsorted`, whatever the array's size)."""

    __slots__ = ("_cum", "values")

    def __init__(self, values: Sequence[T], weights: Sequence[float]) -> None:
        self.values = tuple(values)
        cum = np.cumsum(np.asarray(weights, dtype=np.float64))
        # Normalised to end at exactly 1.0, so that every u < 1 lands on a value.
        self._cum = cum / cum[-1]

    def pick(self, u: Floats) -> Ints:
        return np.searchsorted(self._cum, u, side="right").astype(np.int64)


# Sex is 0 for male and 1 for female everywhere in generation: the parity of the PIN's
# century digit (DOMAIN.md §2).
_SEXES = ("male", "female")
FAMILY = Weighted(_FAMILY, [share for _, share in _FAMILY_SHARES])
_MIDDLE_PICKERS = tuple(Weighted(*_MIDDLE[sex]) for sex in _SEXES)
_MIDDLES: Ints = np.array([len(_MIDDLE[sex][0]) for sex in _SEXES])
_GIVENS: Ints = np.array([len(_GIVEN[sex]) for sex in _SEXES])


def _full_names() -> tuple[npt.NDArray[np.object_], Ints]:
    names: list[str] = []
    first = []
    for sex in _SEXES:
        first.append(len(names))
        middles, givens = _MIDDLE[sex][0], _GIVEN[sex]
        names += [f"{f} {m} {g}" for f in _FAMILY for m in middles for g in givens]
    return np.array(names, dtype=object), np.array(first)


FULL_NAMES, _FIRST = _full_names()
# The same names decomposed (NFD), as some legacy sources stored them; equal to the NFC
# form only for names without diacritics.
NFD_NAMES = np.array([unicodedata.normalize("NFD", n) for n in FULL_NAMES], dtype=object)
HAS_NFD_FORM = NFD_NAMES != FULL_NAMES


def middle_index(sex: Ints, u: Floats) -> Ints:
    return np.where(sex == 0, _MIDDLE_PICKERS[0].pick(u), _MIDDLE_PICKERS[1].pick(u))


def given_index(sex: Ints, u: Floats) -> Ints:
    """Given names are equally likely (for each sex)."""
    return (u * _GIVENS[sex]).astype(np.int64)


def name_index(sex: Ints, family: Ints, middle: Ints, given: Ints) -> Ints:
    """The position of `Family Middle Given` in FULL_NAMES."""
    return _FIRST[sex] + (family * _MIDDLES[sex] + middle) * _GIVENS[sex] + given


_TONES = frozenset("\u0300\u0301\u0303\u0309\u0323")


def lookalike(name: str) -> str:
    """The name with the given name's tone marks dropped (or an acute added): "Nguyễn Văn
    Hùng" → "Nguyễn Văn Hung". Such pairs are different people; matching must not fold
    diacritics."""
    *rest, given = name.split(" ")
    bare = "".join(c for c in unicodedata.normalize("NFD", given) if c not in _TONES)
    if bare == unicodedata.normalize("NFD", given):
        bare = bare[0] + bare[1:].replace("a", "a\u0301", 1) if "a" in bare[1:] else bare + "\u0301"
    return " ".join([*rest, unicodedata.normalize("NFC", bare)])


# The first part of an address, before ", ward, province" (the post-2025 form, with no
# district): a house on a street in an urban ward, a hamlet in a rural commune.
_HOUSES, _HAMLETS = 300, 12
URBAN_HOUSES = np.array(
    [f"Số {n}, đường {street}" for n in range(1, _HOUSES + 1) for street in _STREETS], dtype=object
)
RURAL_HAMLETS = np.array([f"Thôn {n}" for n in range(1, _HAMLETS + 1)], dtype=object)


def house_index(u_number: Floats, u_street: Floats) -> Ints:
    number = (u_number * _HOUSES).astype(np.int64)
    return number * len(_STREETS) + (u_street * len(_STREETS)).astype(np.int64)


def hamlet_index(u: Floats) -> Ints:
    return (u * _HAMLETS).astype(np.int64)
