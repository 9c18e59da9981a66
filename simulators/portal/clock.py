"""The portal's time source: real Vietnam time, or a clock a test moves.

Deadlines (dossiers, groups, the supplement window, feedback) are derived from "now" at
read time, so moving the clock is how their expiry is tested without waiting days. Any
object with `now()` fits, e.g. the population database's `SimClock`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from simulators.common.clock import now_vn

__all__ = ["Clock", "RealClock"]


class Clock(Protocol):
    def now(self) -> datetime: ...


class RealClock:
    def now(self) -> datetime:
        return now_vn()
