"""What a locust master or local process leaves behind: `timeline.json` and locust's CSVs.

Written every second and atomically, so the parent can show progress and, if the run
dies half-way, still grade and report what was measured.
"""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gevent
from locust import __version__ as locust_version
from locust.stats import PERCENTILES_TO_REPORT, StatsCSV

if TYPE_CHECKING:
    from locust.env import Environment

    from harness.load.users import RunState

__all__ = ["TIMELINE_FILE", "Snapshot"]

TIMELINE_FILE = "timeline.json"
_CSV_EVERY_S = 5


class Snapshot:
    def __init__(self, env: Environment, run: RunState, out_dir: Path) -> None:
        self.env, self.run, self.out_dir = env, run, out_dir
        out_dir.mkdir(parents=True, exist_ok=True)

    def loop(self) -> None:
        ticks = 0
        while True:
            gevent.sleep(1.0)
            ticks += 1
            self.write(final=False, csvs=ticks % _CSV_EVERY_S == 0)

    def fail(self, reason: str) -> None:
        self.run.abort_reason = reason
        self._dump("error")

    def write(self, *, final: bool, csvs: bool = True) -> None:
        status = "running"
        if final:
            status = "aborted" if self.run.abort_reason else "finished"
        self._dump(status)
        if csvs or final:
            self._csvs()

    def _totals(self) -> dict[str, Any]:
        total = self.env.stats.total
        return {
            "requests": total.num_requests,
            "failures": total.num_failures,
            "p50_ms": total.get_response_time_percentile(0.5) if total.num_requests else None,
            "p95_ms": total.get_response_time_percentile(0.95) if total.num_requests else None,
            "p99_ms": total.get_response_time_percentile(0.99) if total.num_requests else None,
        }

    def _dump(self, status: str) -> None:
        document = {
            "status": status,
            "reason": self.run.abort_reason,
            "t0": self.run.t0,
            "written_at": time.time(),
            "duration_s": self.run.plan.duration_s,
            "locust_version": locust_version,
            "users": {str(k): v for k, v in self.run.users_by_second.items()},
            "totals": self._totals(),
            **self.run.recorder.as_dict(),
        }
        target = self.out_dir / TIMELINE_FILE
        temporary = target.with_suffix(".json.tmp")
        temporary.write_text(json.dumps(document), encoding="utf-8")
        os.replace(temporary, target)

    def _csvs(self) -> None:
        writer = StatsCSV(self.env, PERCENTILES_TO_REPORT)
        for name, method in (("stats", writer.requests_csv), ("failures", writer.failures_csv)):
            path = self.out_dir / f"locust_{name}.csv"
            with path.open("w", newline="", encoding="utf-8") as handle:
                method(csv.writer(handle))
