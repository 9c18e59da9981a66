"""The requirement registry, read from specs/requirements.yaml."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

from harness._resources import data_dir
from harness.errors import ConfigError
from harness.records import Requirement

__all__ = ["RequirementCatalogue", "load_requirements"]

_REQUIRED_KEYS = ("id", "version", "severity", "category", "source", "text", "remediation")
_SEVERITIES = ("mandatory", "recommended")
# Security profiles (DOMAIN.md §8); a requirement without `profiles` belongs to both.
_PROFILES = ("baseline", "strict")


class RequirementCatalogue:
    def __init__(self, suite_version: str, requirements: tuple[Requirement, ...]) -> None:
        self.suite_version = suite_version
        self.requirements = requirements
        self._by_key = {r.key: r for r in requirements}

    def __getitem__(self, key: str) -> Requirement:
        try:
            return self._by_key[key]
        except KeyError:
            raise ConfigError(
                f"unknown requirement {key!r}; known: {', '.join(sorted(self._by_key))}"
            ) from None

    def __contains__(self, key: object) -> bool:
        return key in self._by_key

    def keys(self) -> list[str]:
        return [r.key for r in self.requirements]

    def for_profile(self, profile: str) -> RequirementCatalogue:
        """The requirements a run in `profile` judges (baseline leaves out strict-only ones)."""
        if profile not in _PROFILES:
            raise ConfigError(f"profile {profile!r} is not one of {', '.join(_PROFILES)}")
        mine = tuple(r for r in self.requirements if profile in r.profiles)
        return RequirementCatalogue(self.suite_version, mine)


def _requirement(entry: Any, index: int) -> Requirement:
    if not isinstance(entry, dict) or any(k not in entry for k in _REQUIRED_KEYS):
        raise ConfigError(f"requirements.yaml entry {index} must have keys {_REQUIRED_KEYS}")
    if entry["severity"] not in _SEVERITIES:
        raise ConfigError(
            f"requirement {entry['id']}: severity {entry['severity']!r} is not one of {_SEVERITIES}"
        )
    profiles = tuple(entry.get("profiles", _PROFILES))
    if not profiles or set(profiles) - set(_PROFILES):
        raise ConfigError(
            f"requirement {entry['id']}: profiles {list(profiles)} must be a non-empty "
            f"subset of {list(_PROFILES)}, e.g. profiles: [strict]"
        )
    return Requirement(
        id=str(entry["id"]),
        version=int(entry["version"]),
        severity=entry["severity"],
        category=str(entry["category"]),
        source=str(entry["source"]),
        text={k: str(v) for k, v in entry["text"].items()},
        remediation={k: str(v) for k, v in entry["remediation"].items()},
        profiles=profiles,
    )


@cache
def load_requirements(path: Path | None = None) -> RequirementCatalogue:
    path = path or data_dir("specs") / "requirements.yaml"
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the requirement catalogue {path}: {exc}") from None
    entries = document.get("requirements", []) if isinstance(document, dict) else []
    requirements = tuple(_requirement(e, i) for i, e in enumerate(entries))
    keys = [r.key for r in requirements]
    if len(set(keys)) != len(keys):
        raise ConfigError(f"{path} lists a requirement ID twice")
    return RequirementCatalogue(str(document.get("suite_version", "0")), requirements)
