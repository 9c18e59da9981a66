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
MAX_CONSECUTIVE_FAILURES = 3


def _origin(request: httpx.Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc.decode('ascii', 'replace')}"


class TransportFailure(EnvironmentProblem):
    """The target did not give a usable HTTP answer (refused, timed out, cut off)."""

    def __init__(self, message: str, exchange_id: str, kind: str = "not-sent") -> None:
        super().__init__(message)
        self.exchange_id = exchange_id
        self.kind = kind  # refused | tls | timeout | protocol | not-sent


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
        deadline: float | None = None,
    ) -> None:
        self.client = client
        self.evidence = evidence
        self.timeout_s = timeout_s
        self.max_body_bytes = max_body_bytes
        # Monotonic time after which nothing more is sent: the run's time budget.
        self.deadline = deadline
        # Consecutive failures per origin; past the limit that origin is given up on, so a
        # hanging target costs a few timeouts, not one per remaining request.
        self._failures: dict[str, int] = {}

    def request(self, check: str, method: str, url: str, **kwargs: Any) -> Reply:
        """Send one request; raise TransportFailure when no HTTP answer arrives in time."""
        timeout_s = self._timeout(float(kwargs.pop("timeout_s", self.timeout_s)))
        request = self.client.build_request(method, url, timeout=timeout_s, **kwargs)
        refusal = self._refusal(request)
        if refusal:
            exchange_id = self.evidence.exchange(check, request, None, error=refusal)
            raise TransportFailure(refusal, exchange_id)
        started = time.monotonic()
        try:
            response = self._receive(request, started, timeout_s)
        except (httpx.HTTPError, TimeoutError) as exc:
            elapsed = time.monotonic() - started
            kind, reason = _describe(exc, url, timeout_s)
            self._count_failure(request, failed=True)
            exchange_id = self.evidence.exchange(
                check, request, None, elapsed_s=elapsed, error=reason
            )
            raise TransportFailure(reason, exchange_id, kind) from None
        self._count_failure(request, failed=False)
        elapsed = time.monotonic() - started
        exchange_id = self.evidence.exchange(check, request, response, elapsed_s=elapsed)
        return Reply(response, exchange_id, elapsed)

    def _timeout(self, wanted: float) -> float:
        if self.deadline is None:
            return wanted
        return max(0.001, min(wanted, self.deadline - time.monotonic()))

    def _refusal(self, request: httpx.Request) -> str | None:
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return "not sent: the run's time budget is spent"
        failures = self._failures.get(_origin(request), 0)
        if failures >= MAX_CONSECUTIVE_FAILURES:
            return (
                f"not sent: {_origin(request)} failed {failures} times in a row "
                "(no answer, cut off or refused)"
            )
        return None

    def _count_failure(self, request: httpx.Request, *, failed: bool) -> None:
        origin = _origin(request)
        self._failures[origin] = self._failures.get(origin, 0) + 1 if failed else 0

    def _receive(self, request: httpx.Request, started: float, timeout_s: float) -> httpx.Response:
        deadline = started + timeout_s
        try:
            response = self.client.send(request, stream=True)
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            if not _closed_before_answering(exc) or time.monotonic() >= deadline:
                raise
            # A kept-alive connection the server closed as we reused it (uvicorn closes one
            # after an unhandled exception): the request was never answered, so it is sent
            # once more on a new connection, as browsers and HTTP libraries do.
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
        for chunk in response.iter_bytes():  # decoded; stopping early bounds a zip bomb
            body.extend(chunk)
            if len(body) > self.max_body_bytes:
                del body[self.max_body_bytes :]
                break  # keep what fits; the rest of a hostile body is never read
            if time.monotonic() > deadline:
                raise TimeoutError("body not complete before the deadline")
        return bytes(body)


def _closed_before_answering(exc: httpx.TransportError) -> bool:
    """The connection was closed or reset before any answer: not a malformed answer."""
    if isinstance(exc, httpx.RemoteProtocolError):
        return "without sending a response" in str(exc)  # httpcore's words for a closed socket
    return True  # a read or write on a socket the server reset


def _describe(exc: BaseException, url: str, timeout_s: float) -> tuple[str, str]:
    """(kind, message): refused, tls, timeout or protocol."""
    if isinstance(exc, httpx.ConnectError):
        detail = str(exc)
        if "ssl" in detail.lower() or "certificate" in detail.lower():
            return "tls", f"TLS handshake with {url} failed: {detail[:200]}"
        return "refused", f"could not connect to {url}: nothing accepted the connection"
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return "timeout", f"no complete answer from {url} within {timeout_s:g} s"
    return "protocol", f"HTTP exchange with {url} failed: {type(exc).__name__}: {exc}"
