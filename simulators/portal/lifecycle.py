"""Dossier statuses, legal transitions and known procedures, read from specs/.

The harness reads the same YAML files, so the simulator and the checks that judge an
agency can never disagree about which status changes are legal.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from simulators.common.resources import load_yaml_spec

__all__ = ["Lifecycle", "load_lifecycle", "load_procedure_codes"]

LIFECYCLE_FILE = "dossier-lifecycle.yaml"
PROCEDURES_FILE = "procedures.yaml"


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """The status table (TrangThaiHoSo) and the transitions an agency may sync."""

    statuses: dict[int, dict[str, str]]
    initial: frozenset[int]
    terminal: frozenset[int]
    transitions: dict[int, frozenset[int]]
    # Additive keys (issue #4): statuses that stop the clock, and those that end handling.
    paused: frozenset[int] = frozenset()
    finished: frozenset[int] = frozenset()

    def allowed_after(self, previous: int | None) -> frozenset[int]:
        """Statuses that may follow `previous` (None: the dossier's first sync)."""
        if previous is None:
            return self.initial
        # Re-sending the current status is an idempotent re-sync, never a conflict.
        return self.transitions.get(previous, frozenset()) | {previous}

    def is_legal(self, previous: int | None, new: int) -> bool:
        return new in self.statuses and new in self.allowed_after(previous)

    def describe(self, status: int) -> str:
        names = self.statuses.get(status)
        return f"{status} ({names['en']})" if names else f"{status} (unknown status)"


@cache
def load_lifecycle() -> Lifecycle:
    """The lifecycle of specs/dossier-lifecycle.yaml, parsed and checked once per process."""
    data = load_yaml_spec(LIFECYCLE_FILE)
    statuses = {
        int(code): {k: str(v) for k, v in names.items()} for code, names in data["statuses"].items()
    }
    lifecycle = Lifecycle(
        statuses=statuses,
        initial=frozenset(int(s) for s in data["initial"]),
        terminal=frozenset(int(s) for s in data["terminal"]),
        transitions={int(k): frozenset(int(s) for s in v) for k, v in data["transitions"].items()},
        paused=frozenset(int(s) for s in data.get("paused", ())),
        finished=frozenset(int(s) for s in data.get("finished", ())),
    )
    _check_consistent(lifecycle)
    return lifecycle


def _check_consistent(lifecycle: Lifecycle) -> None:
    # A typo in the YAML would otherwise silently make a status unreachable.
    referenced = set(lifecycle.initial) | set(lifecycle.terminal) | set(lifecycle.transitions)
    referenced |= lifecycle.paused | lifecycle.finished
    for targets in lifecycle.transitions.values():
        referenced |= targets
    unknown = sorted(referenced - set(lifecycle.statuses))
    if unknown:
        raise ValueError(f"{LIFECYCLE_FILE} references undefined statuses {unknown}")
    leaking = sorted(s for s in lifecycle.terminal if lifecycle.transitions.get(s))
    if leaking:
        raise ValueError(f"{LIFECYCLE_FILE}: terminal statuses {leaking} have transitions")


@cache
def load_procedure_codes() -> frozenset[str]:
    """National procedure codes (MaTTHC) of specs/procedures.yaml."""
    procedures: list[dict[str, Any]] = load_yaml_spec(PROCEDURES_FILE)["procedures"]
    return frozenset(str(p["code"]) for p in procedures)
