"""Synthetic citizens: deterministic, internally consistent, realistic, with hard cases."""

from __future__ import annotations

import random
import unicodedata
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulators.population.family import ChunkBuilder
from simulators.population.generator import generate_population, iter_citizens, unissued_pin
from simulators.population.households import PinSpace
from simulators.population.pin import decode_pin, is_valid_pin
from simulators.population.reference import ETHNIC_GROUPS, ward_name
from simulators.population.schema import CITIZEN_COLUMNS
from simulators.population.store import PopulationStore

COUNT = 5000
AS_OF = date(2025, 7, 1)


@pytest.fixture(scope="module")
def citizens() -> list[dict[str, Any]]:
    return [dict(zip(CITIZEN_COLUMNS, row, strict=True)) for row in iter_citizens(COUNT, seed=7)]


@pytest.fixture(scope="module")
def by_pin(citizens: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {c["pin"]: c for c in citizens}


def _born(citizen: dict[str, Any]) -> date:
    return date.fromisoformat(citizen["date_of_birth"])


def _years_older(parent: dict[str, Any], child: dict[str, Any]) -> float:
    return (_born(child) - _born(parent)).days / 365.25


def _age(citizen: dict[str, Any]) -> float:
    return (AS_OF - _born(citizen)).days / 365.25


def test_same_seed_same_rows_different_seed_different() -> None:
    assert list(iter_citizens(300, seed=1)) == list(iter_citizens(300, seed=1))
    assert list(iter_citizens(300, seed=1)) != list(iter_citizens(300, seed=2))


def test_exact_count_and_column_order() -> None:
    for count in (0, 1, 2, 3, 17):
        rows = list(iter_citizens(count, seed=5))
        assert len(rows) == count
        assert all(len(r) == len(CITIZEN_COLUMNS) for r in rows)


def test_bad_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="0 or more"):
        list(iter_citizens(-1))
    with pytest.raises(ValueError, match="at most"):
        list(iter_citizens(10**9))


def test_same_seed_same_database_and_no_second_fill(database_url: str) -> None:
    generate_population(database_url, 300, seed=3)
    store = PopulationStore(database_url)
    try:
        loaded = [tuple(c[k] for k in CITIZEN_COLUMNS) for c in store.all_citizens()]
    finally:
        store.close()
    assert loaded == sorted(iter_citizens(300, seed=3))
    with pytest.raises(ValueError, match="already holds citizens"):
        generate_population(database_url, 10)


def test_parallel_workers_load_the_same_rows(tmp_path: Path) -> None:
    # Two chunks are the smallest population two workers split; rows are compared as sets.
    from simulators.population import generator

    count = generator.CHUNK_SIZE + 50
    generate_population(tmp_path / "p.db", count, seed=4, workers=2)
    store = PopulationStore(tmp_path / "p.db")
    try:
        assert store.count() == count
        loaded = {tuple(c[k] for k in CITIZEN_COLUMNS) for c in store.all_citizens()}
    finally:
        store.close()
    assert loaded == set(iter_citizens(count, seed=4))
    assert not (tmp_path / ".p.db.shards").exists()


test_parallel_workers_load_the_same_rows = pytest.mark.slow(
    test_parallel_workers_load_the_same_rows
)


@given(
    st.integers(0, PinSpace.ISSUED_PER_CHUNK - 1),
    st.integers(0, PinSpace.MAX_CHUNKS - 1),
    st.integers(0, PinSpace.ISSUED_PER_CHUNK - 1),
    st.integers(0, PinSpace.MAX_CHUNKS - 1),
)
def test_serials_never_collide_across_chunks(n1: int, c1: int, n2: int, c2: int) -> None:
    same = (n1, c1) == (n2, c2)
    assert (PinSpace.serial("001090", n1, c1) == PinSpace.serial("001090", n2, c2)) == same


