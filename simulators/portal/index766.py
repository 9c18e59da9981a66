"""The Decision 766 index per agency (DOMAIN.md §6, specs/index-766.yaml).

Pure functions over dossier states, feedback and ratings: the store supplies the facts,
the tests supply hand-built ones, and both get the same arithmetic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from simulators.common.clock import format_dvc, parse_dvc, working_days_between
from simulators.common.resources import load_yaml_spec
from simulators.portal.dossiers import CHANNEL_ONLINE, DossierState, is_overdue
from simulators.portal.procedures import Catalogue

__all__ = ["Feedback", "Indicator", "agency_index", "load_indicators", "score"]

INDEX_FILE = "index-766.yaml"
SATISFIED_LEVELS = frozenset({1, 2})  # 1 very satisfied, 2 satisfied, 3 not satisfied
_CLOSED_WITHOUT_RESULT = frozenset({3, 7})
Ratio = tuple[float, float]  # numerator, denominator


@dataclass(frozen=True, slots=True)
class Indicator:
    id: str
    group: str
    name: str
    max_points: float
    target: float


@dataclass(frozen=True, slots=True)
class Feedback:
    """A citizen's feedback (PAKN) about an agency; `kind` complaint or question."""

    agency_id: str
    kind: str
    received_at: str
    due_at: str
    answered_at: str | None = None


@cache
def load_indicators() -> tuple[dict[str, dict[str, Any]], tuple[Indicator, ...]]:
    data = load_yaml_spec(INDEX_FILE)
    indicators = tuple(
        Indicator(
            str(i["id"]),
            str(i["group"]),
            str(i["name"]),
            float(i["max_points"]),
            float(i["target"]),
        )
        for i in data["indicators"]
    )
    return data["groups"], indicators


def score(rate: float | None, indicator: Indicator) -> float:
    """Full points at or above target, proportional below; full points with nothing to judge."""
    if rate is None or rate >= indicator.target:
        return indicator.max_points
    return max(rate, 0.0) * indicator.max_points / indicator.target


def _rate(ratio: Ratio) -> float | None:
    numerator, denominator = ratio
    return None if denominator == 0 else numerator / denominator


def _count(dossiers: Sequence[DossierState], *, where: Any) -> float:
    return float(sum(1 for d in dossiers if where(d)))


def _on_time(dossiers: Sequence[DossierState], now: datetime) -> Ratio:
    judged = [d for d in dossiers if d.status not in _CLOSED_WITHOUT_RESULT]
    return _count(judged, where=lambda d: not is_overdue(d, now)), float(len(judged))


def _handling_time(dossiers: Sequence[DossierState], catalogue: Catalogue) -> Ratio:
    finished = [d for d in dossiers if d.finished_at is not None]
    if not finished:
        return 0.0, 0.0
    allowed = sum(_deadline(catalogue, d.procedure) for d in finished) / len(finished)
    taken = sum(_days_taken(d) for d in finished) / len(finished)
    # Finishing within the day it arrived takes no working day: as good as it gets.
    return (1.0, 1.0) if taken == 0 else (allowed, taken)


def _days_taken(dossier: DossierState) -> int:
    assert dossier.finished_at is not None
    days = working_days_between(parse_dvc(dossier.received_at), parse_dvc(dossier.finished_at))
    return max(days - dossier.paused_days, 0)


def _deadline(catalogue: Catalogue, code: str) -> int:
    procedure = catalogue.get(code)
    return procedure.deadline_working_days if procedure else 1


def _online_procedures(dossiers: Sequence[DossierState], catalogue: Catalogue) -> Ratio:
    handled = {d.procedure for d in dossiers}
    online = {p for p in handled if (proc := catalogue.get(p)) is not None and proc.full_online}
    return float(len(online)), float(len(handled))


def _e_results(dossiers: Sequence[DossierState], *, online_only: bool) -> Ratio:
    finished = [
        d
        for d in dossiers
        if d.finished_at is not None and (not online_only or d.channel == CHANNEL_ONLINE)
    ]
    return _count(finished, where=lambda d: d.e_result), float(len(finished))


