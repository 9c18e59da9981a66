"""Where the contracts live: the source tree's specs/, or the copy a wheel carries."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

__all__ = ["load_yaml_spec", "specs_dir"]

_ROOT = Path(__file__).resolve().parents[2]


def specs_dir() -> Path:
    source_tree = _ROOT / "specs"
    if source_tree.is_dir():
        return source_tree
    return _ROOT / "harness" / "_data" / "specs"


@cache
def load_yaml_spec(name: str) -> dict[str, Any]:
    """A file of specs/ parsed once per process (callers must not mutate it)."""
    with (specs_dir() / name).open(encoding="utf-8") as handle:
        data: dict[str, Any] = yaml.safe_load(handle)
    return data
