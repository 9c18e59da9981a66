"""The portal's state: the sync log, the dossiers it derives, dossier codes and routes.

SQLite by default (a path), PostgreSQL when given a ``postgresql://`` URL, through the one
`Database` interface. The outbox, the legacy adapter and the citizen side keep their rows
in the same database (see `schema.py`) so one transaction can cover a dossier and its
delivery.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import astuple, fields
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from simulators.common.clock import VN_TZ
from simulators.common.db import Database
from simulators.portal.dossiers import DossierState
from simulators.portal.schema import SCHEMA

__all__ = ["PortalStore"]

_STATE_COLUMNS = tuple(f.name for f in fields(DossierState))
_BOOL_COLUMNS = frozenset(f.name for f in fields(DossierState) if f.type in ("bool", bool))


class PortalStore:
    """The sync log (every sync, accepted or refused) and the dossier table."""

    def __init__(self, url: Path | str) -> None:
        self.db = Database(url)
        self.db.executescript(SCHEMA.format(autoincrement=self.db.autoincrement))
        self._migrate()

    def _migrate(self) -> None:
        # Sync logs written before issue #4 have no channel column; keep them readable.
        columns = self._columns("syncs")
        if "channel" not in columns:
            self.db.execute("ALTER TABLE syncs ADD COLUMN channel TEXT NOT NULL DEFAULT 'rest'")
        # Groups declared before the portal assigned the child's PIN have no PIN columns.
        missing = {"child_pin", "child_pin_at"} - self._columns("dossier_groups")
        for column in sorted(missing):
            self.db.execute(f"ALTER TABLE dossier_groups ADD COLUMN {column} TEXT")

    def _columns(self, table: str) -> set[str]:
        if self.db.dialect == "sqlite":
            return {row["name"] for row in self.db.execute(f"PRAGMA table_info({table})")}
        rows = self.db.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_name = ? AND table_schema = current_schema()",
            (table,),
        )
        return {row["column_name"] for row in rows}

    @contextmanager
    def transaction(self) -> Iterator[PortalStore]:
        """Reads and writes inside commit together, serialised against other threads."""
        with self.db.transaction():
            yield self

    # -- the sync log ---------------------------------------------------------------------

    def record(
        self,
        agency_id: str | None,
        client_id: str | None,
        dossier_code: str | None,
        status: int | None,
        accepted: bool,
        problem: dict[str, Any] | None,
        payload: dict[str, Any],
        channel: str = "rest",
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
            channel,
        )
        (inserted,) = self.db.execute(
            "INSERT INTO syncs (received_at, agency_id, client_id, dossier_code, status,"
            " accepted, problem, payload, channel) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " RETURNING id",
            row,
        )
        return int(inserted["id"])

    def last_accepted_status(self, dossier_code: str) -> int | None:
        rows = self.db.execute(
            "SELECT status FROM syncs WHERE dossier_code = ? AND accepted = 1"
            " ORDER BY id DESC LIMIT 1",
            (dossier_code,),
        )
        return None if not rows else int(rows[0]["status"])

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
        return [_as_record(row) for row in self.db.execute(sql, (*params, limit))]

    # -- dossiers -------------------------------------------------------------------------

    def dossier(self, code: str) -> DossierState | None:
        rows = self.db.execute("SELECT * FROM dossiers WHERE code = ?", (code,))
        return _as_state(rows[0]) if rows else None

    def dossiers(self, agency_id: str | None = None) -> list[DossierState]:
        if agency_id is None:
            rows = self.db.execute("SELECT * FROM dossiers ORDER BY code")
        else:
            rows = self.db.execute(
                "SELECT * FROM dossiers WHERE agency_id = ? ORDER BY code", (agency_id,)
            )
        return [_as_state(row) for row in rows]

    def agencies(self) -> list[str]:
        rows = self.db.execute("SELECT DISTINCT agency_id FROM dossiers ORDER BY agency_id")
        return [str(row["agency_id"]) for row in rows]

    def save_dossier(
        self,
        state: DossierState,
        *,
        submission: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> None:
        """Insert or update the derived state; submission and key are kept once set."""
        values = [int(v) if isinstance(v, bool) else v for v in astuple(state)]
        columns = ", ".join(_STATE_COLUMNS)
        marks = ", ".join("?" for _ in range(len(_STATE_COLUMNS) + 2))
        updates = ", ".join(f"{c} = excluded.{c}" for c in _STATE_COLUMNS if c != "code")
        self.db.execute(
            f"INSERT INTO dossiers ({columns}, submission, idempotency_key) VALUES ({marks})"
            f" ON CONFLICT (code) DO UPDATE SET {updates}",
            (
                *values,
                None if submission is None else orjson.dumps(submission).decode(),
                idempotency_key,
            ),
        )

    def submission(self, code: str) -> dict[str, Any] | None:
        rows = self.db.execute("SELECT submission FROM dossiers WHERE code = ?", (code,))
        if not rows or rows[0]["submission"] is None:
            return None
        data: dict[str, Any] = orjson.loads(rows[0]["submission"])
        return data

    def code_for_key(self, idempotency_key: str) -> str | None:
        rows = self.db.execute(
            "SELECT code FROM dossiers WHERE idempotency_key = ?", (idempotency_key,)
        )
        return str(rows[0]["code"]) if rows else None

    def next_dossier_code(self, agency_id: str, day: str) -> str:
        """`<agency id>-<yyMMdd>-<NNNN>`, numbered per agency and day (call in a transaction)."""
        (row,) = self.db.execute(
            "INSERT INTO code_counters (agency_id, day, last) VALUES (?, ?, 1)"
            " ON CONFLICT (agency_id, day) DO UPDATE SET last = code_counters.last + 1"
            " RETURNING last",
            (agency_id, day),
        )
        number = int(row["last"])
        if number > 9999:
            raise OverflowError(f"agency {agency_id} has used all 9999 dossier codes of {day}")
        return f"{agency_id}-{day}-{number:04d}"

    # -- routes to agencies ---------------------------------------------------------------

    def set_route(self, agency_id: str, base_url: str) -> None:
        self.db.execute(
            "INSERT INTO routes (agency_id, base_url) VALUES (?, ?)"
            " ON CONFLICT (agency_id) DO UPDATE SET base_url = excluded.base_url",
            (agency_id, base_url),
        )

    def route(self, agency_id: str) -> str | None:
        rows = self.db.execute("SELECT base_url FROM routes WHERE agency_id = ?", (agency_id,))
        return str(rows[0]["base_url"]) if rows else None

    def close(self) -> None:
        self.db.close()


def _as_state(row: dict[str, Any]) -> DossierState:
    values: dict[str, Any] = {
        c: bool(row[c]) if c in _BOOL_COLUMNS else row[c] for c in _STATE_COLUMNS
    }
    return DossierState(**values)


def _as_record(row: dict[str, Any]) -> dict[str, Any]:
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
        "channel": row["channel"],
    }
