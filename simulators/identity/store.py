"""Registered clients and spent assertion IDs, in SQLite."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simulators.common.db import connect_sqlite

__all__ = ["Client", "IdentityStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS clients (
    client_id TEXT PRIMARY KEY,
    agency_id TEXT NOT NULL,
    public_jwk TEXT NOT NULL,
    scopes TEXT NOT NULL,
    registered_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS spent_jti (
    jti TEXT PRIMARY KEY,
    expires_at REAL NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class Client:
    client_id: str
    agency_id: str
    public_jwk: dict[str, Any]
    scopes: frozenset[str]


class IdentityStore:
    def __init__(self, path: Path | str) -> None:
        self._conn = connect_sqlite(path)
        self._conn.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def register_client(self, client: Client) -> None:
        """Add or replace a client: re-issuing credentials rotates the key."""
        row = (
            client.client_id,
            client.agency_id,
            json.dumps(client.public_jwk),
            " ".join(sorted(client.scopes)),
            time.time(),
        )
        with self._lock:
            self._conn.execute("INSERT OR REPLACE INTO clients VALUES (?, ?, ?, ?, ?)", row)

    def get_client(self, client_id: str) -> Client | None:
        row = self._conn.execute(
            "SELECT client_id, agency_id, public_jwk, scopes FROM clients WHERE client_id = ?",
            (client_id,),
        ).fetchone()
        if row is None:
            return None
        return Client(
            row["client_id"],
            row["agency_id"],
            json.loads(row["public_jwk"]),
            frozenset(row["scopes"].split()),
        )

    def spend_jti(self, jti: str, expires_at: float) -> bool:
        """Record an assertion ID; False when it was already used (a replay)."""
        with self._lock:
            self._conn.execute("DELETE FROM spent_jti WHERE expires_at < ?", (time.time(),))
            cursor = self._conn.execute(
                "INSERT OR IGNORE INTO spent_jti VALUES (?, ?)", (jti, expires_at)
            )
            return cursor.rowcount == 1

    def close(self) -> None:
        self._conn.close()
