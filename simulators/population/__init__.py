"""The population-database simulator: PIN codec, synthetic citizens, store and HTTP app.

Import the parts from their modules (`app`, `store`, `generator`, `load`); only the light
PIN codec is re-exported here, so importing the package stays cheap.
"""

from __future__ import annotations

from simulators.population.pin import (
    PROVINCE_CODES,
    InvalidPin,
    PinInfo,
    decode_pin,
    encode_pin,
    is_valid_pin,
    province_name,
)

__all__ = [
    "PROVINCE_CODES",
    "InvalidPin",
    "PinInfo",
    "decode_pin",
    "encode_pin",
    "is_valid_pin",
    "province_name",
]
