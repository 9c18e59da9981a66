"""lienthong's conformance engine: requirements, runner, transport, checks, evidence, reports.

It never imports the simulators (only `harness.cli` does, to launch a sandbox): it reaches
them over HTTP, as it would a shared remote sandbox.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lienthong")
except PackageNotFoundError:  # running from a checkout without an install
    __version__ = "0.0.0"

__all__ = ["__version__"]
