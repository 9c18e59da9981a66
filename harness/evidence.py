"""Evidence as JSON lines: every exchange and observation a verdict rests on, redacted.

Reports are built from these files alone; their SHA-256 digests go into the report and
the certificate.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from harness.redaction import redact_headers, redact_text, redact_value

__all__ = ["EVIDENCE_FILE", "EvidenceLog"]

EVIDENCE_FILE = "evidence.jsonl"
_MAX_BODY_CHARS = 4096


def _body_text(content: bytes, content_type: str) -> str:
    text = content.decode("utf-8", errors="replace")
    if "json" in content_type:
        try:
            text = json.dumps(redact_value(json.loads(text)), ensure_ascii=False)
        except ValueError:
            text = redact_text(text)
    else:
        text = redact_text(text)
    if len(text) > _MAX_BODY_CHARS:
        return text[:_MAX_BODY_CHARS] + f"… [{len(text) - _MAX_BODY_CHARS} more characters]"
    return text


def _request_record(request: httpx.Request) -> dict[str, Any]:
    content = request.content if request.stream is not None else b""
    return {
        "method": request.method,
        "url": redact_text(str(request.url)),
        "headers": redact_headers(dict(request.headers)),
        "body": _body_text(content, request.headers.get("content-type", "")),
    }


def _response_record(response: httpx.Response, elapsed_s: float) -> dict[str, Any]:
    return {
        "status": response.status_code,
        "headers": redact_headers(dict(response.headers)),
        "body": _body_text(response.content, response.headers.get("content-type", "")),
        "elapsed_s": round(elapsed_s, 4),
    }


class EvidenceLog:
    """Appends redacted records to ``evidence.jsonl``; safe to share between threads."""

    def __init__(self, out_dir: Path) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        self.path = out_dir / EVIDENCE_FILE
        self._handle = self.path.open("w", encoding="utf-8")
        self._lock = threading.Lock()
        self._count = 0

    def exchange(
        self,
        check: str,
        request: httpx.Request,
        response: httpx.Response | None,
        *,
        elapsed_s: float = 0.0,
        error: str | None = None,
    ) -> str:
        return self._write(
            check,
            "exchange",
            {
                "request": _request_record(request),
                "response": _response_record(response, elapsed_s) if response is not None else None,
                "error": redact_text(error) if error else None,
            },
        )

    def observation(self, check: str, source: str, data: Any) -> str:
        return self._write(check, "observation", {"source": source, "data": redact_value(data)})

    def _write(self, check: str, kind: str, fields: dict[str, Any]) -> str:
        with self._lock:
            self._count += 1
            record_id = f"ex-{self._count:05d}"
            record = {
                "id": record_id,
                "kind": kind,
                "check": check,
                "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
                **fields,
            }
            self._handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            self._handle.flush()
        return record_id

    def close(self) -> None:
        with self._lock:
            self._handle.close()
