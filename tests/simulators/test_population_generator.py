"""Synthetic citizens: deterministic, internally consistent, realistic enough to use."""

from __future__ import annotations

import time
import unicodedata
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from simulators.population.generator import generate_population, iter_citizens
from simulators.population.pin import decode_pin
from simulators.population.store import CITIZEN_COLUMNS, PopulationStore

COUNT = 2000


@pytest.fixture(scope="module")
def citizens(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    path = tmp_path_factory.mktemp("population") / "citizens.db"
    assert generate_population(path, COUNT, seed=7) == COUNT
    store = PopulationStore(path)
    try:
        return store.all_citizens()
    finally:
        store.close()


@pytest.fixture(scope="module")
def by_pin(citizens: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {c["pin"]: c for c in citizens}


def _born(citizen: dict[str, Any]) -> date:
    return date.fromisoformat(citizen["date_of_birth"])


def _years_older(parent: dict[str, Any], child: dict[str, Any]) -> float:
    return (_born(child) - _born(parent)).days / 365.25


def test_same_seed_same_rows_different_seed_different() -> None:
    assert list(iter_citizens(300, seed=1)) == list(iter_citizens(300, seed=1))
    assert list(iter_citizens(300, seed=1)) != list(iter_citizens(300, seed=2))


def test_same_seed_same_database(tmp_path: Path) -> None:
    rows = []
    for name in ("a.db", "b.db"):
        generate_population(tmp_path / name, 200, seed=3)
        store = PopulationStore(tmp_path / name)
        rows.append(store.all_citizens())
        store.close()
    assert rows[0] == rows[1]


def test_exact_count_and_column_order() -> None:
    for count in (0, 1, 2, 3, 17):
        rows = list(iter_citizens(count, seed=5))
        assert len(rows) == count
        assert all(len(r) == len(CITIZEN_COLUMNS) for r in rows)


def test_refuses_to_fill_a_store_twice(tmp_path: Path) -> None:
    generate_population(tmp_path / "p.db", 10)
    with pytest.raises(ValueError, match="already holds citizens"):
        generate_population(tmp_path / "p.db", 10)


def test_generation_is_fast(tmp_path: Path) -> None:
    started = time.perf_counter()
    generate_population(tmp_path / "fast.db", COUNT, seed=11)
    assert time.perf_counter() - started < 1.0


def test_pins_valid_unique_and_consistent(citizens: list[dict[str, Any]]) -> None:
    assert len({c["pin"] for c in citizens}) == COUNT
    for citizen in citizens:
        info = decode_pin(citizen["pin"])
        assert info.province_code == citizen["birth_registration_province"]
        assert info.sex == citizen["sex"]
        assert info.birth_year == _born(citizen).year


def test_parents_exist_and_are_at_least_18_years_older(
    citizens: list[dict[str, Any]], by_pin: dict[str, dict[str, Any]]
) -> None:
    children = [c for c in citizens if c["father_pin"] or c["mother_pin"]]
    assert len(children) > COUNT // 5
    for child in children:
        father, mother = by_pin[child["father_pin"]], by_pin[child["mother_pin"]]
        assert (father["sex"], mother["sex"]) == ("male", "female")
        assert _years_older(father, child) >= 18
        assert _years_older(mother, child) >= 18
        assert child["relationship_to_head"] == "con"
        assert child["household_id"] == father["household_id"]


def test_spouses_point_at_each_other(
    citizens: list[dict[str, Any]], by_pin: dict[str, dict[str, Any]]
) -> None:
    married = [c for c in citizens if c["spouse_pin"]]
    assert married
    for citizen in married:
        spouse = by_pin[citizen["spouse_pin"]]
        assert spouse["spouse_pin"] == citizen["pin"]
        assert spouse["sex"] != citizen["sex"]


def test_households_share_address_and_have_one_head(citizens: list[dict[str, Any]]) -> None:
    households: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for citizen in citizens:
        households[citizen["household_id"]].append(citizen)
    for members in households.values():
        assert len({m["permanent_address"] for m in members}) == 1
        roles = Counter(m["relationship_to_head"] for m in members)
        assert roles["chủ hộ"] == 1
        assert set(roles) <= {"chủ hộ", "vợ", "chồng", "con"}


def test_names_are_nfc_family_name_first(citizens: list[dict[str, Any]]) -> None:
    for citizen in citizens:
        name = citizen["full_name"]
        assert unicodedata.normalize("NFC", name) == name
        assert len(name.split(" ")) == 3
        assert (
            unicodedata.normalize("NFC", citizen["permanent_address"])
            == citizen["permanent_address"]
        )
    family = Counter(c["full_name"].split(" ")[0] for c in citizens)
    assert family.most_common(1)[0][0] == "Nguyễn"
    assert 0.30 < family["Nguyễn"] / COUNT < 0.50


def test_ages_span_a_pyramid(citizens: list[dict[str, Any]]) -> None:
    years = [_born(c).year for c in citizens]
    assert min(years) >= 1930
    assert max(years) <= 2025
    under_18 = sum(1 for y in years if y > 2007)
    over_80 = sum(1 for y in years if y < 1945)
    assert over_80 < under_18
    assert sum(1 for c in citizens if c["date_of_death"] is None) > COUNT * 0.95
