"""Checks: plain functions, each named for the property it asserts and the requirements
it verifies. Importing this package registers them all."""

from __future__ import annotations

from harness.checks import (
    contract,
    disclosure,
    idempotency,
    journey,
    lifecycle,
    population_use,
    resilience,
    scenarios,
    signatures,
    sync,
    tls,
    tokens,
)

# isort: split
# Last: on an agency that limits by address rather than per client, the burst would
# starve any check run after it (the check also waits out a Retry-After if it must).
from harness.checks import ratelimit
from harness.checks.registry import CheckSpec, check, registered_checks

__all__ = [
    "CheckSpec",
    "check",
    "contract",
    "disclosure",
    "idempotency",
    "journey",
    "lifecycle",
    "population_use",
    "ratelimit",
    "registered_checks",
    "resilience",
    "scenarios",
    "signatures",
    "sync",
    "tls",
    "tokens",
]
