"""Time as the portal writes it: `yyyyMMddHHmmss` in Asia/Ho_Chi_Minh."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from functools import cache

import holidays

__all__ = [
    "VN_TZ",
    "add_working_days",
    "format_dvc",
    "is_working_day",
    "now_vn",
    "parse_dvc",
    "shift_working_days",
    "working_days_between",
]

# Vietnam has kept UTC+7 without daylight saving since 1975; a fixed offset avoids
# depending on the machine's tz database.
VN_TZ = timezone(timedelta(hours=7), "Asia/Ho_Chi_Minh")
_DVC_FORMAT = "%Y%m%d%H%M%S"


def now_vn() -> datetime:
    return datetime.now(VN_TZ)


def format_dvc(moment: datetime) -> str:
    return moment.astimezone(VN_TZ).strftime(_DVC_FORMAT)


def parse_dvc(text: str) -> datetime:
    """Parse `yyyyMMddHHmmss`; raises ValueError for anything else (e.g. 20240230120000)."""
    if len(text) != 14 or not text.isdigit():
        raise ValueError(f"{text!r} is not yyyyMMddHHmmss")
    return datetime.strptime(text, _DVC_FORMAT).replace(tzinfo=VN_TZ)


# Dossiers filed after 15:00 count from the next working day (DOMAIN.md §4, [doc]).
CUT_OFF_HOUR = 15


@cache
def _calendar(year: int) -> tuple[frozenset[date], frozenset[date]]:
    """The year's days off and its make-up Saturdays (worked to bridge a holiday, e.g.
    26 April 2025 for 2 May); the holidays package carries both, the lunar days too."""
    official = holidays.country_holidays("VN", years=[year])
    return frozenset(official.keys()), frozenset(official.weekend_workdays)


def is_working_day(day: date) -> bool:
    days_off, make_up_days = _calendar(day.year)
    if day in make_up_days:
        return True
    return day.weekday() < 5 and day not in days_off


def add_working_days(received: datetime, days: int) -> datetime:
    """Due date: `days` working days after reception, at 17:00 Vietnam time.

    Reception after the 15:00 cut-off, or on a non-working day, counts from the next
    working day.
    """
    local = received.astimezone(VN_TZ)
    day = local.date()
    if local.hour >= CUT_OFF_HOUR or not is_working_day(day):
        day = _next_working_day(day)
    remaining = days
    while remaining > 0:
        day = _next_working_day(day)
        remaining -= 1
    return datetime.combine(day, time(17, 0), VN_TZ)


def _next_working_day(day: date) -> date:
    day += timedelta(days=1)
    while not is_working_day(day):
        day += timedelta(days=1)
    return day


def working_days_between(start: datetime, end: datetime) -> int:
    """Working days a paused clock loses: those from `start`'s day up to, not including,
    `end`'s day (Vietnam time).

    A pause on Monday lifted on Tuesday costs one day; lifted the same day, none. The day
    a pause starts counts whole because the agency's request ends its work that day
    ([ours]: no public rule gives hours).
    """
    day, last = start.astimezone(VN_TZ).date(), end.astimezone(VN_TZ).date()
    count = 0
    while day < last:
        count += is_working_day(day)
        day += timedelta(days=1)
    return count


def shift_working_days(moment: datetime, days: int) -> datetime:
    """`moment` moved `days` working days later, same time of day: a due date extended by
    the working days its clock was paused."""
    local = moment.astimezone(VN_TZ)
    day = local.date()
    for _ in range(days):
        day = _next_working_day(day)
    return datetime.combine(day, local.timetz())
