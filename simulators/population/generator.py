"""Deterministic synthetic citizens grouped in households.

Rows come from `iter_citizens` as plain tuples in CITIZEN_COLUMNS order, so a bulk loader
for another database (PostgreSQL COPY, later) can consume the same stream;
`generate_population` is the SQLite path.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import astuple, dataclass
from datetime import date, timedelta
from pathlib import Path

from simulators.population import names
from simulators.population.pin import (
    MAX_SERIAL,
    PROVINCE_CODES,
    Sex,
    encode_pin,
    province_unit_2025,
)
from simulators.population.store import CitizenRow, PopulationStore

__all__ = ["REFERENCE_DATE", "generate_population", "iter_citizens"]

# The synthetic "today": fixed, so the seed alone decides every row.
REFERENCE_DATE = date(2025, 7, 1)
FIRST_BIRTH_YEAR = 1930
# Births are at least 20 calendar years after each parent's, so every parent is ≥18
# years older whatever the days of birth.
PARENT_GAP_YEARS = 20

_PROVINCES = tuple(sorted(PROVINCE_CODES))
# Hà Nội and TP Hồ Chí Minh register far more births than any other province.
_PROVINCE_WEIGHTS = tuple(6.0 if code in ("001", "079") else 1.0 for code in _PROVINCES)


@dataclass(slots=True)
class _Person:
    """A citizen while its household is assembled; field order is CITIZEN_COLUMNS."""

    pin: str
    full_name: str
    date_of_birth: str
    sex: Sex
    birth_registration_province: str
    permanent_address: str
    household_id: str
    relationship_to_head: str
    father_pin: str | None = None
    mother_pin: str | None = None
    spouse_pin: str | None = None
    date_of_death: str | None = None


def _head_birth_years() -> tuple[tuple[int, ...], tuple[float, ...]]:
    """Household heads aged 18–95, weighted into a rough population pyramid."""
    years = tuple(range(FIRST_BIRTH_YEAR, REFERENCE_DATE.year - 17))
    weights = tuple(_head_weight(REFERENCE_DATE.year - y) for y in years)
    return years, weights


def _head_weight(age: int) -> float:
    if age < 25:
        return 0.4
    if age <= 55:
        return 1.0
    return max(0.05, 1.0 - (age - 55) / 35)


_HEAD_YEARS, _HEAD_WEIGHTS = _head_birth_years()


class _HouseholdBuilder:
    """Draws households from one Random; remembers PINs so none repeats."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.pins: set[str] = set()
        self.households = 0

    def province(self) -> str:
        return self.rng.choices(_PROVINCES, weights=_PROVINCE_WEIGHTS)[0]

    def pin_for(self, province: str, sex: Sex, birth_year: int) -> str:
        serial = self.rng.randint(0, MAX_SERIAL)
        pin = encode_pin(province, sex, birth_year, serial)
        while pin in self.pins:  # a collision: take the next free serial
            serial = (serial + 1) % (MAX_SERIAL + 1)
            pin = encode_pin(province, sex, birth_year, serial)
        self.pins.add(pin)
        return pin

    def birth_date(self, year: int) -> date:
        start = date(year, 1, 1)
        end = min(date(year, 12, 31), REFERENCE_DATE)
        return start + timedelta(days=self.rng.randint(0, (end - start).days))

    def person(
        self, home: _Home, sex: Sex, year: int, family: str, role: str, province: str
    ) -> _Person:
        born = self.birth_date(year)
        return _Person(
            pin=self.pin_for(province, sex, year),
            full_name=names.full_name(self.rng, sex, family),
            date_of_birth=born.isoformat(),
            sex=sex,
            birth_registration_province=province,
            permanent_address=home.address,
            household_id=home.household_id,
            relationship_to_head=role,
        )

    def household(self, room: int) -> list[_Person]:
        """One household of at most `room` people: a head, maybe a spouse and children."""
        self.households += 1
        home = _Home.draw(self, self.households)
        head_sex: Sex = "male" if self.rng.random() < 0.75 else "female"
        head_year = self.rng.choices(_HEAD_YEARS, weights=_HEAD_WEIGHTS)[0]
        head = self.person(
            home,
            head_sex,
            head_year,
            names.family_name(self.rng),
            "chủ hộ",
            self._own_province(home),
        )
        if room == 1 or self.rng.random() < 0.12:
            return [head]
        spouse = self._spouse(home, head, head_year)
        return [head, spouse, *self._children(home, head, spouse, room - 2)]

    def _own_province(self, home: _Home) -> str:
        # Most adults live where their birth was registered; some moved.
        return home.province if self.rng.random() < 0.7 else self.province()

    def _spouse(self, home: _Home, head: _Person, head_year: int) -> _Person:
        sex: Sex = "female" if head.sex == "male" else "male"
        gap = self.rng.randint(0, 6)
        year = head_year + gap if sex == "female" else head_year - gap
        year = max(FIRST_BIRTH_YEAR, min(year, REFERENCE_DATE.year - 18))
        role = "vợ" if sex == "female" else "chồng"
        spouse = self.person(
            home, sex, year, names.family_name(self.rng), role, self._own_province(home)
        )
        spouse.spouse_pin, head.spouse_pin = head.pin, spouse.pin
        if year < 1950 and self.rng.random() < 0.25:
            spouse.date_of_death = self.birth_date(self.rng.randint(2010, 2024)).isoformat()
        return spouse

    def _children(self, home: _Home, a: _Person, b: _Person, room: int) -> list[_Person]:
        father, mother = (a, b) if a.sex == "male" else (b, a)
        years = [int(p.date_of_birth[:4]) for p in (father, mother)]
        first, last = max(years) + PARENT_GAP_YEARS, min(min(years) + 42, REFERENCE_DATE.year)
        wanted = self.rng.choices((0, 1, 2, 3, 4), weights=(15, 25, 35, 18, 7))[0]
        if first > last or room <= 0:
            return []
        family = father.full_name.split(" ")[0]
        children = []
        for year in sorted(self.rng.randint(first, last) for _ in range(min(wanted, room))):
            sex: Sex = "male" if self.rng.random() < 0.51 else "female"
            child = self.person(home, sex, year, family, "con", home.province)
            child.father_pin, child.mother_pin = father.pin, mother.pin
            children.append(child)
        return children


@dataclass(frozen=True, slots=True)
class _Home:
    household_id: str
    province: str
    address: str

    @classmethod
    def draw(cls, builder: _HouseholdBuilder, number: int) -> _Home:
        province = builder.province()
        address = names.address(builder.rng, province_unit_2025(province))
        return cls(f"HO{province}{number:09d}", province, address)


def iter_citizens(count: int, *, seed: int = 0) -> Iterator[CitizenRow]:
    """`count` citizens as CITIZEN_COLUMNS tuples; the same seed yields the same rows."""
    if count < 0:
        raise ValueError(f"count must be 0 or more, got {count}")
    builder = _HouseholdBuilder(seed)
    produced = 0
    while produced < count:
        for person in builder.household(count - produced):
            yield astuple(person)
            produced += 1


def generate_population(db_path: Path | str, count: int, *, seed: int = 0) -> int:
    """Fill an empty store at `db_path` with `count` synthetic citizens; returns the count."""
    store = PopulationStore(db_path)
    try:
        if store.count():
            raise ValueError(
                f"{db_path} already holds citizens; generate into a new file so PINs stay unique"
            )
        return store.insert_citizens(iter_citizens(count, seed=seed))
    finally:
        store.close()
