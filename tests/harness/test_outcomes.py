from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.outcomes import Outcome, roll_up
from harness.records import Requirement, RequirementResult
from harness.runner import decide_verdict

P, F, S, E = Outcome.PASS, Outcome.FAIL, Outcome.SKIP, Outcome.ERROR


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [([], S), ([P], P), ([P, S], P), ([S, S], S), ([P, E], E), ([E, F, P], F), ([S, E], E)],
)
def test_roll_up_precedence(outcomes: list[Outcome], expected: Outcome) -> None:
    assert roll_up(outcomes) is expected


@given(st.lists(st.sampled_from(list(Outcome))))
def test_roll_up_ignores_order_and_fail_always_wins(outcomes: list[Outcome]) -> None:
    assert roll_up(outcomes) is roll_up(reversed(outcomes))
    if F in outcomes:
        assert roll_up(outcomes) is F


def _result(outcome: Outcome, severity: str = "mandatory") -> RequirementResult:
    requirement = Requirement("X-1", 1, severity, "c", "s", {"en": "t"}, {"en": "r"})
    return RequirementResult(requirement, outcome, ())


def test_verdict_fails_on_a_mandatory_failure_even_beside_errors() -> None:
    assert decide_verdict([_result(P), _result(E), _result(F)]) is F


def test_verdict_is_error_when_a_mandatory_requirement_was_not_judged() -> None:
    assert decide_verdict([_result(P), _result(E)]) is E
    assert decide_verdict([_result(P), _result(S)]) is E


def test_recommended_requirements_do_not_decide_the_verdict() -> None:
    assert decide_verdict([_result(P), _result(F, "recommended")]) is P
