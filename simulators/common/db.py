"""SQLite connections the way every simulator uses them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

__all__ = ["connect_sqlite"]


def connect_sqlite(path: Path | str) -> sqlite3.Connection:
    """A connection in WAL mode, usable from the thread pool Starlette runs handlers in.

    `check_same_thread=False` is safe because every store serialises its writes with a
    lock; WAL lets readers proceed while one writer commits.
    """
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn
