"""One way to talk HTTP, whatever is on the other end.

`Transport` wraps any `httpx.Client`: a live client for a real agency, Starlette's
`TestClient` for an ASGI app in-process, or a client over `httpx.MockTransport` in unit
tests. Everything that comes back is hostile: bodies are cut at a size limit, every call
has an overall deadline (not only per-read timeouts, which a slow drip defeats), and each
exchange lands in the evidence log.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx

from harness.errors import EnvironmentProblem
from harness.evidence import EvidenceLog

__all__ = ["Reply", "Transport", "TransportFailure"]

MAX_BODY_BYTES = 1_048_576


class TransportFailure(EnvironmentProblem):
    """The target did not give a usable HTTP answer (refused, timed out, cut off)."""

    def __init__(self, message: str, exchange_id: str) -> None:
        super().__init__(message)
        self.exchange_id = exchange_id


@dataclass(frozen=True, slots=True)
class Reply:
    response: httpx.Response
    exchange_id: str
    elapsed_s: float

    @property
    def status(self) -> int:
        return self.response.status_code

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON (never raises on hostile bytes)."""
        try:
            return self.response.json()
        except ValueError:
            return None


class Transport:
    def __init__(
        self,
        client: httpx.Client,
        evidence: EvidenceLog,
        *,
        timeout_s: float = 10.0,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self.client = client
        self.evidence = evidence
        self.timeout_s = timeout_s
        self.max_body_bytes = max_body_bytes

    def request(self, check: str, method: str, url: str, **kwargs: Any) -> Reply:
        """Send one request; raise TransportFailure when no HTTP answer arrives in time."""
        timeout_s = float(kwargs.pop("timeout_s", self.timeout_s))
        request = self.client.build_request(method, url, timeout=timeout_s, **kwargs)
        started = time.monotonic()
        try:
            response = self._receive(request, started, timeout_s)
        except (httpx.HTTPError, TimeoutError) as exc:
            elapsed = time.monotonic() - started
            reason = _describe(exc, url, timeout_s)
            exchange_id = self.evidence.exchange(
                check, request, None, elapsed_s=elapsed, error=reason
            )
            raise TransportFailure(reason, exchange_id) from None
        elapsed = time.monotonic() - started
        exchange_id = self.evidence.exchange(check, request, response, elapsed_s=elapsed)
        return Reply(response, exchange_id, elapsed)

    def _receive(self, request: httpx.Request, started: float, timeout_s: float) -> httpx.Response:
        deadline = started + timeout_s
        response = self.client.send(request, stream=True)
        try:
            body = self._read_bounded(response, deadline)
        finally:
            response.close()
        headers = [
            (k, v)
            for k, v in response.headers.multi_items()
            if k.lower() not in ("content-encoding", "transfer-encoding", "content-length")
        ]
        bounded = httpx.Response(
            response.status_code,
            headers=headers,
            content=bytes(body),
            request=request,
            extensions=response.extensions,
        )
        # Read by schemathesis when it validates the answer.
        bounded.elapsed = timedelta(seconds=time.monotonic() - started)
        return bounded

    def _read_bounded(self, response: httpx.Response, deadline: float) -> bytes:
        if response.is_stream_consumed:  # in-memory transports hand over a read body
            return response.content[: self.max_body_bytes]
        body = bytearray()
        for chunk in response.iter_raw():
            body.extend(chunk)
            if len(body) > self.max_body_bytes:
                del body[self.max_body_bytes :]
                break  # keep what fits; the rest of a hostile body is never read
            if time.monotonic() > deadline:
                raise TimeoutError("body not complete before the deadline")
        return bytes(body)


def _describe(exc: BaseException, url: str, timeout_s: float) -> str:
    if isinstance(exc, httpx.ConnectError):
        return f"could not connect to {url}: nothing accepted the connection"
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return f"no complete answer from {url} within {timeout_s:g} s"
    return f"HTTP exchange with {url} failed: {type(exc).__name__}: {exc}"
