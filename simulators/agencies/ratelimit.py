"""A per-client token bucket: the agency protects itself with 429 + Retry-After.

One bucket per client (the access token's `client_id`): `burst` requests at once, refilled
at `per_s` a second. An empty bucket answers 429 problem+json with `Retry-After` in whole
seconds (RFC 6585 §4, RFC 9110 §10.2.3) instead of letting one client push the agency into
timeouts or 5xx. The limits are the contract's (`x-rate-limit` in specs/agency.yaml): the
reference sits between its `guaranteed` and `limit_at` rates.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from simulators.common.problems import ProblemError

__all__ = ["DEFAULT_RATE_LIMIT", "RateLimit", "RateLimiter"]

# Clients idle long enough to have a full bucket carry no state; past this many buckets
# they are forgotten, so tokens minted for ever-new client ids cannot grow memory.
_MAX_CLIENTS = 10_000


@dataclass(frozen=True, slots=True)
class RateLimit:
    per_s: float
    burst: int

    def __post_init__(self) -> None:
        if self.per_s <= 0 or self.burst < 1:
            raise ValueError(f"a rate limit needs per_s > 0 and burst ≥ 1, not {self}")


# Above the load tests' peak from one client (≈125/s) and below the contract's limit_at.
DEFAULT_RATE_LIMIT = RateLimit(per_s=150.0, burst=300)


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """`admit(client)` returns when the client may go on and raises ProblemError when not.

    `status` is the answer to a client over its rate: 429 for the reference agency; the
    catalogue's `sheds-load-with-503` fault answers 503, as an overloaded proxy would.
    """

    def __init__(
        self,
        limit: RateLimit = DEFAULT_RATE_LIMIT,
        *,
        status: int = 429,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.status = status
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def admit(self, client: str) -> None:
        now = self._clock()
        bucket = self._buckets.get(client)
        if bucket is None:
            self._forget_idle(now)
            bucket = self._buckets[client] = _Bucket(float(self.limit.burst), now)
        bucket.tokens = min(
            float(self.limit.burst), bucket.tokens + (now - bucket.at) * self.limit.per_s
        )
        bucket.at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return
        raise self._refusal(math.ceil((1.0 - bucket.tokens) / self.limit.per_s))

    def _refusal(self, wait_s: int) -> ProblemError:
        wait_s = max(1, wait_s)  # delta-seconds are whole; 0 would invite an instant retry
        limit = self.limit
        return ProblemError(
            self.status,
            "Too many requests" if self.status == 429 else "Service unavailable",
            f"This client sent more than {limit.per_s:g} requests per second "
            f"(bursts of {limit.burst}); retry after {wait_s} s.",
            slug="rate-limited",
            headers={"Retry-After": str(wait_s)},
        )

    def _forget_idle(self, now: float) -> None:
        if len(self._buckets) < _MAX_CLIENTS:
            return
        refill_s = self.limit.burst / self.limit.per_s
        for client in [c for c, b in self._buckets.items() if now - b.at >= refill_s]:
            del self._buckets[client]
        if len(self._buckets) >= _MAX_CLIENTS:  # all busy: drop the stalest half
            stale = sorted(self._buckets, key=lambda c: self._buckets[c].at)
            for client in stale[: _MAX_CLIENTS // 2]:
                del self._buckets[client]
