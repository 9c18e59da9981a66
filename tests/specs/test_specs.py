"""The contracts in specs/ are well-formed and agree with each other.

The four OpenAPI documents are standalone copies (each can be handed to an integrator on
its own), so the shared pieces are compared here rather than factored out.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_spec_validator import validate

SPECS = Path(__file__).resolve().parents[2] / "specs"
OPENAPI_SPECS = ("agency.yaml", "identity.yaml", "population.yaml", "portal.yaml")
# DOMAIN.md marks these contracts [ours]: no official public specification exists.
OURS = OPENAPI_SPECS
STATUSES = frozenset(range(1, 11))
SEVERITIES = frozenset({"mandatory", "recommended"})
PROCEDURE_CODE = re.compile(r"^\d\.\d{6}$")


def load(name: str) -> Any:
    return yaml.safe_load((SPECS / name).read_text(encoding="utf-8"))


def openapi_files() -> list[str]:
    return sorted(
        path.name
        for path in SPECS.glob("*.yaml")
        if isinstance(doc := yaml.safe_load(path.read_text(encoding="utf-8")), dict)
        and "openapi" in doc
    )


def test_every_openapi_contract_is_found() -> None:
    assert set(OPENAPI_SPECS) <= set(openapi_files())


@pytest.mark.parametrize("name", openapi_files())
def test_openapi_document_is_valid(name: str) -> None:
    validate(load(name))


@pytest.mark.parametrize("name", OURS)
def test_description_says_the_contract_is_ours(name: str) -> None:
    description = load(name)["info"]["description"]
    assert "ours" in description, f"{name}: info.description must mark the contract [ours]"


def test_problem_schema_is_the_same_everywhere() -> None:
    problems = {name: load(name)["components"]["schemas"]["Problem"] for name in OPENAPI_SPECS}
    reference = problems[OPENAPI_SPECS[0]]
    drifted = [name for name, schema in problems.items() if schema != reference]
    assert not drifted, f"Problem differs from {OPENAPI_SPECS[0]} in: {', '.join(drifted)}"


# -- requirements.yaml ----------------------------------------------------------------------


def requirements() -> list[dict[str, Any]]:
    entries = load("requirements.yaml")["requirements"]
    assert isinstance(entries, list) and entries
    return entries


def test_requirement_ids_are_unique() -> None:
    ids = [entry.get("id") for entry in requirements()]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    assert not duplicates, f"duplicate requirement IDs: {duplicates}"


def _non_empty_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


@pytest.mark.parametrize("entry", requirements(), ids=lambda entry: str(entry.get("id")))
def test_requirement_is_complete(entry: dict[str, Any]) -> None:
    for key in ("id", "category", "source"):
        assert _non_empty_text(entry.get(key)), f"{key} is missing or empty"
    version = entry.get("version")
    assert isinstance(version, int) and not isinstance(version, bool), "version must be an int"
    assert version >= 1
    assert entry.get("severity") in SEVERITIES
    for key in ("text", "remediation"):
        translations = entry.get(key)
        assert isinstance(translations, dict), f"{key} must have en and vi"
        for language in ("en", "vi"):
            assert _non_empty_text(translations.get(language)), f"{key}.{language} is empty"


# -- dossier-lifecycle.yaml -----------------------------------------------------------------


def test_lifecycle_lists_the_ten_statuses() -> None:
    lifecycle = load("dossier-lifecycle.yaml")
    assert set(lifecycle["statuses"]) == STATUSES
    for code, names in lifecycle["statuses"].items():
        assert _non_empty_text(names.get("vi")) and _non_empty_text(names.get("en")), code


def test_lifecycle_uses_only_known_statuses() -> None:
    lifecycle = load("dossier-lifecycle.yaml")
    used = {
        "initial": set(lifecycle["initial"]),
        "terminal": set(lifecycle["terminal"]),
        "transition sources": set(lifecycle["transitions"]),
        "transition targets": {s for targets in lifecycle["transitions"].values() for s in targets},
    }
    for where, statuses in used.items():
        assert statuses, f"{where} is empty"
        assert statuses <= STATUSES, f"{where}: unknown statuses {sorted(statuses - STATUSES)}"


def test_terminal_statuses_have_no_outgoing_transitions() -> None:
    lifecycle = load("dossier-lifecycle.yaml")
    leaving = {
        s: lifecycle["transitions"][s]
        for s in lifecycle["terminal"]
        if lifecycle["transitions"].get(s)
    }
    assert not leaving, f"terminal statuses with transitions: {leaving}"


# -- procedures.yaml ------------------------------------------------------------------------


def procedures() -> list[dict[str, Any]]:
    entries = load("procedures.yaml")["procedures"]
    assert isinstance(entries, list) and entries
    return entries


@pytest.mark.parametrize("procedure", procedures(), ids=lambda p: str(p.get("code")))
def test_procedure_is_well_formed(procedure: dict[str, Any]) -> None:
    code = procedure.get("code")
    assert isinstance(code, str) and PROCEDURE_CODE.fullmatch(code), code
    days = procedure.get("deadline_working_days")
    assert isinstance(days, int) and not isinstance(days, bool) and days > 0, days


def test_procedure_codes_are_unique() -> None:
    codes = [p.get("code") for p in procedures()]
    assert len(codes) == len(set(codes))
