"""Load profiles as data, their schema, and the calendar-shape arithmetic (no locust)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from harness.errors import ConfigError
from harness.load.profiles import known_profiles, load_profile, profile_from_dict, profiles_dir
from harness.load.shape import Plan, integral, intensity

SHIPPED = ["admission-2022", "admission-2025", "exam-registration", "flash-crowd", "status-sync"]


def test_the_five_profiles_of_the_issue_ship() -> None:
    assert known_profiles() == SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_profile_validates_and_cites_its_figures(name: str) -> None:
    profile = load_profile(name)
    assert profile.name == name
    assert any("DOMAIN.md §7" in source for source in profile.sources)
    assert Plan(profile, 1.0, 1.0).offered_total > 0


def _document(name: str = "admission-2025") -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((profiles_dir() / f"{name}.yaml").read_text(encoding="utf-8"))


def test_an_unknown_profile_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="not a known profile; use one of admission-2022, "):
        load_profile("admission-2099")


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("slo", "p95_ms"), -1, "slo/p95_ms"),
        (("mix",), {"teleport": 1}, "mix"),
        (("calendar", "points"), [[0, 1]], "calendar/points"),
        (("target",), "mainframe", "target"),
    ],
)
def test_schema_violations_name_the_field(
    path: tuple[str, ...], value: object, message: str
) -> None:
    document = _document()
    node = document
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(ConfigError, match=message):
        profile_from_dict(document)


def test_hours_must_increase_and_kinds_must_fit_the_target() -> None:
    document = _document()
    document["calendar"]["points"] = [[0, 1], [0, 2]]
    with pytest.raises(ConfigError, match="must increase"):
        profile_from_dict(document)
    document = _document("status-sync")
    document["mix"] = {"submit": 1}
    with pytest.raises(ConfigError, match="do not apply to target 'portal-sync'"):
        profile_from_dict(document)


def test_a_profile_file_path_is_accepted(tmp_path: Path) -> None:
    document = _document()
    document["name"] = "my-peak"
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    assert load_profile(str(path)).name == "my-peak"


POINTS = ((0.0, 0.0), (1.0, 2.0), (3.0, 2.0), (4.0, 0.0))


def test_intensity_is_piecewise_linear_and_zero_outside() -> None:
    assert intensity(POINTS, 0.5) == 1.0
    assert intensity(POINTS, 2.0) == 2.0
    assert intensity(POINTS, -1.0) == intensity(POINTS, 5.0) == 0.0


def test_integral_is_exact_over_cut_pieces() -> None:
    assert integral(POINTS, 0.0, 4.0) == pytest.approx(6.0)
    assert integral(POINTS, 0.5, 1.0) == pytest.approx(0.75)
    assert integral(POINTS, -5.0, 0.5) == pytest.approx(0.25)


def test_the_counted_kinds_add_up_to_the_real_volume() -> None:
    profile = load_profile("admission-2025")
    plan = Plan(profile, 1.0, 1.0)
    a, b = profile.volume.window_h
    share = profile.mix["submit"] / sum(profile.mix.values())
    wishes = plan.scale * plan.requests_per_intensity_hour * integral(profile.points, a, b) * share
    assert wishes == pytest.approx(7_615_560 * 0.7)


def test_scale_and_compress_shape_the_run() -> None:
    profile = load_profile("admission-2025")
    real, run = Plan(profile, 1.0, 1.0), Plan(profile, 0.1, 3600.0)
    assert run.duration_s == pytest.approx(74.0)  # 74 real hours, one per second
    assert run.offered_total == pytest.approx(real.offered_total * 0.1)
    assert run.peak_offered_rps == pytest.approx(real.peak_real_rps * 0.1 * 3600)
    assert run.peak_end_s == pytest.approx(72.0)
    assert sum(run.offered_per_second()) == pytest.approx(run.offered_total)
    assert run.applicants == 84_955


def test_most_of_the_load_lands_in_the_last_48_hours() -> None:
    plan = Plan(load_profile("admission-2025"), 1.0, 3600.0)
    last_two_days = plan.offered_between(24.0, 72.0)
    assert last_two_days / plan.offered_between(0.0, 72.0) > 0.7


def test_users_follow_the_offered_rate_and_the_mix_changes_after_the_peak() -> None:
    plan = Plan(load_profile("admission-2025"), 0.01, 3600.0)
    t = 71.5
    assert plan.users_at(t) == -(-plan.offered_rps(t) // plan.profile.requests_per_user_s)
    assert plan.users_at(1000.0) == 0
    assert "submit" in plan.mix_at(10.0) and "submit" not in plan.mix_at(73.0)


def test_max_users_caps_the_users() -> None:
    document = copy.deepcopy(_document())
    document["pacing"]["max_users"] = 5
    assert Plan(profile_from_dict(document), 1.0, 3600.0).users_at(71.0) == 5
