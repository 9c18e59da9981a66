"""Batch verification for data cleansing: a job with progress and a result file.

An agency cleaning its records posts up to MAX_RECORDS (PIN, name, date of birth) in one
job; a background thread verifies them a thousand PINs per query and writes one JSON line
per record to a result file, in the order sent. A malformed record does not fail the job:
its line says `invalid` and why. Jobs live in memory (a restarted sandbox forgets them);
the audit log gets one `batch-verify` entry per job.
"""

from __future__ import annotations

import tempfile
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from simulators.common.http import json_response, read_json_object
from simulators.common.problems import ProblemError
from simulators.population.events import PopulationStore
from simulators.population.matching import verify_answer
from simulators.population.pin import is_valid_pin

if TYPE_CHECKING:
    from simulators.population.app import PopulationApi

__all__ = ["MAX_BODY_BYTES", "MAX_RECORDS", "JobRunner"]

MAX_RECORDS = 200_000
MAX_BODY_BYTES = 32 * 1024 * 1024
_BATCH = 1000
_TEXT_LIMIT = 100


@dataclass
class Job:
    id: str
    client_id: str
    records: list[Any]
    status: str = "queued"
    processed: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    path: Path | None = None

    def public(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "status": self.status,
            "total": len(self.records),
            "processed": self.processed,
            "results": dict(self.counts),
        }
        if self.status == "done":
            data["result_url"] = f"/v1/verification-jobs/{self.id}/result"
        return data


class JobRunner:
    def __init__(self, store: PopulationStore, api: PopulationApi) -> None:
        self.store, self.api = store, api
        self.jobs: dict[str, Job] = {}
        self._dir = Path(tempfile.mkdtemp(prefix="lienthong-jobs-"))
        self._stopping = threading.Event()

    async def create(self, request: Request) -> Response:
        _, client_id = await self.api.client(request, "citizen.verify")
        body = await read_json_object(request, MAX_BODY_BYTES)
        records = body.get("records")
        if not isinstance(records, list) or not records or set(body) != {"records"}:
            raise ProblemError(
                422,
                "Invalid request",
                'The body is {"records": [...]} with at least one record.',
                slug="validation",
            )
        if len(records) > MAX_RECORDS:
            raise ProblemError(
                413,
                "Batch too large",
                f"{len(records):,} records; a job takes at most {MAX_RECORDS:,}. Split the batch.",
                slug="batch-too-large",
            )
        job = Job(uuid.uuid4().hex, client_id, records)
        self.jobs[job.id] = job
        threading.Thread(
            target=self._run, args=(job,), name=f"job-{job.id[:8]}", daemon=True
        ).start()
        return json_response(job.public(), 202, {"Location": f"/v1/verification-jobs/{job.id}"})

    async def status(self, request: Request) -> Response:
        return json_response((await self._own(request)).public())

    async def result(self, request: Request) -> Response:
        job = await self._own(request)
        if job.status != "done" or job.path is None:
            raise ProblemError(
                409,
                "Job not finished",
                f"The job is {job.status}; poll its status until done.",
                slug="job-not-done",
            )
        return FileResponse(job.path, media_type="application/x-ndjson")

    async def _own(self, request: Request) -> Job:
        _, client_id = await self.api.client(request, "citizen.verify")
        job = self.jobs.get(request.path_params["job_id"])
        if job is None or job.client_id != client_id:
            raise ProblemError(
                404, "Job not found", "No such job for this client.", slug="job-not-found"
            )
        return job

    def _run(self, job: Job) -> None:
        job.status = "running"
        job.path = self._dir / f"{job.id}.ndjson"
        try:
            with job.path.open("wb") as out:
                for start in range(0, len(job.records), _BATCH):
                    if self._stopping.is_set():
                        raise RuntimeError("server stopping")
                    for line in self._verify_batch(job.records[start : start + _BATCH], start):
                        job.counts[line["result"]] += 1
                        out.write(orjson.dumps(line) + b"\n")
                    job.processed = min(len(job.records), start + _BATCH)
            job.status = "done"
        except Exception:
            job.status = "failed"
        self.store.record_access(job.client_id, "batch-verify", None, [], job.status)

    def _verify_batch(self, records: list[Any], offset: int) -> list[dict[str, Any]]:
        checked = [_check(r) for r in records]
        pins = [r["pin"] for r, problem in checked if problem is None]
        found = self.store.citizens_by_pins(pins)
        lines = []
        for i, (record, problem) in enumerate(checked):
            ref = record.get("ref", offset + i) if isinstance(record, dict) else offset + i
            if problem is not None:
                lines.append({"ref": ref, "result": "invalid", "problem": problem})
                continue
            citizen, superseded = found.get(record["pin"], (None, False))
            lines.append(
                {
                    "ref": ref,
                    "pin": record["pin"],
                    **verify_answer(citizen, record, superseded=superseded),
                }
            )
        return lines

    def stop(self) -> None:
        self._stopping.set()

    def routes(self) -> list[Route]:
        return [
            Route("/v1/verification-jobs", self.create, methods=["POST"]),
            Route("/v1/verification-jobs/{job_id}", self.status, methods=["GET"]),
            Route("/v1/verification-jobs/{job_id}/result", self.result, methods=["GET"]),
        ]


def _check(record: Any) -> tuple[dict[str, Any], str | None]:
    if not isinstance(record, dict):
        return {}, "a record is an object {pin, full_name, date_of_birth}"
    for name in ("pin", "full_name", "date_of_birth"):
        value = record.get(name)
        if not isinstance(value, str) or not value or len(value) > _TEXT_LIMIT:
            return record, f"{name} is missing or not a short string"
    if not is_valid_pin(record["pin"]):
        return record, "pin is not a structurally valid PIN"
    return record, None
