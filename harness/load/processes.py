"""Locust child processes: each in its own session, always reaped.

Every child gets its own process group, so stopping one takes any process it started
along; `Children.stop_all` runs on success, error and Ctrl-C alike, and each child also
quits by itself when this process disappears (see worker._watch_parent).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

__all__ = ["Children"]

_GRACE_S = 5.0


class Children:
    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen[bytes]] = []

    def spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"locust-{name}.log").open("wb")
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "harness.load.worker", *args],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()  # the child holds its own descriptor
        self.procs.append(proc)
        return proc

    def running(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.procs if p.poll() is None]

    def _signal(self, sig: signal.Signals) -> None:
        for proc in self.running():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)

    def stop_all(self) -> None:
        self._signal(signal.SIGTERM)
        deadline = time.monotonic() + _GRACE_S
        while self.running() and time.monotonic() < deadline:
            time.sleep(0.05)
        self._signal(signal.SIGKILL)
        for proc in self.procs:
            proc.wait()

    def __enter__(self) -> Children:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_all()