@given(
    st.sampled_from(["001090", "079185", "096312", "001200"]),
    st.lists(st.integers(0, PinSpace.ISSUED_PER_CHUNK - 1), min_size=1, max_size=20),
    st.integers(0, PinSpace.MAX_CHUNKS - 1),
)
def test_array_serials_are_the_serials(prefix: str, ns: list[int], chunk: int) -> None:
    numbers = PinSpace.numbers(np.full(len(ns), int(prefix)), np.array(ns), chunk)
    expected = [prefix + PinSpace.serial(prefix, n, chunk) for n in ns]
    assert [f"{x:012d}" for x in numbers.tolist()] == expected


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_chunk_size_cuts_households_cleanly(seed: int) -> None:
    # The household that overflows a chunk is cut to fit: every relative is still in it.
    for size in [*range(1, 40), 97, 400, 1001]:
        rows = ChunkBuilder(seed, size % 7, AS_OF).rows(size)
        assert len(rows) == size
        people = [dict(zip(CITIZEN_COLUMNS, row, strict=True)) for row in rows]
        pins = {p["pin"] for p in people}
        assert len(pins) == size
        for person in people:
            for relative in ("father_pin", "mother_pin", "spouse_pin", "legal_representative_pin"):
                assert person[relative] is None or person[relative] in pins
        heads = Counter(p["household_id"] for p in people if p["relationship_to_head"] == "chủ hộ")
        assert set(heads.values()) <= {1}
        assert {p["household_id"] for p in people if p["household_id"]} == set(heads)


def test_grandparents_who_do_not_fit_make_an_ordinary_household() -> None:
    from simulators.population.households import PLAN_DRAWS, Uniforms, fit, household_plans

    plan = household_plans(Uniforms(0, 0)(PLAN_DRAWS, 3), AS_OF.year)
    plan.orphans[:] = [True, False, False]
    plan.grandkids[:] = 2
    plan.single[:] = [False, True, True]
    plan.kids[:] = 0
    # Four places: grandparents, their son and his wife would leave none for a grandchild,
    # so the first household is a couple, and the two single heads after it fill the rest.
    assert fit(plan, 4) == 3
    assert not plan.orphans[0] and plan.members().tolist() == [2, 1, 1]
    plan.orphans[0] = True
    assert fit(plan, 5) == 1 and plan.grandkids[0] == 1


def test_sqlite_null_marker_stands_for_none_only() -> None:
    # The SQLite loader's chunks say NULL with "" (faster to bind); NULLIF turns it back.
    plain = ChunkBuilder(8, 3, AS_OF).columns(3000)
    marked = ChunkBuilder(8, 3, AS_OF, null="").columns(3000)
    assert [[None if v == "" else v for v in column] for column in marked] == plain
    assert not any(v == "" for column in plain for v in column)


def test_unissued_pins_are_valid_and_never_generated(citizens: list[dict[str, Any]]) -> None:
    rng = random.Random(1)
    unissued = {unissued_pin(rng) for _ in range(2000)}
    assert all(is_valid_pin(p) for p in unissued)
    issued = {c["pin"] for c in citizens} | {c["previous_pin"] for c in citizens}
    assert not unissued & issued


def test_pins_valid_unique_and_consistent(citizens: list[dict[str, Any]]) -> None:
    assert len({c["pin"] for c in citizens}) == COUNT
    for citizen in citizens:
        info = decode_pin(citizen["pin"])
        assert info.province_code == citizen["birth_registration_province"]
        assert info.sex == citizen["sex"]
        assert info.birth_year == _born(citizen).year
    cmnds = [c["cmnd"] for c in citizens if c["cmnd"]]
    assert len(cmnds) == len(set(cmnds)) > COUNT // 3
    assert all(len(n) == 9 and n.isdigit() for n in cmnds)


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
        assert child["native_place"] == father["native_place"]


def test_spouses_point_at_each_other(
    citizens: list[dict[str, Any]], by_pin: dict[str, dict[str, Any]]
) -> None:
    married = [c for c in citizens if c["spouse_pin"]]
    assert married
    for citizen in married:
        spouse = by_pin[citizen["spouse_pin"]]
        assert spouse["spouse_pin"] == citizen["pin"]
        assert spouse["sex"] != citizen["sex"]
        if spouse["date_of_death"] and not citizen["date_of_death"]:
            assert citizen["marital_status"] == "widowed"
        elif not citizen["date_of_death"]:
            assert citizen["marital_status"] == "married"


