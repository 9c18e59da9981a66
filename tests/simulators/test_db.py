from __future__ import annotations

import threading

import pytest

from simulators.common.db import Database, is_postgres_url


def _table(db: Database) -> None:
    db.executescript(
        f"CREATE TABLE IF NOT EXISTS items (id {db.autoincrement}, name TEXT NOT NULL UNIQUE)"
    )


def test_the_same_sql_runs_on_both_engines(database_url: str) -> None:
    db = Database(database_url)
    _table(db)
    assert db.dialect == ("postgresql" if is_postgres_url(database_url) else "sqlite")
    (row,) = db.execute("INSERT INTO items (name) VALUES (?) RETURNING id", ("a",))
    db.executemany("INSERT INTO items (name) VALUES (?)", [("b",), ("c",)])
    skipped = db.execute_rowcount(
        "INSERT INTO items (name) VALUES (?) ON CONFLICT DO NOTHING", ("a",)
    )
    assert skipped == 0
    assert [r["name"] for r in db.execute("SELECT name FROM items ORDER BY id")] == ["a", "b", "c"]
    assert row["id"] == 1
    db.close()


def test_a_failed_transaction_leaves_nothing(database_url: str) -> None:
    db = Database(database_url)
    _table(db)
    with pytest.raises(RuntimeError), db.transaction():
        db.execute("INSERT INTO items (name) VALUES (?)", ("lost",))
        with db.transaction():  # nested blocks join the outer transaction
            db.execute("INSERT INTO items (name) VALUES (?)", ("also lost",))
        raise RuntimeError
    assert db.execute("SELECT count(*) AS n FROM items")[0]["n"] == 0
    db.close()


def test_threads_share_one_database_safely(database_url: str) -> None:
    db = Database(database_url)
    _table(db)

    def insert(prefix: str) -> None:
        for n in range(50):
            db.execute("INSERT INTO items (name) VALUES (?)", (f"{prefix}{n}",))

    threads = [threading.Thread(target=insert, args=(p,)) for p in "xyz"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert db.execute("SELECT count(*) AS n FROM items")[0]["n"] == 150
    db.close()
