"""Reference tables of the population record: ethnic groups, religions, 2025 divisions.

The 54 ethnic groups and their codes follow the General Statistics Office list (Kinh is
01, DOMAIN.md §3 [doc]); the shares are rounded 2019-census figures [recall]. The 34
provincial units and their 3,321 wards and communes since July 2025 come from the
`vietnam-provinces` package; PIN prefixes stay on the 63 legacy codes (DOMAIN.md §2).
`WARDS` lays the wards out as flat arrays, so the generator draws a chunk's addresses
with a few numpy operations.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cache

import numpy as np
import numpy.typing as npt
from vietnam_provinces import Province, Ward

from simulators.population.pin import PROVINCE_CODES, province_unit_2025

__all__ = [
    "ETHNIC_GROUPS",
    "ETHNIC_WEIGHTS",
    "MARITAL_STATUSES",
    "PROCESS_ORDER",
    "RELIGIONS",
    "RELIGION_WEIGHTS",
    "WARDS",
    "Unit",
    "WardTable",
    "unit_for_prefix",
    "ward_name",
]

_GROUPS = (
    "Kinh Tày Thái Hoa Khơ-me Mường Nùng HMông Dao Gia-rai Ngái Ê-đê Ba-na Xơ-đăng "
    "Sán_Chay Cơ-ho Chăm Sán_Dìu Hrê Mnông Ra-glai Xtiêng Bru-Vân_Kiều Thổ Giáy Cơ-tu "
    "Gié-Triêng Mạ Khơ-mú Co Tà-ôi Chơ-ro Kháng Xinh-mun Hà_Nhì Chu-ru Lào La_Chí La_Ha "
    "Phù_Lá La_Hủ Lự Lô_Lô Chứt Mảng Pà_Thẻn Cơ_Lao Cống Bố_Y Si_La Pu_Péo Brâu Ơ_Đu Rơ-măm"
)
# code → name, "01" Kinh … "54" Rơ-măm.
ETHNIC_GROUPS: dict[str, str] = {
    f"{i:02d}": unicodedata.normalize("NFC", name.replace("_", " "))
    for i, name in enumerate(_GROUPS.split(), start=1)
}
_MAJOR_SHARES = {"01": 85.3, "02": 1.9, "03": 1.9, "04": 0.8, "05": 1.3, "06": 1.5, "07": 1.1}
_MAJOR_SHARES |= {"08": 1.5, "09": 0.9, "10": 0.5, "12": 0.4, "13": 0.3}
ETHNIC_WEIGHTS: tuple[float, ...] = tuple(_MAJOR_SHARES.get(c, 0.06) for c in ETHNIC_GROUPS)

# Most Vietnamese declare no religion; the six largest registered ones follow [recall].
RELIGIONS = (
    "Không",
    "Công giáo",
    "Phật giáo",
    "Tin lành",
    "Phật giáo Hòa Hảo",
    "Cao Đài",
)
RELIGION_WEIGHTS = (86.3, 6.1, 4.8, 1.0, 1.0, 0.6)
MARITAL_STATUSES = ("single", "married", "widowed", "divorced")

# The legacy table still names Thừa Thiên Huế, which became the city of Huế in 2025.
_UNIT_ALIASES = {"Thừa Thiên Huế": "Huế"}


@dataclass(frozen=True, slots=True)
class Unit:
    """A provincial unit of 2025 with its wards (urban) and communes (rural) as codes."""

    code: str
    name: str
    urban: tuple[str, ...]
    rural: tuple[str, ...]
    is_city: bool


@cache
def _units() -> dict[str, Unit]:
    wards: dict[int, tuple[list[str], list[str]]] = {}
    for ward in Ward.iter_all():
        urban, rural = wards.setdefault(int(ward.province_code), ([], []))
        (urban if ward.division_type.value == "phường" else rural).append(f"{int(ward.code):05d}")
    units: dict[str, Unit] = {}
    for province in Province.iter_all():
        urban, rural = wards[int(province.code)]
        short = province.name.removeprefix("Thành phố ").removeprefix("Tỉnh ")
        is_city = province.division_type.value != "tỉnh"
        unit = Unit(f"{int(province.code):02d}", province.name, tuple(urban), tuple(rural), is_city)
        units[unicodedata.normalize("NFC", short)] = unit
    return units


@cache
def unit_for_prefix(prefix: str) -> Unit:
    """The 2025 provincial unit that a legacy PIN prefix's province belongs to."""
    name = unicodedata.normalize("NFC", province_unit_2025(prefix))
    return _units()[_UNIT_ALIASES.get(name, name)]


@cache
def ward_name(code: str) -> str:
    return unicodedata.normalize("NFC", Ward.from_code(int(code)).name)  # type: ignore[arg-type]


def _check_every_prefix_has_a_unit() -> None:
    # Fails at import, loudly, if the legacy table and the package ever disagree.
    for prefix in PROCESS_ORDER:
        unit_for_prefix(prefix)


PROCESS_ORDER = tuple(sorted(PROVINCE_CODES))
_check_every_prefix_has_a_unit()


@dataclass(frozen=True, slots=True)
class WardTable:
    """Every ward and commune of 2025 in one flat list, grouped by provincial unit, and for
    each legacy prefix (in PROCESS_ORDER) where its unit's urban wards and rural communes
    start in that list and how many there are."""

    codes: npt.NDArray[np.object_]  # ward code, e.g. "00004"
    places: npt.NDArray[np.object_]  # ", <ward name>, <unit name>": the end of an address
    urban_start: npt.NDArray[np.int64]
    urban_count: npt.NDArray[np.int64]
    rural_start: npt.NDArray[np.int64]
    rural_count: npt.NDArray[np.int64]
    is_city: npt.NDArray[np.bool_]


def _ward_table() -> WardTable:
    codes: list[str] = []
    places: list[str] = []
    spans: dict[str, tuple[int, int, int, int]] = {}
    for unit in _units().values():
        start = len(codes)
        codes += [*unit.urban, *unit.rural]
        places += [f", {ward_name(code)}, {unit.name}" for code in (*unit.urban, *unit.rural)]
        spans[unit.code] = (start, len(unit.urban), start + len(unit.urban), len(unit.rural))
    units = [unit_for_prefix(p) for p in PROCESS_ORDER]
    span = np.array([spans[u.code] for u in units], dtype=np.int64)  # one row per prefix
    return WardTable(
        codes=np.array(codes, dtype=object),
        places=np.array(places, dtype=object),
        urban_start=span[:, 0],
        urban_count=span[:, 1],
        rural_start=span[:, 2],
        rural_count=span[:, 3],
        is_city=np.array([u.is_city for u in units]),
    )


WARDS = _ward_table()
