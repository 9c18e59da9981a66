"""The check registry: `@check("SEC-TOKEN-AUD@1")` on a function `(ctx) -> summary`.

A check returns a one-line summary when the property holds, raises `Failure` with
findings when it does not, `Skip` when it does not apply; anything else is an error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from harness.context import CheckContext

__all__ = ["CheckFunction", "CheckSpec", "check", "registered_checks"]

CheckFunction = Callable[[CheckContext], str]


@dataclass(frozen=True, slots=True)
class CheckSpec:
    name: str
    requirements: tuple[str, ...]
    func: CheckFunction
    description: str


_REGISTRY: dict[str, CheckSpec] = {}


def check(*requirements: str) -> Callable[[CheckFunction], CheckFunction]:
    def register(func: CheckFunction) -> CheckFunction:
        doc = (func.__doc__ or "").strip().splitlines()
        _REGISTRY[func.__name__] = CheckSpec(
            func.__name__, requirements, func, doc[0] if doc else func.__name__
        )
        return func

    return register


def registered_checks() -> tuple[CheckSpec, ...]:
    return tuple(_REGISTRY.values())
