"""The dossier lifecycle as AGY-LIFECYCLE judges it, apart from HTTP.

The transition table is specs/dossier-lifecycle.yaml; which status allows which citizen
operation is `x-allowed-statuses` on each operation of specs/agency.yaml. An agency also
moves dossiers on its own (accepts, asks for a fee, finishes), so between two
observations a dossier may have taken several legal steps: the model is "the last status
seen, and everything the lifecycle can reach from it".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import yaml

from harness._resources import data_dir
from harness.errors import ConfigError

__all__ = [
    "OPERATIONS",
    "Answer",
    "Lifecycle",
    "Violation",
    "judge_action",
    "judge_transition",
    "load_lifecycle",
]

# The harness's name for each citizen operation → its operationId in specs/agency.yaml.
OPERATIONS = {
    "pay": "recordPayment",
    "supplement": "supplementDossier",
    "withdraw": "withdrawDossier",
}
WITHDRAWN = 7
_NAMES = {"pay": "a payment", "supplement": "a supplement", "withdraw": "a withdrawal"}
_CLOSED_NAMES = {3: "refused", 7: "withdrawn", 9: "finished", 10: "finished"}


@dataclass(frozen=True, slots=True)
class Violation:
    """What an invariant found: a finding's title, observed and expected."""

    title: str
    observed: str
    expected: str


@dataclass(frozen=True, slots=True)
class Answer:
    """The parts of an agency's answer the lifecycle is judged on."""

    http_status: int
    content_type: str
    body: Any

    @property
    def status(self) -> int | None:
        """TrangThaiHoSo from the body (DossierStatus or a 409 problem), when it is one."""
        value = self.body.get("TrangThaiHoSo") if isinstance(self.body, dict) else None
        if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 10:
            return value
        return None

    def describe(self) -> str:
        shown = f", TrangThaiHoSo {self.status}" if self.status is not None else ""
        return f"HTTP {self.http_status}{shown}"


@dataclass(frozen=True, slots=True)
class Lifecycle:
    transitions: Mapping[int, frozenset[int]]
    closed: frozenset[int]  # terminal or finished: a dossier here takes no citizen action
    allows: Mapping[str, frozenset[int]]  # operation → statuses that allow it

    def reachable(self, status: int) -> frozenset[int]:
        """`status` and every status a chain of legal transitions leads to from it."""
        seen, frontier = {status}, [status]
        while frontier:
            for following in self.transitions.get(frontier.pop(), frozenset()):
                if following not in seen:
                    seen.add(following)
                    frontier.append(following)
        return frozenset(seen)

    def may_follow(self, before: int, after: int) -> bool:
        return after in self.reachable(before)

    def possible(self, operation: str, before: int) -> frozenset[int]:
        """Statuses the dossier, last seen in `before`, may be in that allow `operation`."""
        return self.allows[operation] & self.reachable(before)

    def after(self, operation: str, before: int) -> frozenset[int]:
        """Statuses a dossier may show once `operation` was applied to it."""
        if operation == "withdraw":
            return frozenset({WITHDRAWN})  # the one transition named for an operation
        shown: set[int] = set()
        for status in self.possible(operation, before):
            for following in self.transitions.get(status, frozenset()):
                shown |= self.reachable(following)
        return frozenset(shown)


def _operation_statuses(agency: dict[str, Any]) -> dict[str, frozenset[int]]:
    by_id = {
        op["operationId"]: op
        for item in agency.get("paths", {}).values()
        for op in item.values()
        if isinstance(op, dict) and "operationId" in op
    }
    allows = {}
    for name, operation_id in OPERATIONS.items():
        statuses = by_id.get(operation_id, {}).get("x-allowed-statuses")
        if not isinstance(statuses, list) or not statuses:
            raise ConfigError(
                f"specs/agency.yaml: operation {operation_id} lists no x-allowed-statuses "
                "(e.g. `x-allowed-statuses: [6]`)"
            )
        allows[name] = frozenset(int(s) for s in statuses)
    return allows


