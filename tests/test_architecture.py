"""The layer rules of ARCHITECTURE.md, checked on the import statements themselves."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", _modules("simulators"), ids=lambda p: str(p.relative_to(ROOT)))
def test_simulators_never_import_the_harness(path: Path) -> None:
    assert not any(n == "harness" or n.startswith("harness.") for n in _imports(path))


@pytest.mark.parametrize(
    "path",
    [p for p in _modules("harness") if "cli" not in p.parts],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_only_the_cli_imports_the_simulators(path: Path) -> None:
    assert not any(n == "simulators" or n.startswith("simulators.") for n in _imports(path))


@pytest.mark.parametrize(
    "path",
    [p for p in _modules("harness") if "reporting" not in p.parts and "cli" not in p.parts],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_the_engine_never_imports_the_report_writers(path: Path) -> None:
    assert not any(n.startswith("harness.reporting") for n in _imports(path))
