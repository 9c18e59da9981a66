"""The existing adapter style (DOMAIN.md §4, [code]), so systems written for the real
portal connect unchanged:

    POST /legacy/auth         {username, secret} + header dstcode  -> {session, error_code: 0}
    POST /legacy/integration  {session, madonvi, service, ...}     -> {error_code, message, ...}

It answers in its own format — always HTTP 200 with `error_code` (0 = success) and a
`message` — never problem+json and never a traceback. Status syncs go through the same
`SyncRules` as the REST API. Error codes are ours ([ours]): see `ErrorCode`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from simulators.common.db import Database
from simulators.common.http import MAX_BODY_BYTES
from simulators.common.problems import FieldError, ProblemError
from simulators.portal.legacy_services import ErrorCode, LegacyError, LegacyServices, answer
from simulators.portal.sync import SyncRules

__all__ = ["DEFAULT_DSTCODE", "ErrorCode", "LegacyAccounts", "LegacyAdapter"]

log = logging.getLogger(__name__)

DEFAULT_DSTCODE = "DVCQG"  # [ours]: the real destination code comes with the connection
SESSION_TTL_S = 1800


def _secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class LegacyAccounts:
    """Adapter accounts (one per agency system) and their sessions."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def register(self, username: str, secret: str, agency_id: str) -> None:
        self.db.execute(
            "INSERT INTO legacy_accounts (username, secret_sha256, agency_id) VALUES (?, ?, ?)"
            " ON CONFLICT (username) DO UPDATE SET secret_sha256 = excluded.secret_sha256,"
            " agency_id = excluded.agency_id",
            (username, _secret_digest(secret), agency_id),
        )

    def login(self, username: str, secret: str) -> tuple[str, str] | None:
        rows = self.db.execute(
            "SELECT secret_sha256, agency_id FROM legacy_accounts WHERE username = ?", (username,)
        )
        presented = _secret_digest(secret)
        if not rows or not hmac.compare_digest(rows[0]["secret_sha256"], presented):
            return None
        session = secrets.token_urlsafe(24)
        self.db.execute(
            "INSERT INTO legacy_sessions (session, username, agency_id, expires_at)"
            " VALUES (?, ?, ?, ?)",
            (session, username, rows[0]["agency_id"], time.time() + SESSION_TTL_S),
        )
        return session, str(rows[0]["agency_id"])

    def session(self, session: str) -> tuple[str, str] | None:
        """(username, agency id) of a live session."""
        rows = self.db.execute(
            "SELECT username, agency_id FROM legacy_sessions WHERE session = ? AND expires_at > ?",
            (session, time.time()),
        )
        return (str(rows[0]["username"]), str(rows[0]["agency_id"])) if rows else None


class LegacyAdapter:
    def __init__(self, accounts: LegacyAccounts, rules: SyncRules, dstcode: str) -> None:
        self.accounts = accounts
        self.services = LegacyServices(rules)
        self.dstcode = dstcode

    async def auth(self, request: Request) -> Response:
        return await _guarded(request, self._auth)

    async def integration(self, request: Request) -> Response:
        return await _guarded(request, self._integration)

    def _auth(self, request: Request, body: dict[str, Any]) -> Response:
        self._check_dstcode(request)
        username, secret = _text(body, "username"), _text(body, "secret")
        login = self.accounts.login(username, secret)
        if login is None:
            raise LegacyError(
                ErrorCode.AUTH_FAILED, "Sai tên đăng nhập hoặc mật khẩu (wrong username or secret)."
            )
        return answer(
            ErrorCode.OK, "OK", session=login[0], madonvi=login[1], expires_in=SESSION_TTL_S
        )

    def _integration(self, request: Request, body: dict[str, Any]) -> Response:
        self._check_dstcode(request)
        session = self.accounts.session(_text(body, "session"))
        if session is None:
            raise LegacyError(
                ErrorCode.SESSION_INVALID,
                "The session is unknown or expired; log in again at /legacy/auth.",
                (FieldError("session", "unknown or expired", "POST /legacy/auth for a new one"),),
            )
        username, agency_id = session
        if _text(body, "madonvi") != agency_id:
            raise LegacyError(
                ErrorCode.WRONG_AGENCY,
                f"madonvi {body['madonvi']!r} is not the agency of this session ({agency_id}).",
                (FieldError("madonvi", "not the session's agency", f"send {agency_id!r}"),),
            )
        return self.services.call(_text(body, "service"), body, username, agency_id)

    def _check_dstcode(self, request: Request) -> None:
        presented = request.headers.get("dstcode")
        if presented != self.dstcode:
            raise LegacyError(
                ErrorCode.AUTH_FAILED,
                f"Header dstcode is {presented!r}; this portal is {self.dstcode!r}.",
                (
                    FieldError(
                        "dstcode", "missing or wrong", f"send the header dstcode: {self.dstcode}"
                    ),
                ),
            )


async def _guarded(request: Request, handler: Any) -> Response:
    # Every failure becomes an answer in the adapter's own format; the log keeps the rest.
    try:
        body = await _read_envelope(request)
        response: Response = handler(request, body)
        return response
    except LegacyError as exc:
        return answer(exc.code, exc.message, errors=[e.as_dict() for e in exc.errors])
    except ProblemError as exc:
        return answer(ErrorCode.MALFORMED, exc.detail or exc.title)
    except Exception:
        log.exception("legacy adapter failed on %s", request.url.path)
        return answer(ErrorCode.INTERNAL, "Internal error; the incident was logged.")


async def _read_envelope(request: Request) -> dict[str, Any]:
    # Existing adapters do not all send Content-Type: application/json, so the body is
    # parsed whatever the header says.
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise LegacyError(ErrorCode.MALFORMED, f"The body exceeds {MAX_BODY_BYTES} bytes.")
        chunks.append(chunk)
    try:
        data = orjson.loads(b"".join(chunks))
    except orjson.JSONDecodeError:
        raise LegacyError(
            ErrorCode.MALFORMED,
            "The body is not JSON.",
            (FieldError("/", "not JSON", 'send {"session": ..., "madonvi": ..., "service": ...}'),),
        ) from None
    if not isinstance(data, dict):
        raise LegacyError(
            ErrorCode.MALFORMED,
            "The body must be a JSON object.",
            (FieldError("/", f"got {type(data).__name__}", "send a JSON object"),),
        )
    return data


def _text(body: dict[str, Any], name: str, max_length: int = 200) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value or len(value) > max_length:
        raise LegacyError(
            ErrorCode.MALFORMED,
            f"Field {name} is missing or not a text of 1–{max_length} characters.",
            (FieldError(name, "missing or not a non-empty string", f"send {name} as a string"),),
        )
    return value
