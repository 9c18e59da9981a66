"""Every status sync the portal received, accepted or refused, in SQLite."""

from __future__ import annotations

import sqlite3
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from simulators.common.clock import VN_TZ
from simulators.common.db import connect_sqlite

__all__ = ["PortalStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS syncs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at TEXT NOT NULL,
    agency_id TEXT,
    client_id TEXT,
    dossier_code TEXT,
    status INTEGER,
    accepted INTEGER NOT NULL,
    problem TEXT,
    payload TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS syncs_dossier ON syncs (dossier_code, accepted, id);
CREATE INDEX IF NOT EXISTS syncs_agency ON syncs (agency_id, id);
"""


class PortalStore:
    """The sync log; the last accepted status of a dossier is derived from it."""

    def __init__(self, path: Path | str) -> None:
        self._conn = connect_sqlite(path)
        self._conn.executescript(_SCHEMA)
        # One connection serves every handler thread; the lock keeps a write and the
        # reads around it from interleaving on that connection.
        self._lock = threading.Lock()

    def record(
        self,
        agency_id: str | None,
        client_id: str | None,
        dossier_code: str | None,
        status: int | None,
        accepted: bool,
        problem: dict[str, Any] | None,
        payload: dict[str, Any],
    ) -> int:
        """Append one sync and return its id."""
        row = (
            datetime.now(VN_TZ).isoformat(timespec="milliseconds"),
            agency_id,
            client_id,
            dossier_code,
            status,
            int(accepted),
            None if problem is None else orjson.dumps(problem).decode(),
            orjson.dumps(payload).decode(),
        )
        with self._lock:
            cursor = self._conn.execute(
                "INSERT INTO syncs (received_at, agency_id, client_id, dossier_code, status,"
                " accepted, problem, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
            return int(cursor.lastrowid or 0)

    def last_accepted_status(self, dossier_code: str) -> int | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT status FROM syncs WHERE dossier_code = ? AND accepted = 1"
                " ORDER BY id DESC LIMIT 1",
                (dossier_code,),
            ).fetchone()
        return None if row is None else int(row["status"])

    def records(
        self,
        agency_id: str | None = None,
        dossier_code: str | None = None,
        after_id: int = 0,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Records oldest first, in the SyncRecord shape of specs/portal.yaml."""
        clauses: list[str] = ["id > ?"]
        params: list[object] = [after_id]
        for column, value in (("agency_id", agency_id), ("dossier_code", dossier_code)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        sql = f"SELECT * FROM syncs WHERE {' AND '.join(clauses)} ORDER BY id LIMIT ?"
        with self._lock:
            rows = self._conn.execute(sql, (*params, limit)).fetchall()
        return [_as_record(row) for row in rows]

    def close(self) -> None:
        self._conn.close()


def _as_record(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "received_at": row["received_at"],
        "agency_id": row["agency_id"],
        "client_id": row["client_id"],
        "dossier_code": row["dossier_code"],
        "status": row["status"],
        "accepted": bool(row["accepted"]),
        "problem": None if row["problem"] is None else orjson.loads(row["problem"]),
        "payload": orjson.loads(row["payload"]),
    }
