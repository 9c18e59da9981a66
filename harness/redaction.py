"""Personal data never reaches an evidence file: PINs, names, addresses and tokens masked.

PINs keep their first three and last three digits (province prefix and a tail to tell
records apart); names keep initials; tokens and addresses are replaced outright.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["redact_headers", "redact_text", "redact_value"]

_PIN = re.compile(r"(?<!\d)(\d{3})\d{6}(\d{3})(?!\d)")
_JWT = re.compile(r"\beyJ[\w-]+\.[\w-]+\.[\w-]*")
_NAME_KEYS = frozenset({"hovaten", "full_name", "chuhoso", "tennguoinop", "name"})
_ADDRESS_KEYS = frozenset({"permanent_address", "diachi", "diachitamtru", "address"})
_SECRET_HEADERS = frozenset({"authorization", "cookie", "set-cookie", "proxy-authorization"})


def redact_text(text: str) -> str:
    return _JWT.sub("<jwt redacted>", _PIN.sub(r"\1******\2", text))


def _initials(name: str) -> str:
    return " ".join(part[:1] + "*" * (len(part) - 1) for part in name.split())


def redact_value(value: Any, key: str = "") -> Any:
    """A deep copy of a JSON value with personal data masked."""
    lowered = key.lower()
    if isinstance(value, dict):
        return {k: redact_value(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_value(v, key) for v in value]
    if isinstance(value, str):
        if lowered in _NAME_KEYS:
            return _initials(value)
        if lowered in _ADDRESS_KEYS:
            return "<address redacted>"
        return redact_text(value)
    return value


def redact_headers(headers: dict[str, str]) -> dict[str, str]:
    return {
        k: ("<redacted>" if k.lower() in _SECRET_HEADERS else redact_text(v))
        for k, v in headers.items()
    }
