"""The simulator's store: `PopulationStore` on SQLite or PostgreSQL (see records.py and
events.py for its two halves)."""

from __future__ import annotations

from simulators.population.events import LifeEventError, PopulationStore
from simulators.population.records import ADULT_AGE, CITIZEN_COLUMNS, CitizenRow

__all__ = ["ADULT_AGE", "CITIZEN_COLUMNS", "CitizenRow", "LifeEventError", "PopulationStore"]
