"""The `lienthong` command. Exit codes, for every command:

0 conformant / done · 1 not conformant · 2 usage or configuration error ·
3 harness or environment error (could not judge).

This package is the only part of the harness that imports the simulators (to launch a
sandbox); the engine reaches them over HTTP.
"""

from __future__ import annotations

import logging
import sys

from harness.cli.app import app, console_error
from harness.errors import HarnessError

__all__ = ["main"]


def main() -> None:
    # The in-process simulators log their own troubles (a refused sync, a retry); those
    # are evidence for the harness, not console output for the user.
    logging.getLogger("simulators").addHandler(logging.NullHandler())
    try:
        app()
    except HarnessError as error:
        console_error(str(error))
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        console_error("interrupted")
        sys.exit(3)
