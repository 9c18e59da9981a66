"""`LoadResult`: one graded load run, the record `load.json` and the reports are built from."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from harness.load.shape import Plan
from harness.load.verdict import (
    Row,
    SloResult,
    Totals,
    grade,
    measure,
    reached_peak_end,
    rows_from_timeline,
)

if TYPE_CHECKING:
    from harness.load.engine import LoadOptions

__all__ = ["EXIT_CODES", "LoadResult", "build_result"]

EXIT_CODES = {"pass": 0, "fail": 1, "error": 3}
_MAX_ERRORS = 20


@dataclass(frozen=True, slots=True)
class LoadResult:
    profile: str
    title: str
    target_url: str
    agency_id: str
    scale: float
    compress: float
    workers: int
    started_at: str
    status: str  # finished | aborted | interrupted | timeout | error
    reason: str | None
    verdict: str  # pass | fail | error
    slos: tuple[SloResult, ...]
    totals: Totals
    rows: tuple[Row, ...]
    errors: tuple[tuple[str, int], ...]
    duration_s: float
    peak_end_s: float
    locust_version: str | None
    sources: tuple[str, ...]
    security_profile: str = "baseline"  # strict: mutual TLS, bound token, signed requests

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rows"] = [asdict(r) for r in self.rows]
        data["errors"] = [{"error": e, "count": n} for e, n in self.errors]
        data["exit_code"] = self.exit_code
        return data


def _status(timeline: dict[str, Any], ending: str) -> tuple[str, str | None]:
    reason = timeline.get("reason")
    if ending == "interrupted":
        return "interrupted", "interrupted (Ctrl-C); the report holds what was measured"
    if ending == "timeout":
        return "timeout", "the locust process overran its time limit and was stopped"
    status = str(timeline.get("status", "error"))
    if status == "running":  # the process died between two snapshots
        return "error", f"the locust process ended ({ending}) mid-run"
    return status, None if reason is None else str(reason)


def _verdict(status: str, slos: list[SloResult], totals: Totals) -> str:
    if status in ("error", "interrupted", "timeout") or totals.completed == 0:
        return "error"
    if status == "aborted" or any(s.passed is False for s in slos):
        return "fail"  # the target stopped answering: that is its failure, not ours
    return "error" if any(s.passed is None for s in slos) else "pass"


def build_result(
    options: LoadOptions,
    plan: Plan,
    timeline: dict[str, Any],
    *,
    ending: str,
    started_at: str,
) -> LoadResult:
    rows = rows_from_timeline(plan, timeline)
    totals = measure(plan, timeline, rows)
    reached = reached_peak_end(plan, rows)
    slos = grade(plan, totals, reached_peak_end=reached)
    status, reason = _status(timeline, ending)
    errors = sorted(timeline.get("errors", {}).items(), key=lambda item: -int(item[1]))
    return LoadResult(
        profile=plan.profile.name,
        title=plan.profile.title,
        target_url=options.target_url,
        agency_id=options.agency_id,
        scale=plan.scale,
        compress=plan.compress,
        workers=options.workers or options.expect_workers,
        started_at=started_at,
        status=status,
        reason=reason,
        verdict=_verdict(status, slos, totals),
        slos=tuple(slos),
        totals=totals,
        rows=tuple(rows),
        errors=tuple((str(e)[:200], int(n)) for e, n in errors[:_MAX_ERRORS]),
        duration_s=plan.duration_s,
        peak_end_s=plan.peak_end_s,
        locust_version=timeline.get("locust_version"),
        sources=plan.profile.sources,
        security_profile=options.security_profile,
    )
