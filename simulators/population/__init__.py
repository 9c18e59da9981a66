"""The population-database simulator: PIN codec, synthetic citizens, store and HTTP app."""

from __future__ import annotations

from simulators.population.app import create_app
from simulators.population.generator import generate_population
from simulators.population.pin import (
    PROVINCE_CODES,
    InvalidPin,
    PinInfo,
    decode_pin,
    encode_pin,
    is_valid_pin,
    province_name,
)
from simulators.population.store import PopulationStore

__all__ = [
    "PROVINCE_CODES",
    "InvalidPin",
    "PinInfo",
    "PopulationStore",
    "create_app",
    "decode_pin",
    "encode_pin",
    "generate_population",
    "is_valid_pin",
    "province_name",
]
