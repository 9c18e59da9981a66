"""Query parameters checked the same way on every portal endpoint."""

from __future__ import annotations

from starlette.datastructures import QueryParams

from simulators.common.problems import FieldError, ProblemError

__all__ = ["INT64_MAX", "int_param", "text_param"]

INT64_MAX = 9_223_372_036_854_775_807
MAX_TEXT_PARAM = 100


def text_param(query: QueryParams, name: str) -> str | None:
    value = query.get(name)
    if value is not None and len(value) > MAX_TEXT_PARAM:
        raise bad_param(
            name, f"is {len(value)} characters long", f"send at most {MAX_TEXT_PARAM} characters"
        )
    return value


def int_param(query: QueryParams, name: str, *, default: int, low: int, high: int) -> int:
    text = query.get(name)
    if text is None:
        return default
    # Digits only: int() would also accept "+5", " 5" and "5_0".
    if not text.isascii() or not text.isdigit() or len(text) > 19 or not low <= int(text) <= high:
        raise bad_param(
            name,
            f"{text[:40]!r} is not an integer from {low} to {high}",
            f"send an integer from {low} to {high}, e.g. {name}={low}",
        )
    return int(text)


def bad_param(name: str, message: str, fix: str) -> ProblemError:
    return ProblemError(
        400,
        "Invalid query parameter",
        f"The query parameter {name} {message}.",
        errors=(FieldError(name, message, fix),),
        slug="invalid-parameter",
    )
