"""Where the harness finds its data: the source tree, or the copy a wheel carries."""

from __future__ import annotations

from pathlib import Path

__all__ = ["data_dir"]

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """`specs`, `scenarios` or `templates`, from the checkout if present, else the wheel."""
    in_checkout = _PACKAGE.parent / ("reports/templates" if name == "templates" else name)
    if in_checkout.is_dir():
        return in_checkout
    return _PACKAGE / "_data" / name
