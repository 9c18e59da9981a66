"""Per-second request statistics: recorded where requests run, merged where they are judged.

Buckets are keyed by wall-clock second so workers on several machines (NTP-synchronised)
merge by plain addition; response times keep locust's rounding (2 significant digits
above 100 ms), so percentiles of merged seconds stay exact to that rounding.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MAX_ERROR_KINDS", "Recorder", "SecondStats", "percentile", "round_ms"]

MAX_ERROR_KINDS = 50  # distinct error messages kept; the target's text is untrusted
_MAX_ERROR_TEXT = 200


def round_ms(ms: float) -> int:
    if ms < 100:
        return round(ms)
    if ms < 1000:
        return int(round(ms, -1))
    return int(round(ms, -2))


def percentile(histogram: dict[int, int], q: float) -> float | None:
    """The smallest recorded time with at least q of the samples at or below it."""
    total = sum(histogram.values())
    if total == 0:
        return None
    wanted, seen = q * total, 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= wanted:
            return float(value)
    return float(max(histogram))


@dataclass(slots=True)
class SecondStats:
    requests: int = 0
    failures: int = 0
    histogram: Counter[int] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "failures": self.failures,
            "histogram": {str(k): v for k, v in self.histogram.items()},
            "kinds": dict(self.kinds),
        }

    def add(self, data: dict[str, Any]) -> None:
        self.requests += int(data["requests"])
        self.failures += int(data["failures"])
        self.histogram.update({int(k): int(v) for k, v in data["histogram"].items()})
        self.kinds.update({str(k): int(v) for k, v in data["kinds"].items()})


class Recorder:
    """Collects request outcomes by second; `drain` hands them on (worker → master)."""

    def __init__(self) -> None:
        self.seconds: dict[int, SecondStats] = {}
        self.errors: Counter[str] = Counter()

    def record(self, *, second: int, kind: str, ms: float, error: str | None) -> None:
        bucket = self.seconds.setdefault(second, SecondStats())
        bucket.requests += 1
        bucket.histogram[round_ms(ms)] += 1
        bucket.kinds[kind] += 1
        if error is not None:
            bucket.failures += 1
            self._count_error(f"{kind}: {error}"[:_MAX_ERROR_TEXT])

    def _count_error(self, text: str, count: int = 1) -> None:
        if text in self.errors or len(self.errors) < MAX_ERROR_KINDS:
            self.errors[text] += count
        else:
            self.errors["(other errors)"] += count

    def drain(self) -> dict[str, Any]:
        data = self.as_dict()
        self.seconds, self.errors = {}, Counter()
        return data

    def as_dict(self) -> dict[str, Any]:
        return {
            "seconds": {str(s): b.as_dict() for s, b in self.seconds.items()},
            "errors": dict(self.errors),
        }

    def merge(self, data: dict[str, Any]) -> None:
        for second, bucket in data.get("seconds", {}).items():
            self.seconds.setdefault(int(second), SecondStats()).add(bucket)
        for text, count in data.get("errors", {}).items():
            self._count_error(str(text)[:_MAX_ERROR_TEXT], int(count))

    def recent_all_failed(self, now: int, window: int) -> bool:
        """True when the last `window` full seconds had requests and every one failed."""
        seconds = [self.seconds.get(s) for s in range(now - window, now)]
        if any(b is None or b.requests == 0 for b in seconds):
            return False
        return all(b is not None and b.failures == b.requests for b in seconds)
