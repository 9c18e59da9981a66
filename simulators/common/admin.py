"""The sandbox's admin surface: a shared secret the harness presents as a bearer token."""

from __future__ import annotations

import hmac

from starlette.requests import Request

from simulators.common.problems import ProblemError

__all__ = ["require_admin"]


def require_admin(request: Request, admin_token: str) -> None:
    presented = request.headers.get("authorization", "")
    expected = f"Bearer {admin_token}"
    if not hmac.compare_digest(presented.encode(), expected.encode()):
        raise ProblemError(
            401,
            "Unauthorized",
            "Admin operations need 'Authorization: Bearer <sandbox admin token>'.",
            slug="admin-token",
            headers={"WWW-Authenticate": 'Bearer realm="sandbox-admin"'},
        )
