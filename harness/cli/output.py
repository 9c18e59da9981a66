"""What the commands print: progress while checks run, then the verdict and the files."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape

from harness.cli.app import console
from harness.outcomes import Outcome
from harness.records import RunResult
from harness.reporting import ReportFiles
from harness.runner import CheckFinished, Event

__all__ = ["EXIT_CODES", "print_event", "print_summary"]

EXIT_CODES = {Outcome.PASS: 0, Outcome.FAIL: 1, Outcome.ERROR: 3, Outcome.SKIP: 3}
_STYLE = {Outcome.PASS: "green", Outcome.FAIL: "red", Outcome.ERROR: "yellow", Outcome.SKIP: "dim"}


def _badge(outcome: Outcome) -> str:
    return f"[{_STYLE[outcome]}]{outcome.value.upper():5}[/]"


def print_event(event: Event) -> None:
    if isinstance(event, CheckFinished):
        result = event.result
        # Summaries can quote the target's answers: escape them before rich renders markup.
        console.print(
            f"  {_badge(result.outcome)} {result.check:38} [dim]{escape(result.summary[:110])}[/]"
        )


def print_summary(run: RunResult, files: ReportFiles, *, verdict: Outcome | None = None) -> None:
    """Requirements, then the overall verdict (the run's, or with a load test's folded in)."""
    console.print()
    for req in run.requirements:
        console.print(
            f"  {_badge(req.outcome)} {req.requirement.key:26} "
            f"{escape(req.requirement.text['en'][:90])}"
        )
    failed = [r.requirement.key for r in run.requirements if r.outcome is Outcome.FAIL]
    overall = verdict or run.verdict
    if overall is not run.verdict:
        failed.append("load SLOs" if overall is Outcome.FAIL else "load test not judged")
    console.print(
        f"\n[bold]verdict:[/] {_badge(overall)} for {escape(run.target.agency_id)} "
        f"at {escape(run.target.base_url)} in {run.duration_s:.1f} s"
        + (f" — violated: {', '.join(failed)}" if failed else "")
    )
    for label, path in (("html", files.html), ("json", files.json), ("junit", files.junit)):
        console.print(f"  {label:5} {_relative(path)}")


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
