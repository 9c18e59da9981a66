"""The 766 index formulas on hand-built dossier sets (DOMAIN.md §6, specs/index-766.yaml)."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

import pytest

from simulators.common.clock import VN_TZ
from simulators.common.resources import load_yaml_spec
from simulators.portal.dossiers import DossierState
from simulators.portal.index766 import Feedback, Indicator, agency_index, score
from simulators.portal.procedures import load_catalogue

AGENCY = "000.00.01.H29"
NOW = datetime(2025, 3, 20, 10, 0, tzinfo=VN_TZ)


def dossier(n: int, **changes: Any) -> DossierState:
    base = DossierState(
        code=f"{AGENCY}-250303-{n:04d}",
        agency_id=AGENCY,
        procedure="1.004194",  # 3 working days, full-process online
        status=4,
        received_at="20250303090000",  # Monday
        due_at="20250306170000",  # Thursday
        synced=True,
    )
    return dataclasses.replace(base, **changes)


def indicators(
    dossiers: list[DossierState],
    feedback: list[Feedback] | None = None,
    ratings: list[int] | None = None,
) -> dict[str, dict[str, Any]]:
    index = agency_index(AGENCY, dossiers, feedback or [], ratings or [], load_catalogue(), NOW)
    return {row["id"]: row for row in index["indicators"]}


def test_the_spec_splits_100_points_into_the_six_groups() -> None:
    data = load_yaml_spec("index-766.yaml")
    groups = {name: g["points"] for name, g in data["groups"].items()}
    assert groups == {
        "transparency": 18,
        "progress": 20,
        "online": 12,
        "payment": 10,
        "digitisation": 22,
        "satisfaction": 18,
    }
    for name, points in groups.items():
        assert sum(i["max_points"] for i in data["indicators"] if i["group"] == name) == points


@pytest.mark.parametrize(
    ("rate", "expected"), [(None, 6.0), (1.0, 6.0), (0.8, 6.0), (0.4, 3.0), (0.0, 0.0)]
)
def test_score_is_full_at_target_and_proportional_below(
    rate: float | None, expected: float
) -> None:
    assert score(rate, Indicator("4.2", "digitisation", "", 6.0, 0.8)) == pytest.approx(expected)


def test_sync_completeness_and_on_time_rate() -> None:
    rows = indicators(
        [
            dossier(1, status=10, finished_at="20250305100000"),  # on time
            dossier(2, status=10, finished_at="20250310100000"),  # late
            dossier(3, status=4),  # in process, past due at NOW: overdue
            dossier(4, status=1, synced=False, due_at="20250325170000"),  # never synced
            dossier(5, status=3, finished_at=None),  # refused: not judged for 2.1
        ]
    )
    assert (rows["1.4"]["numerator"], rows["1.4"]["denominator"]) == (4, 5)
    assert rows["1.4"]["score"] == pytest.approx(18 * 0.8)
    assert (rows["2.1"]["numerator"], rows["2.1"]["denominator"]) == (2, 4)
    assert rows["2.1"]["score"] == pytest.approx(7.0)


def test_a_paused_clock_keeps_a_dossier_on_time() -> None:
    paused = dossier(1, status=5, paused_since="20250305090000")
    rows = indicators([paused])
    assert rows["2.1"]["rate"] == 1.0


def test_handling_time_compares_allowed_with_taken() -> None:
    # Allowed 3 working days; taken 2 and 10 (mean 6): rate 0.5 of 6 points.
    rows = indicators(
        [
            dossier(1, status=10, finished_at="20250305100000"),
            dossier(2, status=10, finished_at="20250317100000"),
        ]
    )
    assert (rows["2.2"]["numerator"], rows["2.2"]["denominator"]) == (3, 6)
    assert rows["2.2"]["score"] == pytest.approx(3.0)


def test_online_payment_results_reuse_and_population_data() -> None:
    finished = "20250305100000"
    rows = indicators(
        [
            dossier(1, finished_at=finished, e_result=True, has_fee=True, paid_online=True),
            dossier(2, finished_at=finished, has_fee=True, channel=1, applicant_pin="0" * 12),
            dossier(3, components=4, reused_components=1, procedure="9.900001"),
            dossier(4, components=1, reused_components=1, synced=False),
        ]
    )
    # 3.1: 1.004194 is full-process online, 9.900001 partial: 1/2 against a target of 80%.
    assert rows["3.1"]["rate"] == 0.5 and rows["3.1"]["score"] == pytest.approx(3.75)
    # 3.3: online finished dossiers with an e-result 1/1, × sync completeness 3/4.
    assert rows["3.3"]["rate"] == 0.75 and rows["3.3"]["score"] == 6.0
    assert rows["3.6"]["rate"] == 0.5 and rows["3.6"]["score"] == 5.0
    assert rows["4.2"]["rate"] == 0.5 and rows["4.2"]["score"] == 5.0
    assert rows["4.3"]["rate"] == 0.4 and rows["4.3"]["score"] == 4.0
    assert rows["4.5"]["rate"] == 0.25 and rows["4.5"]["score"] == 1.5


def test_feedback_ratings_and_the_overall_indicator() -> None:
    feedback = [
        Feedback(AGENCY, "complaint", "20250303090000", "20250317170000", "20250310090000"),
        Feedback(AGENCY, "complaint", "20250303090000", "20250317170000", "20250318090000"),
        Feedback(AGENCY, "question", "20250303090000", "20250317170000"),  # unanswered, due
        Feedback(AGENCY, "question", "20250319090000", "20250402170000"),  # not due yet
    ]
    dossiers = [dossier(n, status=10, finished_at="20250305100000") for n in range(1, 10)]
    dossiers.append(dossier(10, status=4))  # overdue
    rows = indicators(dossiers, feedback, ratings=[1, 2, 3, 1])
    assert (rows["5.2"]["numerator"], rows["5.2"]["denominator"]) == (1, 3)
    assert rows["5.3"]["rate"] == 0.75 and rows["5.3"]["score"] == 4.5
    # 100% − (1/10 overdue + 2/10 complaints) = 70% against a 90% target.
    assert rows["5.4"]["rate"] == 0.7
    assert rows["5.4"]["score"] == pytest.approx(6 * 0.7 / 0.9, abs=0.01)


def test_nothing_to_judge_scores_full_points_and_says_so() -> None:
    index = agency_index(AGENCY, [], [], [], load_catalogue(), NOW)
    assert index["total"] == 100
    assert not any(row["applicable"] for row in index["indicators"])


def test_group_scores_add_up_to_the_total() -> None:
    index = agency_index(
        AGENCY, [dossier(1), dossier(2, synced=False)], [], [2], load_catalogue(), NOW
    )
    assert index["total"] == pytest.approx(sum(g["score"] for g in index["groups"]), abs=0.05)
    assert index["total"] < 100
