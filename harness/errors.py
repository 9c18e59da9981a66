"""The two exception families, so no raw traceback ever reaches a user.

::

    HarnessError            we could not do our job (misuse or environment) — never a verdict
    ├── ConfigError         bad option, file or value: exit 2
    └── EnvironmentProblem  target or sandbox unreachable, I/O trouble: exit 3
        └── TargetUnreachable

    Failure                 the system under test is not conformant (one finding or more)
    Skip                    a check does not apply to this target
"""

from __future__ import annotations

from harness.records import Finding

__all__ = [
    "ConfigError",
    "EnvironmentProblem",
    "Failure",
    "HarnessError",
    "Skip",
    "TargetUnreachable",
]


class HarnessError(Exception):
    """Base of everything that means "could not judge"; carries its CLI exit code."""

    exit_code = 3


class ConfigError(HarnessError):
    exit_code = 2


class EnvironmentProblem(HarnessError):
    exit_code = 3


class TargetUnreachable(EnvironmentProblem):
    pass


class Failure(Exception):
    """Raised by a check when the target violates its requirement."""

    def __init__(self, *findings: Finding) -> None:
        super().__init__(findings[0].title if findings else "failure")
        self.findings = findings


class Skip(Exception):
    """Raised by a check that does not apply; the message says why."""
