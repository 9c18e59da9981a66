"""Generation rate of the synthetic population into SQLite and PostgreSQL (COPY).

    python benchmarks/population_generate.py --count 1000000 --runs 3

Prints the median of several runs per store and, as the in-run baseline, the rate of
drawing the same rows without writing them (one process), so the ratio survives a noisy
machine; the load average before each line says how noisy it was. PostgreSQL is skipped,
with the reason, when nothing answers at --pg.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import date
from pathlib import Path

from simulators.population.family import ChunkBuilder
from simulators.population.generator import chunk_sizes
from simulators.population.load import generate_population

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"


def _draw_only(count: int) -> None:
    for index, size in enumerate(chunk_sizes(count)):
        ChunkBuilder(0, index, date(2025, 7, 1)).rows(size)


def _sqlite(count: int, workers: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="lienthong-gen-"))
    try:
        generate_population(folder / "population.db", count, workers=workers)
    finally:
        shutil.rmtree(folder)


def _postgres(url: str) -> Callable[[int, int], None]:
    import psycopg

    def run(count: int, workers: int) -> None:
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        try:
            generate_population(f"{url}?options=-csearch_path%3D{schema}", count, workers=workers)
        finally:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA {schema} CASCADE")

    return run


def _median_rate(run: Callable[[], None], count: int, runs: int) -> tuple[float, list[float]]:
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - started)
    return count / statistics.median(seconds), seconds


def _load_average() -> str:
    return f"load average {os.getloadavg()[0]:.1f}"


def _pg_reason(url: str) -> str | None:
    try:
        import psycopg

        psycopg.connect(url, connect_timeout=2).close()
    except Exception as exc:  # any failure: report it and skip PostgreSQL
        return f"{type(exc).__name__}: {exc}"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pg", default=PG_DEFAULT)
    args = parser.parse_args()
    count, runs, workers = args.count, args.runs, args.workers
    print(f"{count:,} citizens, {runs} runs each, {os.cpu_count()} CPUs; {_load_average()}")
    base, _ = _median_rate(lambda: _draw_only(count), count, runs)
    print(f"baseline: draw rows only, 1 process   {base:>10,.0f} citizens/s  ({_load_average()})")
    rate, secs = _median_rate(lambda: _sqlite(count, workers), count, runs)
    print(
        f"SQLite, {workers} workers (shards+merge)  {rate:>10,.0f} citizens/s  "
        f"({rate / base:.2f}× baseline; runs {', '.join(f'{s:.1f}' for s in secs)} s; "
        f"{_load_average()})"
    )
    reason = _pg_reason(args.pg)
    if reason:
        print(f"PostgreSQL skipped: {reason}")
        return
    pg_run = _postgres(args.pg)
    rate, secs = _median_rate(lambda: pg_run(count, workers), count, runs)
    print(
        f"PostgreSQL COPY, {workers} workers      {rate:>10,.0f} citizens/s  "
        f"({rate / base:.2f}× baseline; runs {', '.join(f'{s:.1f}' for s in secs)} s; "
        f"{_load_average()})"
    )


if __name__ == "__main__":
    main()
