"""Deterministic synthetic citizens grouped in households, fast enough to make a country.

The population is cut into chunks of CHUNK_SIZE citizens; chunk k is drawn from its own
random stream (numpy's PCG64 seeded from "{seed}/{k}", `households.Uniforms`), so chunks
can be made in parallel processes and the same seed always yields the same rows. PINs are
unique without any shared state: within one PIN prefix (`PPP C YY`), chunk k's n-th
citizen gets serial `scramble(n * MAX_CHUNKS + k)`, a bijection on 0–999,999, and the top
of that range is reserved for superseded PINs and for PINs that are structurally valid
but never issued (`unissued_pin`).

A chunk is drawn with array operations over all its households and people at once
(`family.py`); rows are plain tuples in CITIZEN_COLUMNS order (schema.py), and the bulk
loader takes the chunk as columns instead (`ChunkBuilder.columns`).
"""

from __future__ import annotations

import multiprocessing
import random
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

from simulators.population.family import ChunkBuilder
from simulators.population.households import PinSpace
from simulators.population.schema import CitizenRow

__all__ = [
    "CHUNK_SIZE",
    "MAX_CITIZENS",
    "REFERENCE_DATE",
    "chunk_sizes",
    "generate_population",
    "iter_chunks",
    "iter_citizens",
    "unissued_pin",
]

# The synthetic "today": fixed, so the seed alone decides every row.
REFERENCE_DATE = date(2025, 7, 1)
CHUNK_SIZE = 65_536
MAX_CITIZENS = CHUNK_SIZE * PinSpace.MAX_CHUNKS  # 134 M: more than Vietnam's 101 M


def chunk_sizes(count: int) -> list[int]:
    if count < 0:
        raise ValueError(f"count must be 0 or more, got {count}")
    if count > MAX_CITIZENS:
        raise ValueError(f"count must be at most {MAX_CITIZENS:,}, got {count:,}")
    full, rest = divmod(count, CHUNK_SIZE)
    return [CHUNK_SIZE] * full + ([rest] if rest else [])


def _make_chunk(job: tuple[int, int, int, date]) -> list[CitizenRow]:
    seed, index, size, as_of = job
    return ChunkBuilder(seed, index, as_of).rows(size)


def iter_chunks(
    count: int, *, seed: int = 0, as_of: date = REFERENCE_DATE, workers: int = 1
) -> Iterator[list[CitizenRow]]:
    """Lists of rows, chunk by chunk, in order; `workers` > 1 draws chunks in processes."""
    jobs = [(seed, i, size, as_of) for i, size in enumerate(chunk_sizes(count))]
    if workers <= 1 or len(jobs) <= 1:
        yield from map(_make_chunk, jobs)
        return
    # fork keeps start-up cheap (reference tables are already loaded in the parent).
    context = multiprocessing.get_context("fork")
    with context.Pool(min(workers, len(jobs))) as pool:
        yield from pool.imap(_make_chunk, jobs)


def iter_citizens(
    count: int, *, seed: int = 0, as_of: date = REFERENCE_DATE
) -> Iterator[CitizenRow]:
    """`count` citizens as CITIZEN_COLUMNS tuples; the same seed yields the same rows."""
    for chunk in iter_chunks(count, seed=seed, as_of=as_of):
        yield from chunk


def unissued_pin(rng: random.Random) -> str:
    """A structurally valid PIN that no generated population ever issues."""
    return PinSpace.unissued(rng)


def generate_population(url: Path | str, count: int, *, seed: int = 0, **options: Any) -> int:
    """Fill an empty store with `count` citizens (see `load.generate_population`)."""
    from simulators.population.load import generate_population as load

    return load(url, count, seed=seed, **options)
