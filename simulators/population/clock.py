"""A controllable clock: tests move time (ages, consent expiry, deadlines) without
editing data. Real time plus an offset the admin API sets; the offset is persisted, so a
restarted sandbox keeps its simulated date. Tokens stay on real time: they are minted by
the identity provider, which has no simulated clock.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from simulators.common.clock import VN_TZ, now_vn

__all__ = ["SimClock", "years_before"]


class SimClock:
    """`now()` is real Vietnam time shifted by `offset`."""

    def __init__(self, offset: timedelta = timedelta(0)) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return now_vn() + self.offset

    def today(self) -> date:
        return self.now().date()

    def set(self, moment: datetime) -> None:
        """Make `now()` read `moment` (from here on time runs normally)."""
        self.offset = moment.astimezone(VN_TZ) - now_vn()

    def advance(self, by: timedelta) -> None:
        self.offset += by

    def reset(self) -> None:
        self.offset = timedelta(0)

    def stamp(self) -> str:
        """ISO 8601 with the +07:00 offset, to the second: the audit log's form."""
        return self.now().isoformat(timespec="seconds")


def years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year that has none
        return day.replace(year=day.year - years, day=28)
