from __future__ import annotations

import pytest

from simulators.common.resources import load_yaml_spec
from simulators.portal.lifecycle import load_lifecycle, load_procedure_codes


def test_table_loads_every_status_of_the_spec() -> None:
    lifecycle = load_lifecycle()
    assert sorted(lifecycle.statuses) == list(range(1, 11))
    assert lifecycle.statuses[10]["en"] == "result delivered"
    assert lifecycle.initial == frozenset({1, 2, 3})
    assert lifecycle.terminal == frozenset({3, 7, 10})


def test_table_mirrors_the_yaml_transitions() -> None:
    raw = load_yaml_spec("dossier-lifecycle.yaml")["transitions"]
    lifecycle = load_lifecycle()
    assert {k: sorted(v) for k, v in lifecycle.transitions.items()} == {
        int(k): sorted(v) for k, v in raw.items()
    }


@pytest.mark.parametrize("status", [1, 2, 3])
def test_a_first_sync_may_use_an_initial_status(status: int) -> None:
    assert load_lifecycle().is_legal(None, status)


@pytest.mark.parametrize("status", [4, 5, 9, 10])
def test_a_first_sync_may_not_skip_reception(status: int) -> None:
    assert not load_lifecycle().is_legal(None, status)


@pytest.mark.parametrize(("previous", "new"), [(1, 2), (2, 4), (4, 5), (5, 4), (8, 4), (9, 10)])
def test_legal_transitions(previous: int, new: int) -> None:
    assert load_lifecycle().is_legal(previous, new)


@pytest.mark.parametrize(("previous", "new"), [(2, 10), (1, 4), (10, 4), (3, 2), (9, 4), (4, 11)])
def test_illegal_transitions(previous: int, new: int) -> None:
    assert not load_lifecycle().is_legal(previous, new)


@pytest.mark.parametrize("status", [2, 4, 10])
def test_repeating_the_current_status_is_an_idempotent_resync(status: int) -> None:
    assert load_lifecycle().is_legal(status, status)


def test_terminal_statuses_allow_only_a_resync() -> None:
    lifecycle = load_lifecycle()
    for status in lifecycle.terminal:
        assert lifecycle.allowed_after(status) == frozenset({status})


def test_describe_names_the_status() -> None:
    assert load_lifecycle().describe(4) == "4 (in process)"
    assert "unknown" in load_lifecycle().describe(42)


def test_procedure_codes_come_from_the_catalogue() -> None:
    codes = load_procedure_codes()
    assert "1.004194" in codes
    assert "9.999999" not in codes
    assert all(isinstance(code, str) for code in codes)
