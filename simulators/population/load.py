"""Bulk loading of a generated population into SQLite or PostgreSQL.

Both cores work: each worker process draws whole chunks and writes them itself — into its
own SQLite shard file (merged with one `INSERT … SELECT` at the end) or through its own
PostgreSQL connection with COPY. Indexes are built once, after the load.

Chunks travel as columns (`ChunkBuilder.columns`), zipped into rows only as the driver
takes them. Measured per citizen on the 2-core machine (issue #3): SQLite binds a str
several times faster than None, so its chunks say NULL with "" and the INSERT turns that
back with NULLIF (≈25 % less); psycopg's binary COPY costs half the client time of text
COPY per row and the same on the server.
"""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

from simulators.common.db import Database
from simulators.population.family import ChunkBuilder
from simulators.population.generator import REFERENCE_DATE, chunk_sizes
from simulators.population.schema import CITIZEN_COLUMNS, CITIZEN_DDL, INDEXES
from simulators.population.status_cases import seed_status_cases

__all__ = ["Progress", "generate_population"]

Progress = Callable[[int], None]
Columns = list[list[object]]
Job = tuple[int, int, int, date]  # seed, chunk index, chunk size, as_of


def _declared(column: str) -> str:
    """The column's line in CITIZEN_DDL, e.g. "pin TEXT NOT NULL,"."""
    return next(line for line in CITIZEN_DDL.splitlines() if line.split()[:1] == [column])


def _placeholder(column: str) -> str:
    return "?" if "NOT NULL" in _declared(column) else "NULLIF(?, '')"


# What stands for NULL in the chunks each dialect is given (see ChunkBuilder).
_NULL = {"sqlite": "", "postgresql": None}
_INSERT = (
    f"INSERT INTO citizens ({', '.join(CITIZEN_COLUMNS)}) "
    f"VALUES ({', '.join(map(_placeholder, CITIZEN_COLUMNS))})"
)
_COPY = f"COPY citizens ({', '.join(CITIZEN_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
# Binary COPY sends each value in its column's own type.
_COPY_TYPES = ["int4" if " INTEGER" in _declared(c) else "text" for c in CITIZEN_COLUMNS]
# Per worker process: the destination it writes chunks to (set by `_open_worker`).
_worker: dict[str, Any] = {}


def generate_population(
    url: Path | str,
    count: int,
    *,
    seed: int = 0,
    as_of: date = REFERENCE_DATE,
    workers: int | None = None,
    progress: Progress | None = None,
) -> int:
    """Fill an empty store with `count` synthetic citizens; returns the count.

    ValueError for a bad count or a store that already holds citizens.
    """
    sizes = chunk_sizes(count)
    db = Database(url)
    try:
        db.executescript(CITIZEN_DDL)
        if db.execute("SELECT count(*) AS n FROM citizens")[0]["n"]:
            raise ValueError(f"{url} already holds citizens; generate into an empty database")
        jobs = [(seed, i, size, as_of) for i, size in enumerate(sizes)]
        _bulk_mode(db, on=True)
        _load(db, str(url), jobs, workers or os.cpu_count() or 1, progress or (lambda n: None))
        _build_indexes(db)
        seed_status_cases(db, as_of)  # the absent and the missing, by PIN rule
        _bulk_mode(db, on=False)
        if db.dialect == "postgresql":
            db.execute("ANALYZE citizens")
    finally:
        db.close()
    return count


def _build_indexes(db: Database) -> None:
    """The indexes, once the rows are in. PostgreSQL builds them side by side, one
    connection each (CREATE INDEX's lock admits the others): the build is the tail of a
    load that the workers cannot share, and side by side it took a fifth less time on the
    2-core machine (issue #3). SQLite has a single writer, so one after another."""
    if db.dialect != "postgresql":
        db.executescript(INDEXES)
        return
    statements = [s for s in (part.strip() for part in INDEXES.split(";")) if s]
    with ThreadPoolExecutor(len(statements)) as pool:
        list(pool.map(partial(_execute_apart, db.url), statements))


def _execute_apart(url: str, statement: str) -> None:
    """One statement on a connection of its own."""
    other = Database(url)
    try:
        other.execute(statement)
    finally:
        other.close()


def _bulk_mode(db: Database, *, on: bool) -> None:
    """SQLite without its WAL while loading: through the WAL every row and index page is
    written twice, and a failed generation is redone from scratch anyway. With another
    connection open (the sandbox's store) SQLite refuses to switch, and WAL stays."""
    if db.dialect != "sqlite":
        return
    with suppress(sqlite3.OperationalError):
        db.raw.execute("PRAGMA journal_mode=DELETE" if on else "PRAGMA journal_mode=WAL")
    db.raw.execute("PRAGMA synchronous=OFF" if on else "PRAGMA synchronous=NORMAL")


def _load(db: Database, url: str, jobs: list[Job], workers: int, progress: Progress) -> None:
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            _write(db, _columns(job, db.dialect))
            progress(job[2])
        return
    shards = _shard_dir(url) if db.dialect == "sqlite" else None
    context = multiprocessing.get_context("fork")
    with context.Pool(min(workers, len(jobs)), _open_worker, (url, shards)) as pool:
        for done in pool.imap_unordered(_worker_job, jobs):
            progress(done)
        pool.map(_close_worker, range(min(workers, len(jobs))), chunksize=1)
    if shards is not None:
        _merge_shards(db, shards)


def _columns(job: Job, dialect: str) -> Columns:
    seed, index, size, as_of = job
    return ChunkBuilder(seed, index, as_of, null=_NULL[dialect]).columns(size)


def _write(db: Database, columns: Columns) -> None:
    with db.transaction():
        if db.dialect == "postgresql":
            with db.raw.cursor() as cursor, cursor.copy(_COPY) as copy:
                copy.set_types(_COPY_TYPES)
                for row in zip(*columns, strict=True):
                    copy.write_row(row)
        else:
            db.raw.executemany(_INSERT, zip(*columns, strict=True))


def _shard_dir(url: str) -> Path:
    path = Path(url.removeprefix("sqlite:///"))
    shards = path.parent / f".{path.name}.shards"
    shards.mkdir(parents=True, exist_ok=True)
    return shards


def _open_worker(url: str, shards: Path | None) -> None:
    target = url if shards is None else str(shards / f"{os.getpid()}.db")
    db = Database(target)
    if shards is not None:
        # A shard is scratch space: no journal, no fsync; the merge is the durable copy.
        db.raw.execute("PRAGMA journal_mode=OFF")
        db.raw.execute("PRAGMA synchronous=OFF")
        db.executescript(CITIZEN_DDL)
    _worker["db"] = db


def _worker_job(job: Job) -> int:
    db = _worker["db"]
    _write(db, _columns(job, db.dialect))
    return int(job[2])


def _close_worker(_: int) -> None:
    # One call per process is not guaranteed by map; closing twice is harmless.
    db = _worker.pop("db", None)
    if db is not None:
        db.close()


def _merge_shards(db: Database, shards: Path) -> None:
    raw = db.raw
    for shard in sorted(shards.glob("*.db")):
        raw.execute("ATTACH DATABASE ? AS shard", (str(shard),))
        try:
            with db.transaction():
                raw.execute("INSERT INTO citizens SELECT * FROM shard.citizens")
        finally:
            raw.execute("DETACH DATABASE shard")
        shard.unlink()
    with suppress(OSError):
        shards.rmdir()
