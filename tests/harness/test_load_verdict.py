"""Grading a load run from its per-second timeline: rows, backlog, drain, SLOs, verdict."""

from __future__ import annotations

from typing import Any

import pytest

from harness.load.profiles import load_profile
from harness.load.shape import Plan
from harness.load.timeline import Recorder, percentile, round_ms
from harness.load.verdict import drain_seconds, grade, measure, rows_from_timeline

T0 = 1_700_000_000


def _plan() -> Plan:
    # status-sync: 10.5 real hours; at 3780× the run lasts 10 s and the peak ends at 9.5 s.
    return Plan(load_profile("status-sync"), 0.01, 3780.0)


def _timeline(plan: Plan, answered: list[int], failed: int = 0, ms: float = 20.0) -> dict[str, Any]:
    recorder = Recorder()
    for second, count in enumerate(answered):
        for n in range(count):
            error = "POST v1 answered 503, expected 200" if n < failed else None
            recorder.record(second=T0 + second, kind="sync-new", ms=ms, error=error)
    return {"t0": T0 + 0.3, **recorder.as_dict()}


def _offered(plan: Plan) -> list[int]:
    return [round(x) for x in plan.offered_per_second()]


def test_a_target_that_keeps_up_passes_every_slo() -> None:
    plan = _plan()
    timeline = _timeline(plan, _offered(plan))
    rows = rows_from_timeline(plan, timeline)
    totals = measure(plan, timeline, rows)
    results = grade(plan, totals, reached_peak_end=True)
    assert [r.passed for r in results] == [True] * 5
    assert totals.throughput_ratio == pytest.approx(1.0, abs=0.02)
    assert totals.drain_s == 0.0


def test_a_slow_target_builds_a_backlog_and_fails_throughput_and_drain() -> None:
    plan = _plan()
    half = [n // 2 for n in _offered(plan)]
    timeline = _timeline(plan, half, ms=2400.0)
    rows = rows_from_timeline(plan, timeline)
    totals = measure(plan, timeline, rows)
    failed = {r.name for r in grade(plan, totals, reached_peak_end=True) if r.passed is False}
    assert failed == {
        "p95 latency",
        "p99 latency",
        "throughput achieved / offered",
        "backlog drain after the peak",
    }
    assert rows[-1].backlog > 0 and drain_seconds(plan, rows) is None


def test_errors_fail_the_error_rate() -> None:
    plan = _plan()
    timeline = _timeline(plan, _offered(plan), failed=3)
    totals = measure(plan, timeline, rows_from_timeline(plan, timeline))
    (error_rate,) = [
        r for r in grade(plan, totals, reached_peak_end=True) if r.name == "error rate"
    ]
    assert error_rate.passed is False and error_rate.measured == totals.failed / totals.completed


def test_a_run_that_ended_before_the_peak_cannot_judge_the_drain() -> None:
    plan = _plan()
    timeline = _timeline(plan, _offered(plan)[:3])
    totals = measure(plan, timeline, rows_from_timeline(plan, timeline))
    (drain,) = [r for r in grade(plan, totals, reached_peak_end=False) if "drain" in r.name]
    assert drain.passed is None and "before the peak" in drain.note


def test_percentiles_and_rounding_follow_locust() -> None:
    assert [round_ms(x) for x in (42.4, 123.0, 1234.0)] == [42, 120, 1200]
    assert percentile({10: 90, 500: 9, 3000: 1}, 0.95) == 500
    assert percentile({}, 0.5) is None


def test_merging_worker_reports_adds_seconds_and_bounds_error_texts() -> None:
    master, worker = Recorder(), Recorder()
    for n in range(60):
        worker.record(second=T0, kind="status", ms=5, error=f"hostile {n} {'x' * 500}")
    master.merge(worker.drain())
    master.merge(
        {"seconds": {str(T0): {"requests": 1, "failures": 0, "histogram": {"5": 1}, "kinds": {}}}}
    )
    assert master.seconds[T0].requests == 61 and master.seconds[T0].failures == 60
    assert len(master.errors) == 51 and master.errors["(other errors)"] == 10
    assert all(len(text) <= 200 for text in master.errors)
    assert worker.seconds == {}


def test_all_failed_needs_a_full_window_of_failures() -> None:
    recorder = Recorder()
    for second in range(T0, T0 + 3):
        recorder.record(second=second, kind="submit", ms=1, error="ConnectionRefusedError")
    assert recorder.recent_all_failed(T0 + 3, 3)
    assert not recorder.recent_all_failed(T0 + 4, 3)  # one second without requests
