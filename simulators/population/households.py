"""The draws a chunk of the population is made of: PINs, dates, addresses, one person.

`family.py` assembles these into households. Rows are lists while a household is
assembled (a dataclass and `astuple` cost 3× more) and become tuples on the way out; the
column positions are the constants below.
"""

from __future__ import annotations

import random
import unicodedata
from datetime import date, timedelta
from functools import cache
from typing import Any

from simulators.population import names
from simulators.population.pin import PROVINCE_CODES, province_name
from simulators.population.reference import (
    ETHNIC_GROUPS,
    ETHNIC_WEIGHTS,
    RELIGION_WEIGHTS,
    RELIGIONS,
    Unit,
    unit_for_prefix,
    ward_name,
)
from simulators.population.schema import COLUMN_INDEX

__all__ = ["Draws", "Home", "PinSpace"]

_C = COLUMN_INDEX
PIN, NAME, FORMER, DOB, SEX = (
    _C["pin"],
    _C["full_name"],
    _C["former_name"],
    _C["date_of_birth"],
    _C["sex"],
)
PROV, NATIVE, ETH, REL = (
    _C["birth_registration_province"],
    _C["native_place"],
    _C["ethnicity"],
    _C["religion"],
)
MARITAL, P_ADDR, P_WARD = _C["marital_status"], _C["permanent_address"], _C["permanent_ward"]
T_ADDR, T_WARD, C_ADDR, C_WARD = (
    _C["temporary_address"],
    _C["temporary_ward"],
    _C["current_address"],
    _C["current_ward"],
)
HOUSEHOLD, ROLE, FATHER, MOTHER = (
    _C["household_id"],
    _C["relationship_to_head"],
    _C["father_pin"],
    _C["mother_pin"],
)
SPOUSE, REP, CMND, PREVIOUS = (
    _C["spouse_pin"],
    _C["legal_representative_pin"],
    _C["cmnd"],
    _C["previous_pin"],
)
DEATH, VNEID, CASE = _C["date_of_death"], _C["vneid_level"], _C["hard_case"]
NATIONALITY = _C["nationality"]
_WIDTH = len(COLUMN_INDEX)

FIRST_BIRTH_YEAR = 1930
# Births are at least 20 calendar years after each parent's, so every parent is ≥18
# years older whatever the days of birth.
PARENT_GAP_YEARS = 20
ADULT_AGE = 18
NEWBORN_DAYS = 60  # a newborn's residence must be registered within 60 days (Decree 154/2024)

_PREFIXES = tuple(sorted(PROVINCE_CODES))
_NATIVE = {p: province_name(p) for p in _PREFIXES}
# Hà Nội and TP Hồ Chí Minh register far more births than any other province.
_province = names.Picker(_PREFIXES, [6.0 if p in ("001", "079") else 1.0 for p in _PREFIXES])
_big_city = names.Picker(("001", "079", "048", "092"), (4, 5, 1, 1))
_ethnicity = names.Picker(tuple(ETHNIC_GROUPS), ETHNIC_WEIGHTS)
_religion = names.Picker(RELIGIONS, RELIGION_WEIGHTS)
_children_wanted = names.Picker((0, 1, 2, 3, 4), (15, 25, 35, 18, 7))
_vneid = names.Picker((0, 1, 2), (20, 25, 55))


class PinSpace:
    """Collision-free serials: see the module docstring of generator.py."""

    MAX_CHUNKS = 2048
    ISSUED_PER_CHUNK = 400  # per PIN prefix; indices below 400 × 2048 are issued
    OLD_PER_CHUNK = 80  # then superseded PINs; the rest is never issued
    A, _B, _M = 792_413, 318_557, 1_000_000  # A coprime to M: x ↦ Ax+B is a bijection

    @classmethod
    def serial(cls, prefix: str, n: int, chunk: int, offset: int = 0) -> str:
        return cls._scramble(prefix, offset + n * cls.MAX_CHUNKS + chunk)

    @classmethod
    def _scramble(cls, prefix: str, x: int) -> str:
        # The prefix shifts the bijection, so first serials differ between prefixes.
        return f"{(x * cls.A + cls.shift(prefix)) % cls._M:06d}"

    @classmethod
    def shift(cls, prefix: str) -> int:
        return cls._B + int(prefix) * 7919

    @classmethod
    def unissued(cls, rng: random.Random) -> str:
        first = (cls.ISSUED_PER_CHUNK + cls.OLD_PER_CHUNK) * cls.MAX_CHUNKS
        x = rng.randrange(first, cls._M)
        digit = rng.choice("0123")
        prefix = f"{rng.choice(_PREFIXES)}{digit}{rng.randrange(100):02d}"
        return prefix + cls._scramble(prefix, x)


