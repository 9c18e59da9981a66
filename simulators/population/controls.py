"""Per-client rate limits (429 with Retry-After) and fault injection (latency, 5xx bursts,
429 storms, timeouts) the harness switches on through the admin API, to grade how an
agency copes. The configuration survives a restart (`snapshot` / `restore`, kept in the
store's settings by the admin API); the token buckets' fill levels do not.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from dataclasses import dataclass, field, fields
from typing import Any

from simulators.common.problems import ProblemError

__all__ = ["Controls", "Faults", "RateLimit"]

DEFAULT_CLIENT = "*"


@dataclass(slots=True)
class RateLimit:
    requests_per_second: float
    burst: int
    tokens: float = field(default=0.0, repr=False)
    updated: float = field(default_factory=time.monotonic, repr=False)

    def __post_init__(self) -> None:
        self.tokens = float(self.burst)

    def take(self) -> float:
        """0 when a request may pass, else the seconds until one may."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.requests_per_second)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.requests_per_second

    def public(self) -> dict[str, Any]:
        return {"requests_per_second": self.requests_per_second, "burst": self.burst}


@dataclass(slots=True)
class Faults:
    latency_ms: int = 0
    error_rate: float = 0.0
    throttle_rate: float = 0.0
    timeout_rate: float = 0.0
    timeout_s: float = 30.0
    expires_at: float | None = field(default=None, repr=False)
    # Set when these faults are cleared or replaced: calls they still hold are let go, so a
    # harness that is done with a hang does not leave requests sleeping (and a sandbox
    # shutting down waiting) for the rest of it.
    released: bool = field(default=False, repr=False, compare=False)

    def active(self) -> bool:
        return self.expires_at is None or time.monotonic() < self.expires_at

    def remaining_s(self) -> float | None:
        return None if self.expires_at is None else max(0.0, self.expires_at - time.monotonic())

    def public(self) -> dict[str, Any]:
        data: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self) if f.repr}
        data["remaining_s"] = self.remaining_s()
        return data


class Controls:
    """Limits and faults by client id; "*" applies to clients without their own."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self.limits: dict[str, RateLimit] = {}
        self.faults: dict[str, Faults] = {}
        self._buckets: dict[str, RateLimit] = {}
        self._rng = rng or random.Random()

    def set_limit(self, client_id: str, rate: float, burst: int) -> None:
        self.limits[client_id] = RateLimit(rate, burst)
        self._buckets = {k: v for k, v in self._buckets.items() if k != client_id}
        if client_id == DEFAULT_CLIENT:
            self._buckets.clear()

    def clear_limit(self, client_id: str) -> None:
        self.limits.pop(client_id, None)
        self._buckets.pop(client_id, None)

    def set_faults(self, client_id: str, faults: Faults, duration_s: float | None) -> None:
        faults.expires_at = None if duration_s is None else time.monotonic() + duration_s
        self.clear_faults(client_id)
        self.faults[client_id] = faults

    def clear_faults(self, client_id: str) -> None:
        """Stop injecting faults for the client, letting go the calls they hold."""
        faults = self.faults.pop(client_id, None)
        if faults is not None:
            faults.released = True

    def snapshot(self) -> dict[str, Any]:
        """The configuration as JSON-able data; a fault's expiry becomes wall-clock time,
        since a restarted process has a new monotonic clock."""
        faults = {}
        for client_id, fault in self.faults.items():
            if not fault.active():
                continue
            data = {k: v for k, v in fault.public().items() if k != "remaining_s"}
            remaining = fault.remaining_s()
            data["expires_at_epoch"] = None if remaining is None else time.time() + remaining
            faults[client_id] = data
        limits = {k: v.public() for k, v in self.limits.items()}
        return {"limits": limits, "faults": faults}

    @classmethod
    def restore(cls, snapshot: dict[str, Any] | None) -> Controls:
        """Controls configured as `snapshot` (from `snapshot()`); faults that expired while
        the process was down stay off."""
        controls = cls()
        snapshot = snapshot or {}
        for client_id, limit in snapshot.get("limits", {}).items():
            controls.set_limit(client_id, limit["requests_per_second"], limit["burst"])
        for client_id, data in snapshot.get("faults", {}).items():
            expires = data.pop("expires_at_epoch", None)
            remaining = None if expires is None else expires - time.time()
            if remaining is None or remaining > 0:
                controls.set_faults(client_id, Faults(**data), remaining)
        return controls

    async def gate(self, client_id: str) -> None:
        """Apply the client's faults, then its rate limit; raises the problem to answer."""
        faults = self.faults.get(client_id) or self.faults.get(DEFAULT_CLIENT)
        if faults is not None and faults.active():
            await self._inject(faults)
        self._limit(client_id)

    def _limit(self, client_id: str) -> None:
        config = self.limits.get(client_id) or self.limits.get(DEFAULT_CLIENT)
        if config is None:
            return
        bucket = self._buckets.get(client_id)
        if bucket is None:
            bucket = self._buckets[client_id] = RateLimit(config.requests_per_second, config.burst)
        wait = bucket.take()
        if wait:
            raise throttled(wait, f"more than {config.requests_per_second:g} requests/s")

    async def _inject(self, faults: Faults) -> None:
        if faults.latency_ms:
            await _hold(faults, faults.latency_ms / 1000)
        draw = self._rng.random()
        if draw < faults.timeout_rate:
            await _hold(faults, faults.timeout_s)
            raise ProblemError(
                504,
                "Gateway timeout",
                "Injected fault: the request timed out.",
                slug="injected-timeout",
            )
        draw -= faults.timeout_rate
        if draw < faults.error_rate:
            raise ProblemError(
                503,
                "Service unavailable",
                "Injected fault: a 5xx burst.",
                slug="injected-error",
                headers={"Retry-After": "1"},
            )
        if draw - faults.error_rate < faults.throttle_rate:
            raise throttled(1.0, "injected fault: a 429 storm")


_HOLD_STEP_S = 0.05


async def _hold(faults: Faults, seconds: float) -> None:
    """Hold a call `seconds`, or until its faults are cleared or replaced. A flag polled
    in short sleeps, not an asyncio.Event: an Event is bound to one event loop, and the
    faults outlive any one loop (a restart, a test client)."""
    until = time.monotonic() + seconds
    while not faults.released and (left := until - time.monotonic()) > 0:
        await asyncio.sleep(min(left, _HOLD_STEP_S))


def throttled(wait_s: float, why: str) -> ProblemError:
    retry = max(1, math.ceil(wait_s))
    return ProblemError(
        429,
        "Too many requests",
        f"Rate limit: {why}; retry after {retry} s.",
        slug="rate-limited",
        headers={"Retry-After": str(retry)},
    )
