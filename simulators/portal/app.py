"""The portal's status-sync surface (specs/portal.yaml) as a Starlette app.

Every sync from an authenticated caller is recorded, accepted or refused, with the exact
problem document the caller received: the harness judges agencies from this log.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulators.common.admin import require_admin
from simulators.common.clock import parse_dvc
from simulators.common.http import json_response, read_json_object
from simulators.common.problems import (
    FieldError,
    ProblemError,
    exception_handlers,
    problem_response,
)
from simulators.common.tokens import TokenVerifier, require_scope
from simulators.common.validation import SchemaValidator
from simulators.portal.lifecycle import PROCEDURES_FILE, load_lifecycle, load_procedure_codes
from simulators.portal.store import PortalStore

__all__ = ["SYNC_SCOPE", "create_app"]

SYNC_SCOPE = "portal.sync"
_DATE_FIELDS = ("NgayTiepNhan", "NgayHenTra", "NgayTra", "NgayKetThucXuLy", "NgayCapNhat")
_DATE_FIX = "a real date as yyyyMMddHHmmss in Asia/Ho_Chi_Minh, e.g. 20250115143000"
_INT64_MAX = 9_223_372_036_854_775_807
_MAX_TEXT_PARAM = 100


@dataclass(frozen=True, slots=True)
class _Caller:
    agency_id: str | None
    client_id: str | None


def _caller(claims: dict[str, Any]) -> _Caller:
    agency = claims.get("agency_id") or claims.get("client_id") or claims.get("sub")
    client = claims.get("client_id") or claims.get("sub")
    return _Caller(None if agency is None else str(agency), None if client is None else str(client))


class _Portal:
    """Handlers sharing one store, one verifier and the contract compiled once."""

    def __init__(self, store: PortalStore, verifier: TokenVerifier, admin_token: str) -> None:
        self._store = store
        self._verifier = verifier
        self._admin_token = admin_token
        self._validator = SchemaValidator("portal.yaml", "StatusSync")
        self._lifecycle = load_lifecycle()
        self._procedures = load_procedure_codes()

    async def sync(self, request: Request) -> Response:
        # A 401 happens before anything is recorded: an unauthenticated caller has no
        # agency to attribute the attempt to.
        claims = await self._verifier.verify(request.headers.get("authorization"))
        caller = _caller(claims)
        payload: dict[str, Any] = {}
        try:
            require_scope(claims, SYNC_SCOPE)
            payload = await read_json_object(request)
            return self._accept(caller, payload)
        except ProblemError as exc:
            self._refuse(request, caller, payload, exc)
            raise

    def _accept(self, caller: _Caller, payload: dict[str, Any]) -> Response:
        self._validator.check(payload)
        self._check_semantics(payload)
        _check_agency(caller, payload)
        code, status = str(payload["MaHoSo"]), int(payload["TrangThaiHoSo"])
        # No await between reading the last status and recording the new one, so two
        # syncs of the same dossier cannot interleave on the event loop.
        self._check_transition(code, status)
        sync_id = self._store.record(
            caller.agency_id, caller.client_id, code, status, True, None, payload
        )
        body = {"id": sync_id, "MaHoSo": code, "TrangThaiHoSo": status, "accepted": True}
        return json_response(body)

    def _refuse(
        self,
        request: Request,
        caller: _Caller,
        payload: dict[str, Any],
        exc: ProblemError,
    ) -> None:
        # Store the very document the caller got, so evidence matches what it saw.
        problem = orjson.loads(problem_response(exc, instance=request.url.path).body)
        code = payload.get("MaHoSo")
        self._store.record(
            caller.agency_id,
            caller.client_id,
            code[:_MAX_TEXT_PARAM] if isinstance(code, str) else None,
            _storable_status(payload.get("TrangThaiHoSo")),
            False,
            problem,
            payload,
        )

    def _check_semantics(self, payload: dict[str, Any]) -> None:
        errors = [*_date_errors(payload), *self._procedure_errors(payload)]
        if errors:
            names = ", ".join(e.field for e in errors)
            raise ProblemError(
                422,
                "Invalid request",
                f"StatusSync has invalid fields: {names}.",
                errors=tuple(errors),
                slug="validation",
            )

    def _procedure_errors(self, payload: dict[str, Any]) -> list[FieldError]:
        code = payload["MaTTHC"]
        if code in self._procedures:
            return []
        known = ", ".join(sorted(self._procedures))
        fix = (
            f"use the procedure's code in the national procedure database "
            f"(listed in specs/{PROCEDURES_FILE}); this portal knows {known}"
        )
        return [FieldError("/MaTTHC", f"{code!r} is not a known procedure code", fix)]

    def _check_transition(self, dossier_code: str, status: int) -> None:
        previous = self._store.last_accepted_status(dossier_code)
        if self._lifecycle.is_legal(previous, status):
            return
        allowed = sorted(self._lifecycle.allowed_after(previous))
        error = _transition_error(self._lifecycle.describe, previous, status, allowed)
        raise ProblemError(
            409,
            "Illegal status transition",
            f"Dossier {dossier_code} cannot move to status {status}: {error.message}.",
            errors=(error,),
            slug="illegal-transition",
            extra={"previous_status": previous, "allowed_statuses": allowed},
        )

    async def syncs(self, request: Request) -> Response:
        require_admin(request, self._admin_token)
        query = request.query_params
        records = self._store.records(
            agency_id=_text_param(query, "agency_id"),
            dossier_code=_text_param(query, "dossier_code"),
            after_id=_int_param(query, "after_id", default=0, low=0, high=_INT64_MAX),
            limit=_int_param(query, "limit", default=100, low=1, high=1000),
        )
        return json_response({"records": records})


def _date_errors(payload: dict[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    for name in _DATE_FIELDS:
        if name in payload:
            try:
                parse_dvc(payload[name])
            except ValueError:
                errors.append(FieldError(f"/{name}", f"{payload[name]!r} is not a date", _DATE_FIX))
    if not errors and "NgayHenTra" in payload and payload["NgayHenTra"] < payload["NgayTiepNhan"]:
        # Same fixed-width digits in the same zone: string order is time order.
        errors.append(
            FieldError(
                "/NgayHenTra",
                f"{payload['NgayHenTra']} is before NgayTiepNhan {payload['NgayTiepNhan']}",
                "the due date must be on or after the reception date",
            )
        )
    return errors


def _check_agency(caller: _Caller, payload: dict[str, Any]) -> None:
    if payload["DonViXuLy"] == caller.agency_id:
        return
    raise ProblemError(
        403,
        "Wrong agency",
        f"DonViXuLy is {payload['DonViXuLy']!r} but the token was issued to {caller.agency_id!r}.",
        errors=(
            FieldError(
                "/DonViXuLy",
                "is not the agency the token was issued to",
                f"send DonViXuLy {caller.agency_id!r}, or sync with that agency's own token",
            ),
        ),
        slug="wrong-agency",
    )


def _transition_error(
    describe: Callable[[int], str],
    previous: int | None,
    status: int,
    allowed: list[int],
) -> FieldError:
    listed = ", ".join(describe(s) for s in allowed)
    if previous is None:
        message = f"the first sync of a dossier cannot have status {describe(status)}"
        return FieldError("/TrangThaiHoSo", message, f"start with one of {listed}")
    message = f"cannot move from {describe(previous)} to {describe(status)}"
    if allowed == [previous]:
        fix = f"the dossier is closed at {describe(previous)}; only a re-sync of it is accepted"
    else:
        fix = f"send one of {listed}"
    return FieldError("/TrangThaiHoSo", message, fix)


def _storable_status(value: Any) -> int | None:
    # Refused syncs may carry anything; SQLite INTEGER holds only 64-bit values.
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) <= _INT64_MAX:
        return value
    return None


def _text_param(query: QueryParams, name: str) -> str | None:
    value = query.get(name)
    if value is not None and len(value) > _MAX_TEXT_PARAM:
        raise _bad_param(
            name, f"is {len(value)} characters long", f"send at most {_MAX_TEXT_PARAM} characters"
        )
    return value


def _int_param(query: QueryParams, name: str, *, default: int, low: int, high: int) -> int:
    text = query.get(name)
    if text is None:
        return default
    # Digits only: int() would also accept "+5", " 5" and "5_0".
    if not text.isascii() or not text.isdigit() or len(text) > 19 or not low <= int(text) <= high:
        raise _bad_param(
            name,
            f"{text[:40]!r} is not an integer from {low} to {high}",
            f"send an integer from {low} to {high}, e.g. {name}={low}",
        )
    return int(text)


def _bad_param(name: str, message: str, fix: str) -> ProblemError:
    return ProblemError(
        400,
        "Invalid query parameter",
        f"The query parameter {name} {message}.",
        errors=(FieldError(name, message, fix),),
        slug="invalid-parameter",
    )


def create_app(*, store: PortalStore, verifier: TokenVerifier, admin_token: str) -> Starlette:
    portal = _Portal(store, verifier, admin_token)
    routes = [
        Route("/v1/status-sync", portal.sync, methods=["POST"]),
        Route("/admin/syncs", portal.syncs, methods=["GET"]),
    ]
    return Starlette(routes=routes, exception_handlers=exception_handlers())
