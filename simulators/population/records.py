"""The simulator's store on SQLite or PostgreSQL (one `Database`): citizens, the audit log,
consents, purpose registrations, the change feed and the simulated clock's offset.

Consents, registrations and life-event writes live in `events.py`, which extends this
class into `PopulationStore`.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import orjson

from simulators.common.db import Database
from simulators.population.clock import SimClock, years_before
from simulators.population.schema import (
    CITIZEN_COLUMNS,
    CITIZEN_DDL,
    INDEXES,
    CitizenRow,
    tables_ddl,
)

__all__ = ["ADULT_AGE", "CITIZEN_COLUMNS", "MISSING_SINCE", "CitizenRow", "RecordStore"]

log = logging.getLogger(__name__)

ADULT_AGE = 18
# A court's declaration that someone is missing lives in its own table (events.py); every
# read of a citizen carries it as `missing_since`, one primary-key probe per row.
MISSING_SINCE = (
    "(SELECT declared_on FROM disappearances d WHERE d.pin = citizens.pin) AS missing_since"
)
_SELECT = f"SELECT {', '.join(CITIZEN_COLUMNS)}, {MISSING_SINCE} FROM citizens"


class RecordStore:
    """Every read and write of the simulator; thread-safe through `Database`'s lock."""

    def __init__(self, url: Path | str, *, clock: SimClock | None = None) -> None:
        self.url = str(url)
        self.db = Database(url)
        self.db.executescript(CITIZEN_DDL)
        self.db.executescript(INDEXES)
        self.db.executescript(tables_ddl(self.db.autoincrement))
        self.clock = clock or SimClock()
        # No mmap for SQLite: the audit writer commits on a connection of its own, and after
        # each such commit SQLite unmaps the whole file in this one, so lookups faulted their
        # pages back in (measured: two page faults a lookup, dearer than read()).
        self._audit = _AuditWriter(self.db)
        offset = self.setting("clock_offset_s")
        if offset is not None:
            self.clock.offset = timedelta(seconds=float(offset))

    def close(self) -> None:
        self._audit.close()
        self.db.close()

    # -- settings --------------------------------------------------------------------------

    def setting(self, name: str) -> str | None:
        rows = self.db.execute("SELECT value FROM settings WHERE name = ?", (name,))
        return str(rows[0]["value"]) if rows else None

    def put_setting(self, name: str, value: str) -> None:
        self.db.execute(
            "INSERT INTO settings (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (name, value),
        )

    def save_clock(self) -> None:
        self.put_setting("clock_offset_s", str(self.clock.offset.total_seconds()))

    # -- citizens --------------------------------------------------------------------------

    def insert_citizens(self, rows: Iterable[CitizenRow]) -> int:
        placeholders = ", ".join("?" for _ in CITIZEN_COLUMNS)
        sql = f"INSERT INTO citizens ({', '.join(CITIZEN_COLUMNS)}) VALUES ({placeholders})"
        batch = list(rows)
        with self.db.transaction():
            self.db.executemany(sql, batch)
        return len(batch)

    def count(self) -> int:
        return int(self.db.execute("SELECT count(*) AS n FROM citizens")[0]["n"])

    def get(self, pin: str) -> dict[str, Any] | None:
        rows = self.db.execute(f"{_SELECT} WHERE pin = ?", (pin,))
        return rows[0] if rows else None

    def resolve(self, pin: str, columns: str = "*") -> tuple[dict[str, Any] | None, bool]:
        """The citizen a PIN names, following a superseded PIN to its successor; `columns`
        narrows the row (verify reads seven of twenty-eight)."""
        select = _SELECT if columns == "*" else f"SELECT {columns} FROM citizens"
        rows = self.db.execute(f"{select} WHERE pin = ?", (pin,))
        if rows:
            return rows[0], False
        rows = self.db.execute(f"{select} WHERE previous_pin = ?", (pin,))
        return (rows[0], True) if rows else (None, False)

    def citizens_by_pins(self, pins: list[str]) -> dict[str, tuple[dict[str, Any], bool]]:
        """Citizens for many PINs at once, superseded PINs followed (batch verification)."""
        if not pins:
            return {}
        marks = ", ".join("?" for _ in pins)
        found = {
            r["pin"]: (r, False) for r in self.db.execute(f"{_SELECT} WHERE pin IN ({marks})", pins)
        }
        missing = [p for p in pins if p not in found]
        if missing:
            marks = ", ".join("?" for _ in missing)
            rows = self.db.execute(f"{_SELECT} WHERE previous_pin IN ({marks})", missing)
            found.update({r["previous_pin"]: (r, True) for r in rows})
        return found

    def resolve_any(self, pin: str) -> dict[str, Any] | None:
        return self.resolve(pin)[0]

    def unissued_pins(self, count: int) -> list[str]:
        """Structurally valid PINs that name nobody (never issued, not superseded)."""
        return _unissued(self, count)

    def all_citizens(self) -> list[dict[str, Any]]:
        """Every citizen ordered by PIN (tests and small sandboxes only)."""
        return self.db.execute(f"{_SELECT} ORDER BY pin")

    def household(self, household_id: str) -> list[dict[str, Any]]:
        return self.db.execute(f"{_SELECT} WHERE household_id = ? ORDER BY pin", (household_id,))

    def sample_adults(
        self, count: int, *, after: str = "", today: date | None = None
    ) -> list[dict[str, Any]]:
        """Living adults with no hard case and not declared missing, in PIN order after
        `after` (a paging cursor)."""
        cutoff = years_before(today or self.clock.today(), ADULT_AGE).isoformat()
        sql = (
            f"{_SELECT} WHERE pin > ? AND hard_case IS NULL AND date_of_death IS NULL "
            "AND date_of_birth <= ? AND NOT EXISTS "
            "(SELECT 1 FROM disappearances d WHERE d.pin = citizens.pin) ORDER BY pin LIMIT ?"
        )
        return self.db.execute(sql, (after, cutoff, count))

    def hard_cases(self, kind: str, count: int) -> list[dict[str, Any]]:
        sql = f"{_SELECT} WHERE hard_case = ? ORDER BY pin LIMIT ?"
        return self.db.execute(sql, (kind, count))

    # -- audit -----------------------------------------------------------------------------

    def record_access(
        self,
        client_id: str,
        operation: str,
        pin: str | None,
        fields: Sequence[str],
        result: str,
        *,
        purpose: str | None = None,
        legal_basis: str | None = None,
        consent_id: str | None = None,
    ) -> None:
        """Append one audit entry: who, which PIN, which fields, why, and the outcome.

        Entries are written in batches by a background thread (`_AuditWriter`); every read
        of the log flushes first, so readers never miss one. A crash may lose the entries of
        the last fraction of a second — acceptable for a simulator, said in the README."""
        fields_json = orjson.dumps(list(fields)).decode()
        entry = (self.clock.stamp(), client_id, operation, pin, fields_json)
        self._audit.append((*entry, purpose, legal_basis, consent_id, result))

    def flush_audit(self) -> None:
        """Write every entry recorded so far before returning."""
        self._audit.flush()

    def audit_entries(
        self,
        client_id: str | None = None,
        after_id: int = 0,
        limit: int = 100,
        *,
        pin: str | None = None,
        operation: str | None = None,
    ) -> list[dict[str, Any]]:
        """Entries oldest first, shaped like the spec's AuditEntry."""
        self.flush_audit()
        sql = "SELECT * FROM audit WHERE id > ?"
        params: list[Any] = [after_id]
        for column, value in (("client_id", client_id), ("pin", pin), ("operation", operation)):
            if value is not None:
                sql += f" AND {column} = ?"
                params.append(value)
        rows = self.db.execute(sql + " ORDER BY id LIMIT ?", (*params, limit))
        return [_audit_entry(r) for r in rows]

    def usage(self, client_id: str) -> dict[str, dict[str, int]]:
        """Calls per operation and result for one client, from the audit log."""
        self.flush_audit()
        rows = self.db.execute(
            "SELECT operation, result, count(*) AS n FROM audit WHERE client_id = ? "
            "GROUP BY operation, result",
            (client_id,),
        )
        usage: dict[str, dict[str, int]] = {}
        for row in rows:
            usage.setdefault(row["operation"], {})[row["result"]] = int(row["n"])
        return usage


