"""JSON in and out of Starlette handlers, with size limits and precise errors."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from simulators.common.problems import FieldError, ProblemError

__all__ = ["MAX_BODY_BYTES", "json_response", "read_form", "read_json_object"]

MAX_BODY_BYTES = 1_048_576


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(data), status_code=status, media_type="application/json", headers=headers
    )


async def _read_bounded(request: Request, max_bytes: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(max_bytes: int) -> ProblemError:
    return ProblemError(413, "Body too large", f"Request bodies are limited to {max_bytes} bytes.")


def _require_media_type(request: Request, expected: str) -> None:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != expected:
        raise ProblemError(
            415,
            "Unsupported media type",
            f"Content-Type is {media_type or 'missing'!r}; send {expected}.",
            errors=(FieldError("Content-Type", "unsupported media type", f"use {expected}"),),
        )


async def read_json_object(request: Request, max_bytes: int = MAX_BODY_BYTES) -> dict[str, Any]:
    """The request body as a JSON object, or a 4xx problem saying what is wrong with it."""
    _require_media_type(request, "application/json")
    raw = await _read_bounded(request, max_bytes)
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ProblemError(400, "Malformed JSON", f"The body is not valid JSON: {exc}.") from None
    if not isinstance(data, dict):
        raise ProblemError(
            400,
            "Malformed JSON",
            "The body must be a JSON object.",
            errors=(FieldError("/", f"got {type(data).__name__}", "send a JSON object {...}"),),
        )
    return data


async def read_form(request: Request, max_bytes: int = 65_536) -> dict[str, str]:
    """An application/x-www-form-urlencoded body, one value per key."""
    _require_media_type(request, "application/x-www-form-urlencoded")
    from urllib.parse import parse_qsl

    raw = await _read_bounded(request, max_bytes)
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        raise ProblemError(400, "Malformed form", "The body is not a UTF-8 form.") from None
    return dict(pairs)