def _feedback_on_time(feedback: Sequence[Feedback], now: datetime) -> Ratio:
    stamp = format_dvc(now)
    judged = [f for f in feedback if f.answered_at is not None or f.due_at < stamp]
    on_time = sum(1 for f in judged if f.answered_at is not None and f.answered_at <= f.due_at)
    return float(on_time), float(len(judged))


def _overall(
    dossiers: Sequence[DossierState], feedback: Sequence[Feedback], now: datetime
) -> Ratio:
    if not dossiers:
        return 0.0, 0.0
    overdue = _count(dossiers, where=lambda d: is_overdue(d, now)) / len(dossiers)
    complaints = sum(1 for f in feedback if f.kind == "complaint") / len(dossiers)
    return max(1.0 - overdue - complaints, 0.0), 1.0


def _ratios(
    dossiers: Sequence[DossierState],
    feedback: Sequence[Feedback],
    ratings: Sequence[int],
    catalogue: Catalogue,
    now: datetime,
) -> dict[str, Ratio]:
    received = float(len(dossiers))
    sync = (_count(dossiers, where=lambda d: d.synced), received)
    online_results = _e_results(dossiers, online_only=True)
    online_rate = _rate(online_results)
    sync_rate = _rate(sync)
    return {
        "1.4": sync,
        "2.1": _on_time(dossiers, now),
        "2.2": _handling_time(dossiers, catalogue),
        "3.1": _online_procedures(dossiers, catalogue),
        "3.3": (
            (online_rate * (1.0 if sync_rate is None else sync_rate), 1.0)
            if online_rate is not None
            else (0.0, 0.0)
        ),
        "3.6": (
            _count(dossiers, where=lambda d: d.has_fee and d.paid_online),
            _count(dossiers, where=lambda d: d.has_fee),
        ),
        "4.2": _e_results(dossiers, online_only=False),
        "4.3": (
            float(sum(d.reused_components for d in dossiers)),
            float(sum(d.components for d in dossiers)),
        ),
        "4.5": (_count(dossiers, where=lambda d: d.applicant_pin is not None), received),
        "5.2": _feedback_on_time(feedback, now),
        "5.3": (float(sum(1 for r in ratings if r in SATISFIED_LEVELS)), float(len(ratings))),
        "5.4": _overall(dossiers, feedback, now),
    }


def agency_index(
    agency_id: str,
    dossiers: Sequence[DossierState],
    feedback: Sequence[Feedback],
    ratings: Sequence[int],
    catalogue: Catalogue,
    now: datetime,
) -> dict[str, Any]:
    """The index of one agency: every indicator with its ratio, then groups and total."""
    groups, indicators = load_indicators()
    ratios = _ratios(dossiers, feedback, ratings, catalogue, now)
    rows = [_indicator_row(i, ratios[i.id]) for i in indicators]
    group_rows = [
        {
            "id": name,
            "name_vi": str(meta["name_vi"]),
            "points": float(meta["points"]),
            "score": round(sum(r["score"] for r in rows if r["group"] == name), 2),
        }
        for name, meta in groups.items()
    ]
    return {
        "agency_id": agency_id,
        "computed_at": format_dvc(now),
        "dossiers": len(dossiers),
        "total": round(sum(g["score"] for g in group_rows), 2),
        "max_total": sum(g["points"] for g in group_rows),
        "groups": group_rows,
        "indicators": rows,
    }


def _indicator_row(indicator: Indicator, ratio: Ratio) -> dict[str, Any]:
    rate = _rate(ratio)
    return {
        "id": indicator.id,
        "group": indicator.group,
        "name": indicator.name,
        "numerator": ratio[0],
        "denominator": ratio[1],
        "rate": None if rate is None else round(rate, 4),
        "target": indicator.target,
        "max_points": indicator.max_points,
        "score": round(score(rate, indicator), 2),
        "applicable": rate is not None,
    }
