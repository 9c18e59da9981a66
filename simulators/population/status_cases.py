"""Temporary absences and missing people in a generated population.

The generator draws citizens; these two conditions live in their own tables (events.py),
so they are added after the load, by rule rather than by draw: whether a living adult
without another hard case is away or missing follows from the last digits of their PIN
serial, which the generator scrambles, so the choice is uniform, repeatable for a seed,
and costs one indexed pass. Rates are ours [ours]: about 1 in 100 adults is away from
home (labour migration is common), about 1 in 10,000 has been declared missing; a small
population still gets one of each, so every sandbox can hand them out.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from simulators.common.db import Database
from simulators.population.clock import years_before
from simulators.population.schema import tables_ddl

__all__ = ["ABSENT_SUFFIX", "MISSING_SUFFIX", "seed_status_cases"]

ABSENT_SUFFIX = "00"  # serials ending so: away from home, about 1 %
MISSING_SUFFIX = "7777"  # serials ending so: declared missing, about 0.01 %
_CLIENT = "generator"
_DESTINATIONS = (
    "Khu công nghiệp VSIP, Thuận An, Thành phố Hồ Chí Minh",
    "Khu công nghiệp Yên Phong, Bắc Ninh",
    "Thôn 3, xã Đắk Mil, Lâm Đồng",
    "Phường Bến Nghé, Thành phố Hồ Chí Minh",
    "Đi làm việc tại Hàn Quốc theo hợp đồng",
    "Phường Hải Châu, Thành phố Đà Nẵng",
    "Khu kinh tế Nghi Sơn, Thanh Hóa",
    "Đi học tại Hà Nội",
)


def seed_status_cases(db: Database, as_of: date) -> tuple[int, int]:
    """Add the absent and the missing to a freshly loaded store; returns their counts."""
    db.executescript(tables_ddl(db.autoincrement))
    adult = years_before(as_of, 18).isoformat()
    # The two suffixes never overlap; the fallbacks keep a tiny population's pair apart.
    absent = _eligible(db, adult, ABSENT_SUFFIX)
    missing = _eligible(db, adult, MISSING_SUFFIX) or _first_eligible(db, adult, absent)
    absent = absent or _first_eligible(db, adult, missing)
    with db.transaction():
        db.executemany(
            "INSERT INTO absences (pin, departed_on, returns_on, destination, reason, "
            "client_id) VALUES (?, ?, ?, ?, ?, ?)",
            [_absence(pin, as_of) for pin in absent],
        )
        db.executemany(
            "INSERT INTO disappearances (pin, declared_on, decision_ref, client_id) "
            "VALUES (?, ?, ?, ?)",
            [_disappearance(pin, as_of) for pin in missing],
        )
    return len(absent), len(missing)


_ELIGIBLE = (
    "SELECT pin FROM citizens WHERE date_of_death IS NULL AND hard_case IS NULL "
    "AND date_of_birth <= ? AND permanent_ward IS NOT NULL"
)


def _eligible(db: Database, adult: str, suffix: str) -> list[str]:
    rows = db.execute(f"{_ELIGIBLE} AND pin LIKE ? ORDER BY pin", (adult, f"%{suffix}"))
    return [r["pin"] for r in rows]


def _first_eligible(db: Database, adult: str, taken: list[str]) -> list[str]:
    """The first eligible PIN not taken: only reached when a suffix matched nobody, which
    happens in populations of a few thousand, so `taken` is short."""
    rows = db.execute(f"{_ELIGIBLE} ORDER BY pin LIMIT ?", (adult, len(taken) + 1))
    taken_set = set(taken)
    return [r["pin"] for r in rows if r["pin"] not in taken_set][:1]


def _absence(pin: str, as_of: date) -> tuple[Any, ...]:
    # Left between a month and a year before `as_of`; back one to six years after it —
    # labour contracts run for years — so most absences are still open when a sandbox is
    # used long after the generator's reference date.
    serial = int(pin[-6:])
    departed = as_of - timedelta(days=30 + serial % 335)
    returns = as_of + timedelta(days=365 + (serial // 7) % 1826)
    destination = _DESTINATIONS[(serial // 100) % len(_DESTINATIONS)]
    return (pin, departed.isoformat(), returns.isoformat(), destination, "lao động", _CLIENT)


def _disappearance(pin: str, as_of: date) -> tuple[Any, ...]:
    # Declared by a court, which needs two years without news (Civil Code art. 68).
    declared = as_of - timedelta(days=30 + int(pin[-6:]) % 2000)
    ref = f"{declared.year % 100:02d}/{declared.year}/QĐST-DS"
    return (pin, declared.isoformat(), ref, _CLIENT)
