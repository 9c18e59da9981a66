"""The agency's own dossier register (SQLite)."""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simulators.common.clock import format_dvc, now_vn
from simulators.common.db import connect_sqlite

__all__ = ["AgencyStore", "Dossier", "body_digest"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS dossiers (
    code TEXT PRIMARY KEY,
    procedure_code TEXT NOT NULL,
    status INTEGER NOT NULL,
    digest TEXT NOT NULL,
    body TEXT NOT NULL,
    received_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class Dossier:
    code: str
    procedure_code: str
    status: int
    digest: str
    body: dict[str, Any]
    received_at: str
    updated_at: str

    def status_view(self) -> dict[str, Any]:
        return {
            "MaHoSo": self.code,
            "MaTTHC": self.procedure_code,
            "TrangThaiHoSo": self.status,
            "NgayCapNhat": self.updated_at,
        }


def body_digest(body: dict[str, Any]) -> str:
    """Canonical digest of a submission: equal content, equal digest, whatever the key order."""
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class AgencyStore:
    def __init__(self, path: Path | str) -> None:
        self._conn = connect_sqlite(path)
        self._conn.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def insert_if_new(self, body: dict[str, Any]) -> tuple[Dossier, bool]:
        """Store a new dossier at status 1; return (dossier, created)."""
        now = format_dvc(now_vn())
        row = (
            body["MaHoSo"],
            body["MaTTHC"],
            1,
            body_digest(body),
            json.dumps(body, ensure_ascii=False),
            now,
            now,
        )
        with self._lock:
            cursor = self._conn.execute(
                "INSERT OR IGNORE INTO dossiers VALUES (?, ?, ?, ?, ?, ?, ?)", row
            )
        found = self.get(body["MaHoSo"])
        assert found is not None
        return found, cursor.rowcount == 1

    def set_status(self, code: str, status: int) -> None:
        with self._lock:
            self._conn.execute(
                "UPDATE dossiers SET status = ?, updated_at = ? WHERE code = ?",
                (status, format_dvc(now_vn()), code),
            )

    def get(self, code: str) -> Dossier | None:
        row = self._conn.execute("SELECT * FROM dossiers WHERE code = ?", (code,)).fetchone()
        if row is None:
            return None
        return Dossier(
            row["code"],
            row["procedure_code"],
            row["status"],
            row["digest"],
            json.loads(row["body"]),
            row["received_at"],
            row["updated_at"],
        )

    def close(self) -> None:
        self._conn.close()
