"""Checks: plain functions, each named for the property it asserts and the requirements
it verifies. Importing this package registers them all."""

from __future__ import annotations

from harness.checks import contract, disclosure, idempotency, journey, resilience, tokens
from harness.checks.registry import CheckSpec, check, registered_checks

__all__ = [
    "CheckSpec",
    "check",
    "contract",
    "disclosure",
    "idempotency",
    "journey",
    "registered_checks",
    "resilience",
    "tokens",
]
