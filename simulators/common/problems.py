"""RFC 9457 problem details, and the exception handlers that make every error one.

Exception tree::

    ProblemError          an error the client caused or must see (4xx, or 5xx we chose)
    └── (any other)       turned into a 500 problem with no detail, never a traceback
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

__all__ = ["FieldError", "ProblemError", "exception_handlers", "problem_response"]

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
_TYPE_BASE = "https://lienthong.invalid/problems/"


@dataclass(frozen=True, slots=True)
class FieldError:
    """One invalid field: where it is, what is wrong, how to fix it."""

    field: str
    message: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        data = {"field": self.field, "message": self.message}
        if self.fix:
            data["fix"] = self.fix
        return data


@dataclass(slots=True)
class ProblemError(Exception):
    """Raise anywhere in a simulator to answer with a problem+json document."""

    status: int
    title: str
    detail: str = ""
    errors: tuple[FieldError, ...] = ()
    slug: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status} {self.title}: {self.detail}"


def problem_response(error: ProblemError, *, instance: str = "") -> Response:
    slug = error.slug or error.title.lower().replace(" ", "-")
    body: dict[str, Any] = {"type": _TYPE_BASE + slug, "title": error.title, "status": error.status}
    if error.detail:
        body["detail"] = error.detail
    if instance:
        body["instance"] = instance
    if error.errors:
        body["errors"] = [e.as_dict() for e in error.errors]
    body.update(error.extra)
    return Response(
        orjson.dumps(body),
        status_code=error.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=error.headers,
    )


async def _on_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    return problem_response(exc, instance=request.url.path)


async def _on_http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "HTTP error")
    detail = {
        404: f"No resource at {request.url.path}; see the OpenAPI document for its paths.",
        405: f"{request.method} is not allowed on {request.url.path}.",
    }.get(exc.status_code, str(exc.detail))
    return problem_response(
        ProblemError(exc.status_code, title, detail, headers=dict(exc.headers or {})),
        instance=request.url.path,
    )


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    # The client learns nothing about our internals; the log keeps the traceback.
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(
        ProblemError(500, "Internal error", "The simulator failed; the incident was logged."),
        instance=request.url.path,
    )


def exception_handlers() -> dict[Any, Any]:
    return {ProblemError: _on_problem, HTTPException: _on_http, Exception: _on_unexpected}
