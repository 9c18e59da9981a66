from __future__ import annotations

from pathlib import Path

import pytest

from harness.checks import registered_checks
from harness.errors import ConfigError
from harness.requirements import load_requirements


def test_every_requirement_has_a_check_and_every_check_a_requirement() -> None:
    catalogue = load_requirements()
    covered = {key for spec in registered_checks() for key in spec.requirements}
    assert set(catalogue.keys()) == covered


def test_every_check_names_at_least_one_requirement() -> None:
    assert all(spec.requirements for spec in registered_checks())


def test_unknown_requirement_lookup_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="SEC-TOKEN-AUD@1"):
        load_requirements()["NOPE@1"]


def test_a_broken_catalogue_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "requirements.yaml"
    bad.write_text("requirements:\n  - id: X\n    version: 1\n    severity: sometimes\n")
    with pytest.raises(ConfigError, match="entry 0"):
        load_requirements(bad)
