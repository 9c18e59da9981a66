"""The closed outcome vocabulary and the one function that rolls outcomes up.

*fail* means the system under test is not conformant; *error* means the harness could not
judge. They are never mixed: a check that cannot reach the target errors, it does not fail.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

__all__ = ["Outcome", "roll_up"]


class Outcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"
    ERROR = "error"


# Precedence when several outcomes meet: proven non-conformance wins over "could not
# judge", which wins over "not run", which wins over "conformant" (as in Inferno).
_PRECEDENCE = {Outcome.FAIL: 3, Outcome.ERROR: 2, Outcome.PASS: 1, Outcome.SKIP: 0}


def roll_up(outcomes: Iterable[Outcome]) -> Outcome:
    """Combine outcomes: fail > error > pass > skip; nothing at all is a skip.

    A pass beside skips is a pass (something was checked and held); only all-skipped
    stays skip.
    """
    worst = Outcome.SKIP
    for outcome in outcomes:
        if _PRECEDENCE[outcome] > _PRECEDENCE[worst]:
            worst = outcome
    return worst
