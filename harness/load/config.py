"""What a locust process needs to run its part of a load test, as JSON-safe data.

The parent (the CLI or `run_load`) prepares it — profile, plan, token, applicants — and
hands it to the locust master or local process as a file; a master forwards it to each
worker that connects, so a worker on another machine needs only the master's address.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["RunConfig"]


@dataclass(frozen=True, slots=True)
class RunConfig:
    target_url: str
    profile: dict[str, Any]  # the validated profile document
    scale: float
    compress: float
    agency_id: str
    procedure_code: str
    auth: dict[str, Any]  # {"kind": "bearer", "token": ...}; see harness.load.auth
    applicants: list[dict[str, Any]] = field(default_factory=list)
    out_dir: str = "."
    request_timeout_s: float = 10.0
    abort_after_s: float = 5.0  # stop early when every request failed for this long
    max_run_s: float | None = None  # hard cap on the run (tests, benchmarks)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        return cls(**data)

    @classmethod
    def read(cls, path: Path) -> RunConfig:
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))

    def write(self, path: Path) -> None:
        # The file holds a bearer token: readable by its owner only.
        path.write_text(self.to_json(), encoding="utf-8")
        path.chmod(0o600)
