"""Frozen records that flow one way: check result → requirement result → run result.

`RunResult.as_dict()` is the `results.json` every report is built from; its shape is
documented in ARCHITECTURE.md and pinned by tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.outcomes import Outcome

__all__ = ["CheckResult", "Finding", "Requirement", "RequirementResult", "RunResult", "Target"]


@dataclass(frozen=True, slots=True)
class Requirement:
    id: str
    version: int
    severity: str  # "mandatory" | "recommended"
    category: str
    source: str
    text: dict[str, str]  # language code → text ("en", "vi")
    remediation: dict[str, str]
    # The security profiles that judge it (DOMAIN.md §8): strict-only ones are left out
    # of baseline runs.
    profiles: tuple[str, ...] = ("baseline", "strict")

    @property
    def key(self) -> str:
        """The versioned ID reports and checks use, e.g. ``SEC-TOKEN-AUD@1``."""
        return f"{self.id}@{self.version}"


@dataclass(frozen=True, slots=True)
class Finding:
    """One observed deviation: what we saw, what the contract expects, where it happened."""

    title: str
    observed: str
    expected: str
    exchange_ids: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "observed": self.observed,
            "expected": self.expected,
            "exchange_ids": list(self.exchange_ids),
        }


@dataclass(frozen=True, slots=True)
class CheckResult:
    check: str
    requirement_ids: tuple[str, ...]
    outcome: Outcome
    summary: str
    findings: tuple[Finding, ...] = ()
    duration_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.check,
            "requirement_ids": list(self.requirement_ids),
            "outcome": self.outcome.value,
            "summary": self.summary,
            "duration_s": round(self.duration_s, 3),
            "findings": [f.as_dict() for f in self.findings],
        }


@dataclass(frozen=True, slots=True)
class RequirementResult:
    requirement: Requirement
    outcome: Outcome
    checks: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        req = self.requirement
        return {
            "id": req.key,
            "outcome": self.outcome.value,
            "severity": req.severity,
            "category": req.category,
            "source": req.source,
            "text": dict(req.text),
            "remediation": dict(req.remediation),
            "checks": list(self.checks),
        }


@dataclass(frozen=True, slots=True)
class Target:
    base_url: str
    agency_id: str


@dataclass(frozen=True, slots=True)
class RunResult:
    target: Target
    suite_version: str
    tool_version: str
    profile: str
    seed: int
    started_at: str
    finished_at: str
    duration_s: float
    verdict: Outcome
    requirements: tuple[RequirementResult, ...]
    checks: tuple[CheckResult, ...]
    notes: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.value,
            "target": {"base_url": self.target.base_url, "agency_id": self.target.agency_id},
            "suite_version": self.suite_version,
            "tool_version": self.tool_version,
            "profile": self.profile,
            "seed": self.seed,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration_s": round(self.duration_s, 3),
            "requirements": [r.as_dict() for r in self.requirements],
            "checks": [c.as_dict() for c in self.checks],
            "notes": list(self.notes),
        }
