"""From `timeline.json` to a graded result: per-second rows, totals and SLO outcomes.

Pure functions over data, so grading is tested without locust or servers.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

from harness.load.shape import Plan
from harness.load.timeline import percentile

__all__ = [
    "Row",
    "SloResult",
    "Totals",
    "drain_seconds",
    "grade",
    "measure",
    "reached_peak_end",
    "rows_from_timeline",
]

_DRAIN_TOLERANCE = 0.02  # backlog counted as gone below 2% of the offered load so far


@dataclass(frozen=True, slots=True)
class Row:
    second: int
    offered: float
    completed: int
    failed: int
    users: int | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    backlog: float

    @property
    def succeeded(self) -> int:
        return self.completed - self.failed


@dataclass(frozen=True, slots=True)
class Totals:
    offered: float
    completed: int
    failed: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    error_rate: float | None
    throughput_ratio: float | None
    drain_s: float | None
    peak_offered_rps: float
    peak_achieved_rps: int
    measured_s: int
    by_kind: dict[str, int]


@dataclass(frozen=True, slots=True)
class SloResult:
    name: str
    limit: float
    measured: float | None
    passed: bool | None  # None: could not be measured in this run
    unit: str
    note: str = ""


def _second_data(timeline: dict[str, Any]) -> dict[int, dict[str, Any]]:
    t0 = int(timeline.get("t0") or 0)
    return {int(k) - t0: v for k, v in timeline.get("seconds", {}).items()}


def rows_from_timeline(plan: Plan, timeline: dict[str, Any]) -> list[Row]:
    seconds = _second_data(timeline)
    users = {int(k): int(v) for k, v in timeline.get("users", {}).items()}
    offered = plan.offered_per_second()
    last = max([*seconds, *users, -1]) + 1
    rows, backlog = [], 0.0
    for s in range(last):
        data = seconds.get(s, {"requests": 0, "failures": 0, "histogram": {}})
        histogram = {int(k): int(v) for k, v in data["histogram"].items()}
        planned = offered[s] if 0 <= s < len(offered) else 0.0
        backlog = max(0.0, backlog + planned - int(data["requests"]))
        rows.append(
            Row(
                second=s,
                offered=planned,
                completed=int(data["requests"]),
                failed=int(data["failures"]),
                users=users.get(s),
                p50_ms=percentile(histogram, 0.50),
                p95_ms=percentile(histogram, 0.95),
                p99_ms=percentile(histogram, 0.99),
                backlog=backlog,
            )
        )
    return rows


def _histogram(timeline: dict[str, Any]) -> dict[int, int]:
    merged: Counter[int] = Counter()
    for data in timeline.get("seconds", {}).values():
        merged.update({int(k): int(v) for k, v in data["histogram"].items()})
    return dict(merged)


def _kinds(timeline: dict[str, Any]) -> dict[str, int]:
    merged: Counter[str] = Counter()
    for data in timeline.get("seconds", {}).values():
        merged.update({str(k): int(v) for k, v in data.get("kinds", {}).items()})
    return dict(merged)


def drain_seconds(plan: Plan, rows: list[Row]) -> float | None:
    """Seconds after the peak's end until the backlog (offered − answered, carried over
    from second to second) is back under 2% of what was offered so far; None if never."""
    peak_end = math.floor(plan.peak_end_s)
    offered_so_far = 0.0
    for row in rows:
        offered_so_far += row.offered
        if row.second >= peak_end and row.backlog <= max(5.0, _DRAIN_TOLERANCE * offered_so_far):
            return float(row.second - peak_end)
    return None


def reached_peak_end(plan: Plan, rows: list[Row]) -> bool:
    return bool(rows) and rows[-1].second >= math.floor(plan.peak_end_s)


def measure(plan: Plan, timeline: dict[str, Any], rows: list[Row]) -> Totals:
    histogram = _histogram(timeline)
    completed = sum(r.completed for r in rows)
    failed = sum(r.failed for r in rows)
    offered = sum(r.offered for r in rows)
    return Totals(
        offered=offered,
        completed=completed,
        failed=failed,
        p50_ms=percentile(histogram, 0.50),
        p95_ms=percentile(histogram, 0.95),
        p99_ms=percentile(histogram, 0.99),
        error_rate=failed / completed if completed else None,
        throughput_ratio=(completed - failed) / offered if offered > 0 else None,
        drain_s=drain_seconds(plan, rows) if reached_peak_end(plan, rows) else None,
        peak_offered_rps=plan.peak_offered_rps,
        peak_achieved_rps=max((r.succeeded for r in rows), default=0),
        measured_s=len(rows),
        by_kind=_kinds(timeline),
    )


def _upper(name: str, limit: float, value: float | None, unit: str, note: str) -> SloResult:
    return SloResult(name, limit, value, None if value is None else value <= limit, unit, note)


def _drain(limit: float, drain_s: float | None, reached_peak_end: bool) -> SloResult:
    name = "backlog drain after the peak"
    if not reached_peak_end:
        return SloResult(name, limit, None, None, "s", "the run ended before the peak did")
    if drain_s is None:
        return SloResult(name, limit, None, False, "s", "the backlog remained when the run ended")
    return SloResult(name, limit, drain_s, drain_s <= limit, "s", "seconds of the compressed run")


def grade(plan: Plan, totals: Totals, *, reached_peak_end: bool) -> list[SloResult]:
    slo = plan.profile.slo
    ratio = totals.throughput_ratio
    return [
        _upper("p95 latency", slo.p95_ms, totals.p95_ms, "ms", "all requests"),
        _upper("p99 latency", slo.p99_ms, totals.p99_ms, "ms", "all requests"),
        _upper("error rate", slo.max_error_rate, totals.error_rate, "", "failed / answered"),
        SloResult(
            "throughput achieved / offered",
            slo.min_throughput_ratio,
            ratio,
            None if ratio is None else ratio >= slo.min_throughput_ratio,
            "",
            "successful requests / requests the calendar offered",
        ),
        _drain(slo.max_drain_s, totals.drain_s, reached_peak_end),
    ]