@cache
def load_lifecycle() -> Lifecycle:
    specs = data_dir("specs")
    try:
        table = yaml.safe_load((specs / "dossier-lifecycle.yaml").read_text(encoding="utf-8"))
        agency = yaml.safe_load((specs / "agency.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the dossier lifecycle: {exc}") from None
    transitions = {
        int(s): frozenset(int(t) for t in targets) for s, targets in table["transitions"].items()
    }
    closed = frozenset(int(s) for s in [*table["terminal"], *table.get("finished", [])])
    return Lifecycle(transitions, closed, _operation_statuses(agency))


def judge_transition(lifecycle: Lifecycle, before: int, after: int, via: str) -> Violation | None:
    """Whether a dossier seen in `before`, then in `after` (seen `via` a request), can
    have got there along the lifecycle."""
    if lifecycle.may_follow(before, after):
        return None
    closed = _CLOSED_NAMES.get(before)
    return Violation(
        f"A {closed} dossier changed status" if closed else "A status moved backwards or sideways",
        f"status {before}, then {after} ({via})",
        f"only statuses reachable from {before} along specs/dossier-lifecycle.yaml: "
        f"{sorted(lifecycle.reachable(before))}",
    )


def judge_action(
    lifecycle: Lifecycle, operation: str, before: int, answer: Answer
) -> Violation | None:
    """Whether the answer to `operation` on a dossier last seen in `before` is one the
    lifecycle allows. Transitions between observations are judged separately."""
    if 200 <= answer.http_status < 300:
        return _judge_accepted(lifecycle, operation, before, answer)
    if answer.http_status == 409:
        return _judge_refused(lifecycle, operation, answer)
    what = _NAMES[operation]
    if answer.http_status == 404:
        return Violation(
            f"A dossier the agency had acknowledged was unknown to it when sent {what}",
            f"{answer.describe()} for a dossier last seen in status {before}",
            "the dossier, with 2xx or a 409 naming its status",
        )
    return Violation(
        f"{what.capitalize()} was answered neither by accepting nor by a 409 naming the status",
        f"{answer.describe()} for a dossier in status {before}",
        f"2xx when status {sorted(lifecycle.allows[operation])} allows it, otherwise 409 "
        "problem+json with TrangThaiHoSo",
    )


def _judge_accepted(
    lifecycle: Lifecycle, operation: str, before: int, answer: Answer
) -> Violation | None:
    what, after = _NAMES[operation], answer.status
    repeat = operation == "withdraw" and before == WITHDRAWN and after == WITHDRAWN
    if before in lifecycle.closed and not repeat:
        state = _CLOSED_NAMES.get(before, "closed")
        return Violation(
            f"A {state} dossier accepted {what}",
            f"{answer.describe()} for a dossier in status {before}",
            f"409 problem+json naming TrangThaiHoSo {before}: a {state} dossier accepts nothing",
        )
    if not lifecycle.possible(operation, before) and not repeat:
        return Violation(
            f"{what.capitalize()} was accepted in a status that does not allow it",
            f"{answer.describe()} for a dossier in status {before}",
            f"409 naming TrangThaiHoSo {before}; {what} is allowed only in status "
            f"{sorted(lifecycle.allows[operation])}",
        )
    if after is None or not (repeat or after in lifecycle.after(operation, before)):
        return Violation(
            f"The answer to an accepted {what.removeprefix('a ')} does not show its effect",
            f"{answer.describe()} for a dossier in status {before}",
            f"the dossier's new status, one of {sorted(lifecycle.after(operation, before))}",
        )
    return None


def _judge_refused(lifecycle: Lifecycle, operation: str, answer: Answer) -> Violation | None:
    what = _NAMES[operation]
    if not answer.content_type.startswith("application/problem+json") or answer.status is None:
        return Violation(
            f"The refusal of {what} does not name the dossier's status",
            f"HTTP 409, {answer.content_type or 'no content type'}, "
            f"TrangThaiHoSo {answer.status if answer.status is not None else 'missing'}",
            "409 application/problem+json with the current status in TrangThaiHoSo",
        )
    if answer.status in lifecycle.allows[operation]:
        return Violation(
            f"{what.capitalize()} was refused in a status that allows it",
            f"409 naming TrangThaiHoSo {answer.status}",
            f"{what} accepted: status {answer.status} allows it (x-allowed-statuses "
            f"{sorted(lifecycle.allows[operation])})",
        )
    return None
