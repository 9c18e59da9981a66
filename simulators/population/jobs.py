"""Batch verification for data cleansing: a job with progress and a result file.

An agency cleaning its records posts up to MAX_RECORDS (PIN, name, date of birth) in one
job; a background thread verifies them a thousand PINs per query and stores one JSON line
per record, in the order sent. A malformed record does not fail the job: its line says
`invalid` and why. Jobs and their results live in the store (tables `jobs` and
`job_results`, one part per thousand lines, written with the progress in one
transaction), so a finished job's result outlives a restart; a job the restart cut short
is marked failed with the reason, never left "running". The audit log gets one
`batch-verify` entry per job.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
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
_INTERRUPTED = "interrupted by a restart of the population database; submit the records again"


def _public(row: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": row["id"],
        "status": row["status"],
        "total": int(row["total"]),
        "processed": int(row["processed"]),
        "results": json.loads(row["results"]),
    }
    if row["status"] == "done":
        data["result_url"] = f"/v1/verification-jobs/{row['id']}/result"
    if row.get("error"):
        data["error"] = row["error"]
    return data


class JobRunner:
    def __init__(self, store: PopulationStore, api: PopulationApi) -> None:
        self.store, self.api = store, api
        self._stopping = threading.Event()
        # Whatever was queued or running when the last process stopped will never finish.
        store.db.execute(
            "UPDATE jobs SET status = 'failed', error = ? WHERE status IN ('queued', 'running')",
            (_INTERRUPTED,),
        )

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
        job_id = uuid.uuid4().hex
        self.store.db.execute(
            "INSERT INTO jobs (id, client_id, status, total, processed, results, created_at) "
            "VALUES (?, ?, 'queued', ?, 0, '{}', ?)",
            (job_id, client_id, len(records), self.store.clock.stamp()),
        )
        threading.Thread(
            target=self._run,
            args=(job_id, client_id, records),
            name=f"job-{job_id[:8]}",
            daemon=True,
        ).start()
        job = _public(self._row(job_id) or {})
        return json_response(job, 202, {"Location": f"/v1/verification-jobs/{job_id}"})

    async def status(self, request: Request) -> Response:
        return json_response(_public(await self._own(request)))

    async def result(self, request: Request) -> Response:
        job = await self._own(request)
        if job["status"] != "done":
            raise ProblemError(
                409,
                "Job not finished",
                f"The job is {job['status']}; poll its status until done.",
                slug="job-not-done",
            )
        return StreamingResponse(self._parts(job["id"]), media_type="application/x-ndjson")

    def _parts(self, job_id: str) -> Iterator[bytes]:
        # One part at a time: a 200,000-line result never sits in memory whole.
        part = 0
        while rows := self.store.db.execute(
            "SELECT lines FROM job_results WHERE job_id = ? AND part = ?", (job_id, part)
        ):
            yield rows[0]["lines"].encode()
            part += 1

    def _row(self, job_id: str) -> dict[str, Any] | None:
        rows = self.store.db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return rows[0] if rows else None

    async def _own(self, request: Request) -> dict[str, Any]:
        _, client_id = await self.api.client(request, "citizen.verify")
        job = self._row(request.path_params["job_id"][:64])
        if job is None or job["client_id"] != client_id:
            raise ProblemError(
                404, "Job not found", "No such job for this client.", slug="job-not-found"
            )
        return job

    def _run(self, job_id: str, client_id: str, records: list[Any]) -> None:
        db, counts = self.store.db, Counter[str]()
        db.execute("UPDATE jobs SET status = 'running' WHERE id = ?", (job_id,))
        status, error = "done", None
        try:
            for part, start in enumerate(range(0, len(records), _BATCH)):
                if self._stopping.is_set():
                    raise RuntimeError(_INTERRUPTED)
                lines = self._verify_batch(records[start : start + _BATCH], start)
                counts.update(line["result"] for line in lines)
                self._save_part(job_id, part, lines, min(len(records), start + _BATCH), counts)
        except Exception as exc:  # a job fails alone; the server carries on
            status, error = "failed", str(exc)[:200] or type(exc).__name__
        db.execute("UPDATE jobs SET status = ?, error = ? WHERE id = ?", (status, error, job_id))
        self.store.record_access(client_id, "batch-verify", None, [], status)

    def _save_part(
        self, job_id: str, part: int, lines: list[dict[str, Any]], done: int, counts: Counter[str]
    ) -> None:
        text = b"".join(orjson.dumps(line) + b"\n" for line in lines).decode()
        with self.store.db.transaction():
            self.store.db.execute(
                "INSERT INTO job_results (job_id, part, lines) VALUES (?, ?, ?)",
                (job_id, part, text),
            )
            self.store.db.execute(
                "UPDATE jobs SET processed = ?, results = ? WHERE id = ?",
                (done, json.dumps(dict(counts)), job_id),
            )

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
