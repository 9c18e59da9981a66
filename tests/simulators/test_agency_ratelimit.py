"""The reference agency's per-client token bucket, on a clock the test turns."""

from __future__ import annotations

import pytest

from simulators.agencies import ratelimit
from simulators.agencies.ratelimit import RateLimit, RateLimiter
from simulators.common.problems import ProblemError


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def admitted(limiter: RateLimiter, client: str, count: int) -> int:
    for n in range(count):
        try:
            limiter.admit(client)
        except ProblemError:
            return n
    return count


def test_a_burst_is_admitted_then_429_with_retry_after_in_whole_seconds() -> None:
    clock = Clock()
    limiter = RateLimiter(RateLimit(per_s=2.0, burst=5), clock=clock)
    assert admitted(limiter, "portal", 10) == 5
    with pytest.raises(ProblemError) as refused:
        limiter.admit("portal")
    problem = refused.value
    assert problem.status == 429 and problem.slug == "rate-limited"
    assert problem.headers == {"Retry-After": "1"}  # ceil(1 token / 2 per s)
    assert "2 requests per second" in problem.detail


def test_the_bucket_refills_at_the_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(RateLimit(per_s=2.0, burst=5), clock=clock)
    admitted(limiter, "portal", 5)
    clock.now += 1.0
    assert admitted(limiter, "portal", 10) == 2
    clock.now += 60.0  # never more than the burst, however long the client was idle
    assert admitted(limiter, "portal", 10) == 5


def test_a_slow_rate_asks_for_a_longer_wait() -> None:
    limiter = RateLimiter(RateLimit(per_s=0.2, burst=1), clock=Clock())
    limiter.admit("portal")
    with pytest.raises(ProblemError) as refused:
        limiter.admit("portal")
    assert refused.value.headers["Retry-After"] == "5"


def test_one_clients_burst_costs_another_nothing() -> None:
    limiter = RateLimiter(RateLimit(per_s=1.0, burst=3), clock=Clock())
    assert admitted(limiter, "noisy", 10) == 3
    assert admitted(limiter, "portal", 3) == 3


def test_the_shedding_fault_answers_503() -> None:
    limiter = RateLimiter(RateLimit(per_s=1.0, burst=1), status=503, clock=Clock())
    limiter.admit("portal")
    with pytest.raises(ProblemError) as refused:
        limiter.admit("portal")
    assert refused.value.status == 503 and "Retry-After" in refused.value.headers


def test_idle_clients_are_forgotten_past_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ratelimit, "_MAX_CLIENTS", 4)
    clock = Clock()
    limiter = RateLimiter(RateLimit(per_s=1.0, burst=2), clock=clock)
    for client in "abcd":
        limiter.admit(client)
    clock.now += 10.0  # everyone's bucket is full again
    limiter.admit("e")
    assert set(limiter._buckets) == {"e"}


def test_a_limit_needs_a_positive_rate_and_burst() -> None:
    with pytest.raises(ValueError, match="per_s > 0"):
        RateLimit(per_s=0.0, burst=1)
    with pytest.raises(ValueError, match="burst ≥ 1"):
        RateLimit(per_s=1.0, burst=0)
