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

__all__ = ["Action", "AgencyStore", "Dossier", "body_digest"]

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
CREATE TABLE IF NOT EXISTS actions (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    dossier_code TEXT NOT NULL,
    digest TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (kind, key)
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


@dataclass(frozen=True, slots=True)
class Action:
    """A citizen action the portal forwarded (payment, supplement, withdrawal), once."""

    kind: str
    key: str
    dossier_code: str
    digest: str


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

    def move(
        self, code: str, allowed: frozenset[int], status: int, action: Action | None = None
    ) -> bool:
        """Set `status` only if the current one is in `allowed`, recording `action` in the
        same transaction; False (nothing written) when the status had already moved on."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                marks = ", ".join("?" for _ in allowed)
                moved = self._conn.execute(
                    f"UPDATE dossiers SET status = ?, updated_at = ?"
                    f" WHERE code = ? AND status IN ({marks})",
                    (status, format_dvc(now_vn()), code, *sorted(allowed)),
                ).rowcount
                if moved == 1 and action is not None:
                    self._conn.execute(
                        "INSERT INTO actions VALUES (?, ?, ?, ?, ?)",
                        (action.kind, action.key, code, action.digest, format_dvc(now_vn())),
                    )
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        return moved == 1

    def action(self, kind: str, key: str) -> Action | None:
        row = self._conn.execute(
            "SELECT * FROM actions WHERE kind = ? AND key = ?", (kind, key)
        ).fetchone()
        return None if row is None else Action(kind, key, row["dossier_code"], row["digest"])

    def has_action(self, code: str, kind: str) -> bool:
        row = self._conn.execute(
            "SELECT 1 FROM actions WHERE dossier_code = ? AND kind = ? LIMIT 1", (code, kind)
        ).fetchone()
        return row is not None

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
