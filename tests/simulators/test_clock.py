"""Portal time: `yyyyMMddHHmmss` in Vietnam, and due dates in working days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from simulators.common.clock import (
    VN_TZ,
    add_working_days,
    format_dvc,
    is_working_day,
    now_vn,
    parse_dvc,
)


def vn(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=VN_TZ)


# -- format / parse -------------------------------------------------------------------------


def test_format_writes_vietnam_local_time() -> None:
    assert format_dvc(vn(2025, 1, 15, 14, 30)) == "20250115143000"


def test_format_converts_other_zones_to_vietnam_time() -> None:
    assert format_dvc(datetime(2024, 12, 31, 20, 0, 5, tzinfo=UTC)) == "20250101030005"


def test_parse_gives_an_aware_vietnam_time() -> None:
    parsed = parse_dvc("20250115143000")
    assert parsed == vn(2025, 1, 15, 14, 30)
    assert parsed.utcoffset() == timedelta(hours=7)


@pytest.mark.parametrize("text", ["20250115143000", "20240229000000", "19991231235959"])
def test_format_and_parse_round_trip(text: str) -> None:
    assert format_dvc(parse_dvc(text)) == text


def test_now_round_trips_to_the_second() -> None:
    now = now_vn().replace(microsecond=0)
    assert parse_dvc(format_dvc(now)) == now


@pytest.mark.parametrize(
    "text",
    [
        "20240230120000",  # 30 February
        "20230229120000",  # 29 February in a common year
        "20251301000000",  # month 13
        "20250115240000",  # hour 24
        "20250115126000",  # minute 60
        "20250115120060",  # second 60
        "2025011512000",  # 13 digits
        "202501151200000",  # 15 digits
        "2025011512000a",
        "2025-01-15T12:00",
        "2025 115120000 ",
        "+2025011512000",
        "٢٠٢٥٠١١٥١٢٠٠٠٠",  # Arabic-Indic digits
        "",
    ],
)
def test_parse_rejects_anything_but_a_real_yyyymmddhhmmss(text: str) -> None:
    with pytest.raises(ValueError):
        parse_dvc(text)


# -- working days ---------------------------------------------------------------------------


def test_weekends_are_not_working_days() -> None:
    assert is_working_day(date(2025, 3, 14))  # Friday
    assert not is_working_day(date(2025, 3, 15))
    assert not is_working_day(date(2025, 3, 16))


@pytest.mark.parametrize(
    "day",
    [
        date(2025, 1, 1),
        date(2025, 1, 29),
        date(2025, 4, 7),
        date(2025, 4, 30),
        date(2025, 5, 1),
        date(2025, 9, 2),
    ],
    ids=["new-year", "tet", "hung-kings", "reunification", "labour-day", "national-day"],
)
def test_public_holidays_are_not_working_days(day: date) -> None:
    assert not is_working_day(day)


def test_a_make_up_saturday_is_a_working_day_and_its_bridge_day_is_not() -> None:
    # The 2025 calendar (as the holidays package has it): civil servants worked Saturday
    # 26 April so that Friday 2 May could bridge Labour Day and the weekend.
    assert is_working_day(date(2025, 4, 26))
    assert not is_working_day(date(2025, 5, 2))
    # Received Friday 25 April 2025 at 10:00: one working day is that Saturday.
    assert add_working_days(vn(2025, 4, 25, 10), 1) == vn(2025, 4, 26, 17)


def test_a_morning_reception_counts_from_the_same_day() -> None:
    assert add_working_days(vn(2025, 3, 11, 10), 1) == vn(2025, 3, 12, 17)  # Tue → Wed


def test_the_due_time_is_17_00_vietnam_time() -> None:
    due = add_working_days(vn(2025, 3, 11, 9), 3)
    assert (due.hour, due.minute, due.utcoffset()) == (17, 0, timedelta(hours=7))


def test_working_days_skip_the_weekend() -> None:
    assert add_working_days(vn(2025, 3, 14, 10), 1) == vn(2025, 3, 17, 17)  # Fri → Mon
    assert add_working_days(vn(2025, 3, 13, 10), 3) == vn(2025, 3, 18, 17)  # Thu → Tue


def test_working_days_skip_tet_2025() -> None:
    # Tết holiday 27 Jan – 1 Feb 2025, then the weekend of 1–2 Feb.
    assert add_working_days(vn(2025, 1, 24, 10), 1) == vn(2025, 2, 3, 17)


def test_working_days_skip_the_april_and_may_holidays() -> None:
    # 30 Apr, 1 May and the substituted 2 May 2025 are off, then the weekend.
    assert add_working_days(vn(2025, 4, 29, 10), 1) == vn(2025, 5, 5, 17)


def test_a_reception_at_15_00_counts_from_the_next_working_day() -> None:
    assert add_working_days(vn(2025, 3, 11, 14, 59), 1) == vn(2025, 3, 12, 17)
    assert add_working_days(vn(2025, 3, 11, 15, 0), 1) == vn(2025, 3, 13, 17)


def test_an_afternoon_reception_on_friday_counts_from_monday() -> None:
    assert add_working_days(vn(2025, 3, 14, 16), 1) == vn(2025, 3, 18, 17)


def test_a_weekend_reception_counts_from_the_next_working_day() -> None:
    assert add_working_days(vn(2025, 3, 15, 9), 1) == vn(2025, 3, 18, 17)  # Sat → Tue
    assert add_working_days(vn(2025, 3, 16, 9), 0) == vn(2025, 3, 17, 17)  # Sun → Mon


def test_a_reception_before_tet_after_the_cut_off_counts_from_after_tet() -> None:
    assert add_working_days(vn(2025, 1, 24, 15, 30), 1) == vn(2025, 2, 4, 17)


def test_the_cut_off_is_judged_in_vietnam_time() -> None:
    # 07:30 UTC is 14:30 in Hanoi (before the cut-off); 08:30 UTC is 15:30 (after).
    assert add_working_days(datetime(2025, 3, 11, 7, 30, tzinfo=UTC), 1) == vn(2025, 3, 12, 17)
    assert add_working_days(datetime(2025, 3, 11, 8, 30, tzinfo=UTC), 1) == vn(2025, 3, 13, 17)


def test_the_reception_day_is_taken_in_vietnam_time() -> None:
    # 18:00 UTC on Friday is 01:00 on Saturday in Hanoi.
    received = datetime(2025, 3, 14, 18, 0, tzinfo=UTC)
    assert add_working_days(received, 1) == vn(2025, 3, 18, 17)


def test_zero_days_is_the_same_working_day() -> None:
    assert add_working_days(vn(2025, 3, 11, 10), 0) == vn(2025, 3, 11, 17)


def test_working_days_cross_the_year_end() -> None:
    # 31 Dec 2025 is a Wednesday; 1 Jan 2026 is a holiday.
    assert add_working_days(vn(2025, 12, 31, 10), 1) == vn(2026, 1, 2, 17)
