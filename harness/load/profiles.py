"""Load profiles: national peaks as data (scenarios/load/*.yaml), validated by a JSON Schema."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from harness._resources import data_dir
from harness.errors import ConfigError

__all__ = [
    "AGENCY_KINDS",
    "SYNC_KINDS",
    "PerApplicant",
    "Profile",
    "Slo",
    "Volume",
    "known_profiles",
    "load_profile",
    "profile_from_dict",
    "profiles_dir",
]

AGENCY_KINDS = ("submit", "edit", "resubmit", "status", "review")
SYNC_KINDS = ("sync-new", "sync-advance")


@dataclass(frozen=True, slots=True)
class Slo:
    p95_ms: float
    p99_ms: float
    max_error_rate: float
    min_throughput_ratio: float
    max_drain_s: float


@dataclass(frozen=True, slots=True)
class PerApplicant:
    mean: float = 1.0
    max: int = 1
    sigma: float = 0.8


@dataclass(frozen=True, slots=True)
class Volume:
    total: int
    unit: str
    kinds: tuple[str, ...]
    share_in_window: float
    window_h: tuple[float, float]
    applicants: int | None
    per_applicant: PerApplicant


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    title: str
    target: str  # "agency" | "portal-sync"
    sources: tuple[str, ...]
    volume: Volume
    reference: str
    points: tuple[tuple[float, float], ...]
    peak_end_h: float
    mix: dict[str, float]
    mix_after_peak: dict[str, float]
    requests_per_user_s: float
    max_users: int
    slo: Slo
    raw: dict[str, Any]  # the validated document, handed to locust processes as is


def profiles_dir() -> Path:
    return data_dir("scenarios") / "load"


@cache
def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads((profiles_dir() / "profile.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def known_profiles() -> list[str]:
    return sorted(p.stem for p in profiles_dir().glob("*.yaml"))


def load_profile(name_or_path: str) -> Profile:
    """A shipped profile by name, or a YAML file of the same schema by path."""
    path = Path(name_or_path)
    if not (path.suffix in (".yaml", ".yml") and path.is_file()):
        path = profiles_dir() / f"{name_or_path}.yaml"
        if "/" in name_or_path or not path.is_file():
            raise ConfigError(
                f"--profile {name_or_path!r} is not a known profile; use one of "
                f"{', '.join(known_profiles())} (or a path to a profile .yaml)"
            )
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"profile {path} cannot be read: {exc}") from None
    return profile_from_dict(document, origin=str(path))


def _check_document(document: Any, origin: str) -> None:
    error = jsonschema.exceptions.best_match(_validator().iter_errors(document))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise ConfigError(
            f"profile {origin} is invalid at {where}: {error.message} "
            f"(schema: scenarios/load/profile.schema.json)"
        )
    _check_semantics(document, origin)


def _check_semantics(document: dict[str, Any], origin: str) -> None:
    hours = [float(h) for h, _ in document["calendar"]["points"]]
    if any(b <= a for a, b in itertools.pairwise(hours)):
        raise ConfigError(f"profile {origin}: calendar hours must increase, got {hours}")
    allowed = AGENCY_KINDS if document["target"] == "agency" else SYNC_KINDS
    mixes = [document["mix"], document.get("mix_after_peak", {}), {}]
    used = {k for mix in mixes for k in mix} | set(document["volume"]["kinds"])
    wrong = sorted(used - set(allowed))
    if wrong:
        raise ConfigError(
            f"profile {origin}: request kinds {wrong} do not apply to target "
            f"{document['target']!r}; use {', '.join(allowed)}"
        )
    if sum(document["mix"].values()) <= 0:
        raise ConfigError(f"profile {origin}: the mix needs at least one positive weight")


def profile_from_dict(document: Any, *, origin: str = "<profile>") -> Profile:
    _check_document(document, origin)
    volume, calendar = document["volume"], document["calendar"]
    per = volume.get("per_applicant", {})
    return Profile(
        name=document["name"],
        title=document["title"],
        target=document["target"],
        sources=tuple(document["sources"]),
        volume=Volume(
            total=int(volume["total"]),
            unit=volume["unit"],
            kinds=tuple(volume["kinds"]),
            share_in_window=float(volume["share_in_window"]),
            window_h=(float(volume["window_h"][0]), float(volume["window_h"][1])),
            applicants=volume.get("applicants"),
            per_applicant=PerApplicant(
                float(per.get("mean", 1.0)), int(per.get("max", 1)), float(per.get("sigma", 0.8))
            ),
        ),
        reference=calendar["reference"],
        points=tuple((float(h), float(v)) for h, v in calendar["points"]),
        peak_end_h=float(calendar["peak_end_h"]),
        mix={k: float(v) for k, v in document["mix"].items()},
        mix_after_peak={
            k: float(v) for k, v in document.get("mix_after_peak", document["mix"]).items()
        },
        requests_per_user_s=float(document["pacing"]["requests_per_user_s"]),
        max_users=int(document["pacing"].get("max_users", 100_000)),
        slo=Slo(**{k: float(v) for k, v in document["slo"].items()}),
        raw=document,
    )