def test_households_share_address_and_have_one_head(citizens: list[dict[str, Any]]) -> None:
    households: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for citizen in citizens:
        if citizen["household_id"]:
            households[citizen["household_id"]].append(citizen)
    assert len(households) > COUNT // 6
    for members in households.values():
        assert len({(m["permanent_address"], m["permanent_ward"]) for m in members}) == 1
        roles = Counter(m["relationship_to_head"] for m in members)
        assert roles["chủ hộ"] == 1
        assert set(roles) <= {"chủ hộ", "vợ", "chồng", "con", "cháu"}
        assert all(m["date_of_death"] is None for m in members)


def test_every_living_minor_has_a_living_adult_representative(
    citizens: list[dict[str, Any]], by_pin: dict[str, dict[str, Any]]
) -> None:
    minors = [c for c in citizens if _age(c) < 18 and not c["date_of_death"]]
    assert minors
    for minor in minors:
        representative = by_pin[minor["legal_representative_pin"]]
        assert representative["date_of_death"] is None
        assert _age(representative) >= 18
    assert all(c["legal_representative_pin"] is None for c in citizens if _age(c) >= 18)


def test_every_hard_case_is_present_and_what_it_says(
    citizens: list[dict[str, Any]], by_pin: dict[str, dict[str, Any]]
) -> None:
    cases: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for citizen in citizens:
        cases[citizen["hard_case"]].append(citizen)
    kinds = ("deceased", "newborn", "guardian", "renamed", "superseded", "nfd", "lookalike")
    assert {k: bool(cases[k]) for k in kinds} == dict.fromkeys(kinds, True)
    assert all(c["date_of_death"] and not c["current_address"] for c in cases["deceased"])
    for newborn in cases["newborn"]:
        assert (AS_OF - _born(newborn)).days <= 60 and newborn["current_address"] is None
    for ward in cases["guardian"]:
        assert by_pin[ward["father_pin"]]["date_of_death"]
        assert by_pin[ward["legal_representative_pin"]]["relationship_to_head"] == "chủ hộ"
    assert all(c["former_name"] and c["former_name"] != c["full_name"] for c in cases["renamed"])
    for person in cases["superseded"]:
        assert decode_pin(person["previous_pin"]).birth_year == _born(person).year - 1
    assert all(unicodedata.normalize("NFC", c["full_name"]) != c["full_name"] for c in cases["nfd"])


def test_lookalikes_share_a_birth_date_and_differ_only_in_tone_marks(
    citizens: list[dict[str, Any]],
) -> None:
    def bare(name: str) -> str:
        return "".join(
            c for c in unicodedata.normalize("NFD", name) if not 0x300 <= ord(c) <= 0x323
        )

    pairs = defaultdict(list)
    for citizen in citizens:
        if citizen["hard_case"] == "lookalike":
            pairs[(citizen["date_of_birth"], bare(citizen["full_name"]))].append(citizen)
    assert pairs
    for twins in pairs.values():
        assert len(twins) == 2 and twins[0]["full_name"] != twins[1]["full_name"]


def test_names_and_addresses_are_realistic(citizens: list[dict[str, Any]]) -> None:
    for citizen in citizens:
        if citizen["hard_case"] != "nfd":
            assert unicodedata.normalize("NFC", citizen["full_name"]) == citizen["full_name"]
        assert len(citizen["full_name"].split(" ")) == 3
        if citizen["current_ward"]:
            assert ward_name(citizen["current_ward"]) in citizen["current_address"]
    family = Counter(c["full_name"].split(" ")[0] for c in citizens)
    assert family.most_common(1)[0][0] == "Nguyễn"
    assert 0.30 < family["Nguyễn"] / COUNT < 0.50
    ethnic = Counter(c["ethnicity"] for c in citizens)
    assert set(ethnic) <= set(ETHNIC_GROUPS) and 0.75 < ethnic["01"] / COUNT < 0.95
    urban = sum(1 for c in citizens if (c["current_address"] or "").count("Phường"))
    living = sum(1 for c in citizens if c["current_address"])
    assert 0.25 < urban / living < 0.6


def test_ages_span_a_pyramid(citizens: list[dict[str, Any]]) -> None:
    years = [_born(c).year for c in citizens]
    assert min(years) >= 1930
    assert max(years) <= 2025
    under_18 = sum(1 for y in years if y > 2007)
    over_80 = sum(1 for y in years if y < 1945)
    assert over_80 < under_18
    assert sum(1 for c in citizens if c["date_of_death"] is None) > COUNT * 0.95
