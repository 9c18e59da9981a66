"""`lienthong population generate` as a user meets it: a filled database on either engine,
exit codes 2 and 3 with one line on stderr, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from simulators.population.store import PopulationStore

ROOT = Path(__file__).resolve().parents[2]


def lienthong(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", "population", "generate", *args],
        cwd=cwd,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_generate_fills_the_database(database_url: str, tmp_path: Path) -> None:
    done = lienthong("--count", "500", "--db", database_url, "--seed", "3", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "500 citizens" in done.stdout
    store = PopulationStore(database_url)
    try:
        assert store.count() == 500
    finally:
        store.close()
    again = lienthong("--count", "5", "--db", database_url, cwd=tmp_path)
    assert again.returncode == 2 and "already holds citizens" in again.stderr


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (("--count", "0", "--db", "x.db"), 2, "--count must be"),
        (("--count", "5", "--db", "mysql://h/db"), 2, "postgresql://"),
        (("--count", "5", "--db", "postgresql://postgres@127.0.0.1:9/x"), 3, "cannot reach"),
        (("--count", "5", "--db", "/proc/none/p.db"), 3, "cannot write"),
    ],
)
def test_bad_options_and_unreachable_stores_are_one_line(
    tmp_path: Path, args: tuple[str, ...], code: int, words: str
) -> None:
    done = lienthong(*args, cwd=tmp_path)
    assert done.returncode == code, done.stderr
    assert words in done.stderr and "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0
