"""The calendar shape as pure arithmetic: offered load at any moment of a compressed run.

Real time is measured in hours from the profile's reference moment (hour 0, e.g. a 17:00
deadline). The run replays the calendar `compress` times faster with `scale` of the people,
so the offered request rate at run second t is

    offered(t) = scale × compress × K × intensity(h(t)) / 3600,   h(t) = h0 + t·compress/3600

where K (requests per real hour per unit of intensity) makes the profile's counted request
kinds inside its volume window add up to `total × share_in_window`. No locust here: the
locust shape and the report both read this, and it is unit-tested on its own.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import cached_property

from harness.load.profiles import Profile

__all__ = ["Plan", "integral", "intensity"]


def intensity(points: tuple[tuple[float, float], ...], hour: float) -> float:
    """Piecewise-linear intensity; zero outside the calendar."""
    if hour < points[0][0] or hour > points[-1][0]:
        return 0.0
    for (h0, v0), (h1, v1) in itertools.pairwise(points):
        if h0 <= hour <= h1:
            return v0 + (v1 - v0) * (hour - h0) / (h1 - h0)
    return points[-1][1]


def integral(points: tuple[tuple[float, float], ...], a: float, b: float) -> float:
    """Exact ∫ₐᵇ intensity dh (trapezoids over the pieces the interval cuts)."""
    total = 0.0
    for (h0, _), (h1, _) in itertools.pairwise(points):
        lo, hi = max(a, h0), min(b, h1)
        if hi > lo:
            total += (intensity(points, lo) + intensity(points, hi)) / 2 * (hi - lo)
    return total


def _share(mix: dict[str, float], kinds: tuple[str, ...]) -> float:
    return sum(mix.get(k, 0.0) for k in kinds) / sum(mix.values())


@dataclass(frozen=True)
class Plan:
    """One profile at one `scale` (fraction of people) and `compress` (time factor)."""

    profile: Profile
    scale: float
    compress: float

    @property
    def first_h(self) -> float:
        return self.profile.points[0][0]

    @property
    def duration_s(self) -> float:
        return (self.profile.points[-1][0] - self.first_h) * 3600 / self.compress

    @property
    def peak_end_s(self) -> float:
        return (self.profile.peak_end_h - self.first_h) * 3600 / self.compress

    def hour_at(self, t: float) -> float:
        return self.first_h + t * self.compress / 3600

    @cached_property
    def requests_per_intensity_hour(self) -> float:
        """K: real requests per hour per unit of intensity, from the profile's volume."""
        volume, peak = self.profile.volume, self.profile.peak_end_h
        a, b = volume.window_h
        before = integral(self.profile.points, a, min(b, peak))
        after = integral(self.profile.points, max(a, peak), b)
        counted = before * _share(self.profile.mix, volume.kinds) + after * _share(
            self.profile.mix_after_peak, volume.kinds
        )
        if counted <= 0:
            return 0.0
        return volume.total * volume.share_in_window / counted

    def real_rps(self, hour: float) -> float:
        """Requests per second the real event offered at `hour`."""
        return self.requests_per_intensity_hour * intensity(self.profile.points, hour) / 3600

    def offered_rps(self, t: float) -> float:
        """Requests per second the run offers at run second `t`."""
        return self.scale * self.compress * self.real_rps(self.hour_at(t))

    def offered_between(self, t0: float, t1: float) -> float:
        """Requests the run offers between run seconds t0 and t1 (exact)."""
        hours = integral(self.profile.points, self.hour_at(t0), self.hour_at(t1))
        return self.scale * self.requests_per_intensity_hour * hours

    def users_at(self, t: float) -> int:
        """Simulated users needed at `t`, each pacing requests_per_user_s."""
        rate = self.offered_rps(t)
        if rate <= 0:
            return 0
        return min(self.profile.max_users, math.ceil(rate / self.profile.requests_per_user_s))

    def mix_at(self, t: float) -> dict[str, float]:
        after = self.hour_at(t) > self.profile.peak_end_h
        return self.profile.mix_after_peak if after else self.profile.mix

    def offered_per_second(self) -> list[float]:
        """Offered requests in each whole second of the run (the last one may be partial)."""
        seconds = math.ceil(self.duration_s)
        return [self.offered_between(s, min(s + 1, self.duration_s)) for s in range(seconds)]

    @property
    def peak_real_rps(self) -> float:
        return max(self.real_rps(h) for h, _ in self.profile.points)

    @property
    def peak_offered_rps(self) -> float:
        return self.scale * self.compress * self.peak_real_rps

    @property
    def offered_total(self) -> float:
        return self.offered_between(0.0, self.duration_s)

    @property
    def applicants(self) -> int:
        people = self.profile.volume.applicants or self.profile.volume.total
        return max(1, math.ceil(people * self.scale))
