"""The simulator's SQLite store: citizens and the audit log of every access."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from simulators.common.clock import now_vn
from simulators.common.db import connect_sqlite

__all__ = ["CITIZEN_COLUMNS", "CitizenRow", "PopulationStore"]

CITIZEN_COLUMNS = (
    "pin",
    "full_name",
    "date_of_birth",
    "sex",
    "birth_registration_province",
    "permanent_address",
    "household_id",
    "relationship_to_head",
    "father_pin",
    "mother_pin",
    "spouse_pin",
    "date_of_death",
)
# One citizen in CITIZEN_COLUMNS order; a tuple so bulk loaders (executemany, later COPY)
# can take rows without reshaping.
CitizenRow = tuple[str | None, ...]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS citizens (
    pin TEXT PRIMARY KEY,
    full_name TEXT NOT NULL,
    date_of_birth TEXT NOT NULL,
    sex TEXT NOT NULL CHECK (sex IN ('male', 'female')),
    birth_registration_province TEXT NOT NULL,
    permanent_address TEXT,
    household_id TEXT,
    relationship_to_head TEXT,
    father_pin TEXT,
    mother_pin TEXT,
    spouse_pin TEXT,
    date_of_death TEXT
);
CREATE INDEX IF NOT EXISTS citizens_household ON citizens (household_id);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    client_id TEXT NOT NULL,
    operation TEXT NOT NULL CHECK (operation IN ('verify', 'lookup')),
    pin TEXT,
    fields TEXT NOT NULL,
    result TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_client ON audit (client_id, id);
"""

ADULT_AGE = 18


class PopulationStore:
    """Citizens and audit entries in one SQLite file (WAL).

    One connection is shared by Starlette's thread pool; a lock serialises every use of
    it, since sqlite3 cursors on a shared connection must not interleave mid-transaction.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = path
        self._conn = connect_sqlite(path)
        self._lock = threading.Lock()
        with self._lock:
            self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def insert_citizens(self, rows: Iterable[CitizenRow]) -> int:
        """Insert rows in one transaction; returns how many were inserted."""
        placeholders = ", ".join("?" for _ in CITIZEN_COLUMNS)
        sql = f"INSERT INTO citizens ({', '.join(CITIZEN_COLUMNS)}) VALUES ({placeholders})"
        with self._lock:
            before = self._conn.total_changes
            self._conn.execute("BEGIN")
            try:
                self._conn.executemany(sql, rows)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
            return self._conn.total_changes - before

    def count(self) -> int:
        with self._lock:
            row = self._conn.execute("SELECT count(*) FROM citizens").fetchone()
        return int(row[0])

    def get(self, pin: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._conn.execute("SELECT * FROM citizens WHERE pin = ?", (pin,)).fetchone()
        return dict(row) if row is not None else None

    def all_citizens(self) -> list[dict[str, Any]]:
        """Every citizen ordered by PIN (tests and small sandboxes only)."""
        with self._lock:
            rows = self._conn.execute("SELECT * FROM citizens ORDER BY pin").fetchall()
        return [dict(r) for r in rows]

    def sample_adults(self, count: int, *, today: date | None = None) -> list[dict[str, Any]]:
        """Living citizens aged 18 or more, in PIN order so a sandbox hands out the same ones."""
        cutoff = _years_before(today or now_vn().date(), ADULT_AGE).isoformat()
        sql = (
            "SELECT * FROM citizens WHERE date_of_death IS NULL AND date_of_birth <= ? "
            "ORDER BY pin LIMIT ?"
        )
        with self._lock:
            rows = self._conn.execute(sql, (cutoff, count)).fetchall()
        return [dict(r) for r in rows]

    def record_access(
        self, client_id: str, operation: str, pin: str | None, fields: Sequence[str], result: str
    ) -> int:
        """Append one audit entry and return its id."""
        at = now_vn().isoformat(timespec="seconds")
        sql = (
            "INSERT INTO audit (at, client_id, operation, pin, fields, result) "
            "VALUES (?, ?, ?, ?, ?, ?)"
        )
        values = (at, client_id, operation, pin, json.dumps(list(fields)), result)
        with self._lock:
            cursor = self._conn.execute(sql, values)
        return int(cursor.lastrowid or 0)

    def audit_entries(
        self, client_id: str | None = None, after_id: int = 0, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Entries oldest first, shaped like the spec's AuditEntry."""
        sql = "SELECT * FROM audit WHERE id > ?"
        params: list[Any] = [after_id]
        if client_id is not None:
            sql += " AND client_id = ?"
            params.append(client_id)
        sql += " ORDER BY id LIMIT ?"
        params.append(limit)
        with self._lock:
            rows = self._conn.execute(sql, params).fetchall()
        return [_audit_entry(r) for r in rows]


def _audit_entry(row: sqlite3.Row) -> dict[str, Any]:
    entry = dict(row)
    entry["fields"] = json.loads(entry["fields"])
    return entry


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year that has none
        return day.replace(year=day.year - years, day=28)