_AUDIT_COLUMNS = "at, client_id, operation, pin, fields, purpose, legal_basis, consent_id, result"
_AUDIT_BATCH = 256  # queued entries that wake the writer
_AUDIT_INTERVAL_S = 0.2  # a quiet sandbox still writes its entries this soon
_AUDIT_BACKLOG = 32 * _AUDIT_BATCH  # beyond this, the recording caller writes (backpressure)
_INSERT_AUDIT_ROW = f"INSERT INTO audit ({_AUDIT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
# SQLite gets a whole batch as one JSON array of rows, in one statement: it then inserts
# the batch without taking the GIL back. Bound row by row (or 9 parameters a row), the
# writer held the GIL long and often enough to stall the event loop's own queries.
_INSERT_AUDIT_JSON = (
    f"INSERT INTO audit ({_AUDIT_COLUMNS}) SELECT value ->> 0, value ->> 1, value ->> 2, "
    "value ->> 3, value ->> 4, value ->> 5, value ->> 6, value ->> 7, value ->> 8 "
    "FROM json_each(?) ORDER BY key"
)


class _AuditWriter:
    """Writes audit entries in batches from a background thread, on a connection of its
    own, so that inserting into the audit indexes, committing and SQLite's checkpoints
    never stall the event loop serving verifications (a commit in the request path cost
    more than the rest of a verify).

    `append` only queues. A full batch wakes the thread, which also writes whatever is
    queued every `_AUDIT_INTERVAL_S`. `flush` writes everything queued before it returns;
    writes are serialised, so batches land in the order they were recorded and a reader
    that flushes sees every entry recorded before it asked.
    """

    def __init__(self, db: Database) -> None:
        # WAL mode lets the store's connection read while this one commits; an in-memory
        # database exists only in its own connection, so that one is shared.
        shared = db.dialect == "sqlite" and db.url == ":memory:"
        self._db = db if shared else Database(db.url)
        self._owns_db = not shared
        self._pending: list[tuple[Any, ...]] = []
        self._pending_lock = threading.Lock()  # guards the queue only, held for an append
        self._write_lock = threading.Lock()  # one batch in flight at a time, in order
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="lienthong-audit", daemon=True)
        self._thread.start()

    def append(self, entry: tuple[Any, ...]) -> None:
        with self._pending_lock:
            self._pending.append(entry)
            queued = len(self._pending)
        if queued >= _AUDIT_BACKLOG:
            self.flush()  # the writer fell behind: write here rather than grow without bound
        elif queued >= _AUDIT_BATCH:
            self._wake.set()

    def flush(self) -> None:
        with self._write_lock:
            with self._pending_lock:
                batch, self._pending = self._pending, []
            if not batch:
                return
            try:
                with self._db.transaction():
                    if self._db.dialect == "sqlite":
                        self._db.execute(_INSERT_AUDIT_JSON, (orjson.dumps(batch).decode(),))
                    else:
                        self._db.executemany(_INSERT_AUDIT_ROW, batch)
            except BaseException:
                with self._pending_lock:  # keep the entries for the next try, in order
                    self._pending[:0] = batch
                raise

    def close(self) -> None:
        self._stopping = True
        self._wake.set()
        self._thread.join()
        self.flush()
        if self._owns_db:
            self._db.close()

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(_AUDIT_INTERVAL_S)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # the entries stay queued; a reader's flush will raise
                log.exception("writing the audit log failed; retrying")


def _audit_entry(row: dict[str, Any]) -> dict[str, Any]:
    entry = {k: v for k, v in row.items() if v is not None or k == "pin"}
    entry["id"] = int(entry["id"])
    entry["fields"] = json.loads(entry["fields"])
    return entry


def _unissued(store: RecordStore, count: int) -> list[str]:
    import random

    from simulators.population.households import PinSpace

    rng = random.Random(0)  # the same list every time, for repeatable tests
    pins: list[str] = []
    while len(pins) < count:
        pin = PinSpace.unissued(rng)
        if store.resolve_any(pin) is None and pin not in pins:
            pins.append(pin)
    return pins
