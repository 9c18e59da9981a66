"""`lienthong population generate`: make a synthetic population in SQLite or PostgreSQL."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from harness.cli.app import console
from harness.errors import ConfigError, EnvironmentProblem

__all__ = ["population_app"]

population_app = typer.Typer(no_args_is_help=True, help="Synthetic population databases.")
_MAX_COUNT = 134_217_728  # the generator's PIN space: 2,048 chunks of 65,536


@population_app.command("generate")
def generate(
    count: Annotated[int, typer.Option(help="Citizens to generate, e.g. 1000000.")],
    db: Annotated[
        str,
        typer.Option(help="A SQLite file path, or a postgresql://user@host:port/dbname URL."),
    ],
    seed: Annotated[int, typer.Option(help="Seed: the same seed makes the same people.")] = 0,
    workers: Annotated[
        int, typer.Option(min=0, max=64, help="Processes drawing chunks (0: one per CPU).")
    ] = 0,
) -> None:
    """Fill an empty database with COUNT consistent synthetic citizens and their households."""
    if not 1 <= count <= _MAX_COUNT:
        raise ConfigError(f"--count must be 1–{_MAX_COUNT:,}, got {count:,}; e.g. --count 1000000")
    _check_url(db)
    started = time.perf_counter()
    made = _run(db, count, seed, workers or None)
    elapsed = time.perf_counter() - started
    console.print(f"{made:,} citizens in {elapsed:.1f} s ({made / elapsed:,.0f}/s) → {_redact(db)}")


def _run(db: str, count: int, seed: int, workers: int | None) -> int:
    from simulators.population.load import generate_population

    columns = (TextColumn("generating"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("citizens", total=count)
        try:
            return generate_population(
                db, count, seed=seed, workers=workers, progress=lambda n: progress.advance(task, n)
            )
        except ValueError as exc:
            raise ConfigError(f"--db: {exc}") from None
        except Exception as exc:
            raise _environment(exc, db) from None


def _check_url(db: str) -> None:
    if "://" in db and not db.startswith(("postgresql://", "postgres://", "sqlite:///")):
        raise ConfigError(
            f"--db {db!r} is neither a file path nor a postgresql:// URL; "
            "e.g. --db population.db or --db postgresql://postgres@127.0.0.1:5432/test"
        )


def _environment(exc: Exception, db: str) -> Exception:
    """Driver and file-system errors as one line naming the database, never a traceback."""
    import sqlite3

    import psycopg

    if isinstance(exc, psycopg.OperationalError):
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return EnvironmentProblem(f"cannot reach PostgreSQL at {_redact(db)}: {first}")
    if isinstance(exc, sqlite3.Error | OSError | psycopg.Error):
        return EnvironmentProblem(f"cannot write {_redact(db)}: {exc}")
    return exc


def _redact(url: str) -> str:
    """A URL without its password, for messages."""
    if "://" not in url or "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    return f"{scheme}://{credentials.split(':', 1)[0]}@{host}"