# Module globals read faster than class attributes in the per-citizen `Draws.pin`.
_A, _MAX_CHUNKS = PinSpace.A, PinSpace.MAX_CHUNKS


def _century_sex(sex: str, year: int) -> str:
    return str((year - 1900) // 100 * 2 + (sex == "female"))


class Draws:
    """The random draws of one chunk, from its own Random; no household logic here."""

    def __init__(self, seed: int, index: int, as_of: date) -> None:
        if not 0 <= index < PinSpace.MAX_CHUNKS:
            raise ValueError(f"chunk {index} is outside 0–{PinSpace.MAX_CHUNKS - 1}")
        self.rng = random.Random(f"{seed}/{index}")
        self.index = index
        self.as_of = as_of
        self.as_of_ordinal = as_of.toordinal()
        self.adult_cutoff = date(as_of.year - ADULT_AGE, as_of.month, min(as_of.day, 28))
        # Per (province, sex, year): [prefix, shift, PINs issued so far in this chunk].
        self._serials: dict[tuple[str, str, int], list[Any]] = {}
        self.superseded: dict[str, int] = {}
        self.households = 0
        self.pending_lookalike: tuple[str, str, str] | None = None
        self._years = tuple(range(FIRST_BIRTH_YEAR, as_of.year - 18))  # heads are adults
        self._iso, self._year_span = _date_table(as_of)
        self._template: list[object] = [None] * _WIDTH
        for column, value in ((ETH, "01"), (REL, "Không"), (NATIONALITY, "VN")):
            self._template[column] = value
        self._template[MARITAL], self._template[VNEID] = "single", 0
        self._head_year = names.Picker(
            self._years, [_head_weight(as_of.year - y) for y in self._years]
        )

    # -- identifiers ---------------------------------------------------------------------

    def pin(self, province: str, sex: str, year: int) -> str:
        # Same serial as PinSpace.serial, with the prefix and its shift computed once.
        state = self._serials.get((province, sex, year))
        if state is None:
            prefix = f"{province}{_century_sex(sex, year)}{year % 100:02d}"
            state = self._serials[province, sex, year] = [prefix, PinSpace.shift(prefix), 0]
        n = state[2]
        if n >= PinSpace.ISSUED_PER_CHUNK:
            raise RuntimeError(
                f"more than {PinSpace.ISSUED_PER_CHUNK} PINs under {state[0]} in one chunk"
            )
        state[2] = n + 1
        return f"{state[0]}{((n * _MAX_CHUNKS + self.index) * _A + state[1]) % 1_000_000:06d}"

    def old_pin(self, province: str, sex: str, year: int) -> str | None:
        prefix = f"{province}{_century_sex(sex, year)}{year % 100:02d}"
        n = self.superseded.get(prefix, 0)
        if n >= PinSpace.OLD_PER_CHUNK:
            return None  # rare enough to skip the hard case rather than collide
        self.superseded[prefix] = n + 1
        offset = PinSpace.ISSUED_PER_CHUNK * PinSpace.MAX_CHUNKS
        return prefix + PinSpace.serial(prefix, n, self.index, offset)

    def date_between(self, first: str, last_ordinal: int) -> str:
        start = min(date.fromisoformat(first).toordinal(), last_ordinal)
        span = last_ordinal - start
        return date.fromordinal(start + int(self.rng.random() * (span + 1))).isoformat()

    # -- people --------------------------------------------------------------------------

    def person(self, home: Home, sex: str, year: int, family: str, province: str) -> list[object]:
        # The hottest function of generation: the birth date is drawn inline, from a table
        # of ISO strings (date.fromordinal().isoformat() per citizen was a tenth of the
        # time), and the household's columns are set by one slice assignment.
        row = self._template.copy()
        rng = self.rng
        first, days = self._year_span[year]
        row[PIN] = self.pin(province, sex, year)
        row[NAME] = names.full_name(rng, sex, family)  # type: ignore[arg-type]
        row[DOB] = self._iso[first + int(rng.random() * days)]
        row[SEX], row[PROV], row[NATIVE] = sex, province, _NATIVE[province]
        row[P_ADDR : HOUSEHOLD + 1] = home.columns
        return row


@cache
def _date_table(as_of: date) -> tuple[tuple[str, ...], dict[int, tuple[int, int]]]:
    """Every day from 1900 to `as_of` as ISO text, and each year's (first index, days)."""
    first = date(1900, 1, 1).toordinal()
    iso = tuple(date.fromordinal(o).isoformat() for o in range(first, as_of.toordinal() + 1))
    spans = {}
    for year in range(1900, as_of.year + 1):
        start = date(year, 1, 1).toordinal() - first
        end = min(date(year, 12, 31).toordinal() - first, len(iso) - 1)
        spans[year] = (start, end - start + 1)
    return iso, spans


def _head_weight(age: int) -> float:
    """Household heads aged 18–95, weighted into a rough population pyramid."""
    if age < 25:
        return 0.4
    if age <= 55:
        return 1.0
    return max(0.05, 1.0 - (age - 55) / 35)


class Home:
    """A household's registered address; admitting a person makes them a member."""

    __slots__ = ("address", "columns", "household_id", "province", "ward")

    def __init__(self, builder: Draws) -> None:
        rng = builder.rng
        self.province = _province(rng)
        unit = unit_for_prefix(self.province)
        self.ward, self.address = _address(rng, unit)
        builder.households += 1
        self.household_id = f"HO{self.province}{builder.index:04d}{builder.households:06d}"
        # Columns P_ADDR to HOUSEHOLD of a member, in order (no temporary residence yet).
        columns: list[object] = [None] * (HOUSEHOLD + 1 - P_ADDR)
        for column, value in (
            (P_ADDR, self.address),
            (C_ADDR, self.address),
            (P_WARD, self.ward),
            (C_WARD, self.ward),
            (HOUSEHOLD, self.household_id),
        ):
            columns[column - P_ADDR] = value
        self.columns = columns

    def admit(self, row: list[object]) -> None:
        row[P_ADDR : HOUSEHOLD + 1] = self.columns

    @staticmethod
    def leave(row: list[object]) -> None:
        """Residence deleted (death) or never registered (newborn)."""
        for column in (P_ADDR, P_WARD, C_ADDR, C_WARD, HOUSEHOLD, ROLE):
            row[column] = None


def _address(rng: random.Random, unit: Unit) -> tuple[str, str]:
    # About 38 % of Vietnamese live in urban wards; the big cities far more.
    urban_share = 0.7 if unit.is_city else 0.3
    if unit.urban and (rng.random() < urban_share or not unit.rural):
        ward = unit.urban[int(rng.random() * len(unit.urban))]
        return ward, names.urban_address(rng, ward_name(ward), unit.name)
    ward = unit.rural[int(rng.random() * len(unit.rural))]
    return ward, names.rural_address(rng, ward_name(ward), unit.name)


def temporary_address(builder: Draws) -> tuple[str, str]:
    """Somewhere in a big city, where most people registered for temporary stay live."""
    return _address(builder.rng, unit_for_prefix(_big_city(builder.rng)))


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def as_of_minus_days(builder: Draws, days: int) -> str:
    return (builder.as_of - timedelta(days=days)).isoformat()


ethnicity, religion, vneid_level, children_wanted = _ethnicity, _religion, _vneid, _children_wanted
province_picker = _province
