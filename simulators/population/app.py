"""The population database's HTTP interface, as specs/population.yaml describes it.

Every access under /v1, allowed or refused, lands in the audit log; requests the contract
rejects before a citizen is touched (401, malformed input) do not.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulators.common.admin import require_admin
from simulators.common.http import json_response, read_json_object
from simulators.common.problems import FieldError, ProblemError, exception_handlers
from simulators.common.tokens import TokenVerifier, require_scope
from simulators.common.validation import SchemaValidator
from simulators.population.pin import InvalidPin, decode_pin
from simulators.population.store import PopulationStore

__all__ = ["FIELD_SCOPES", "create_app", "normalise_name"]

# Which scope releases which field of a citizen's record (the spec's description).
FIELD_SCOPES: dict[str, str] = {
    "full_name": "citizen.read.identity",
    "date_of_birth": "citizen.read.identity",
    "sex": "citizen.read.identity",
    "birth_registration_province": "citizen.read.residence",
    "permanent_address": "citizen.read.residence",
    "household_id": "citizen.read.family",
    "relationship_to_head": "citizen.read.family",
    "father_pin": "citizen.read.family",
    "mother_pin": "citizen.read.family",
    "spouse_pin": "citizen.read.family",
}
_PIN_FIX = (
    "12 digits PPP C YY RRRRRR: a legacy province code (specs/data/provinces-legacy-63.csv), "
    "a century/sex digit 0-5, two year digits, six serial digits; e.g. 001090000001"
)
_UINT = re.compile(r"[0-9]{1,19}")
_FIELDS_MAX_LENGTH = 500
_CLIENT_ID_MAX_LENGTH = 200
_MAX_INT64 = 9_223_372_036_854_775_807
_IDENTITY = ("pin", "full_name", "date_of_birth", "sex")


def normalise_name(name: str) -> str:
    """The form names are compared in: NFC, case-folded, white space runs collapsed."""
    return " ".join(unicodedata.normalize("NFC", name).casefold().split())


def _invalid(field: str, message: str, fix: str = "", *, status: int = 422) -> ProblemError:
    return ProblemError(
        status,
        "Invalid request",
        f"{field}: {message}.",
        errors=(FieldError(field, message, fix),),
        slug="validation",
    )


def _check_pin(pin: str, field: str) -> None:
    try:
        decode_pin(pin)
    except InvalidPin as exc:
        raise _invalid(field, str(exc), _PIN_FIX) from None


class _PopulationApi:
    """The handlers, bound to one store, one token verifier and one admin token."""

    def __init__(self, store: PopulationStore, verifier: TokenVerifier, admin_token: str) -> None:
        self.store = store
        self.verifier = verifier
        self.admin_token = admin_token
        self.verify_schema = SchemaValidator("population.yaml", "VerifyRequest")

    async def _client(self, request: Request) -> tuple[dict[str, Any], str]:
        claims = await self.verifier.verify(request.headers.get("authorization"))
        return claims, str(claims.get("client_id") or claims.get("sub") or "")

    async def verify(self, request: Request) -> Response:
        claims, client_id = await self._client(request)
        try:
            require_scope(claims, "citizen.verify")
        except ProblemError:
            self.store.record_access(client_id, "verify", None, [], "refused")
            raise
        body = await read_json_object(request)
        self.verify_schema.check(body)
        _check_pin(body["pin"], "/pin")
        _check_date(body["date_of_birth"], "/date_of_birth")
        answer = _verify_answer(self.store.get(body["pin"]), body)
        fields = [f for f in ("full_name", "date_of_birth") if f in body]
        self.store.record_access(client_id, "verify", body["pin"], fields, answer["result"])
        return json_response(answer)

    async def lookup(self, request: Request) -> Response:
        claims, client_id = await self._client(request)
        pin = request.path_params["pin"]
        _check_pin(pin, "pin")
        fields = _requested_fields(request.query_params.get("fields"))
        missing = _missing_scope(claims, fields)
        if missing:
            self.store.record_access(client_id, "lookup", pin, fields, "refused")
            raise _insufficient_scope(missing)
        citizen = self.store.get(pin)
        self.store.record_access(client_id, "lookup", pin, fields, "ok" if citizen else "not_found")
        if citizen is None:
            raise ProblemError(
                404, "Citizen not found", f"No citizen has the PIN {pin}.", slug="citizen-not-found"
            )
        return json_response({"pin": pin, **{f: citizen[f] for f in fields}})

    async def audit(self, request: Request) -> Response:
        require_admin(request, self.admin_token)
        params = request.query_params
        client_id = params.get("client_id")
        if client_id is not None and len(client_id) > _CLIENT_ID_MAX_LENGTH:
            raise _invalid(
                "client_id", f"longer than {_CLIENT_ID_MAX_LENGTH} characters", status=400
            )
        after_id = _int_param(params.get("after_id"), "after_id", 0, 0, _MAX_INT64)
        limit = _int_param(params.get("limit"), "limit", 100, 1, 1000)
        entries = self.store.audit_entries(client_id, after_id, limit)
        return json_response({"entries": entries})

    async def sample(self, request: Request) -> Response:
        require_admin(request, self.admin_token)
        count = _int_param(request.query_params.get("count"), "count", 1, 1, 100)
        citizens = self.store.sample_adults(count)
        return json_response({"citizens": [{k: c[k] for k in _IDENTITY} for c in citizens]})


def _check_date(text: str, field: str) -> None:
    # The schema's pattern lets 2023-02-30 through; the calendar does not.
    try:
        date.fromisoformat(text)
    except ValueError:
        raise _invalid(
            field, f"{text!r} is not a calendar date", "YYYY-MM-DD, e.g. 1990-05-17"
        ) from None


def _verify_answer(citizen: dict[str, Any] | None, body: dict[str, Any]) -> dict[str, Any]:
    """Per-field match results only; nothing from the record itself is released."""
    if citizen is None:
        return {"result": "not_found"}
    fields = {
        "full_name": normalise_name(body["full_name"]) == normalise_name(citizen["full_name"]),
        "date_of_birth": body["date_of_birth"] == citizen["date_of_birth"],
    }
    result = "match" if all(fields.values()) else "mismatch"
    return {
        "result": result,
        "fields": {k: "match" if v else "mismatch" for k, v in fields.items()},
    }


def _requested_fields(raw: str | None) -> list[str]:
    """The `fields` query parameter as a list without duplicates, in the caller's order."""
    allowed = ", ".join(FIELD_SCOPES)
    if raw is None or not raw.strip():
        raise _invalid("fields", "is required", f"comma-separated names from: {allowed}")
    if len(raw) > _FIELDS_MAX_LENGTH:
        raise _invalid("fields", f"longer than {_FIELDS_MAX_LENGTH} characters")
    names = list(dict.fromkeys(n.strip() for n in raw.split(",") if n.strip()))
    unknown = [n for n in names if n not in FIELD_SCOPES]
    if unknown:
        raise _invalid("fields", f"unknown field(s) {', '.join(unknown)}", f"use: {allowed}")
    return names


def _missing_scope(claims: dict[str, Any], fields: list[str]) -> dict[str, str]:
    granted = set(str(claims.get("scope", "")).split())
    return {f: FIELD_SCOPES[f] for f in fields if FIELD_SCOPES[f] not in granted}


def _insufficient_scope(missing: dict[str, str]) -> ProblemError:
    scopes = sorted(set(missing.values()))
    errors = tuple(
        FieldError(f, f"needs the scope {s}", f"request {s}") for f, s in missing.items()
    )
    return ProblemError(
        403,
        "Insufficient scope",
        f"Fields {', '.join(missing)} need the scope(s) {', '.join(scopes)}.",
        errors=errors,
        slug="insufficient-scope",
        headers={
            "WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{" ".join(scopes)}"'
        },
    )


def _int_param(raw: str | None, name: str, default: int, low: int, high: int) -> int:
    """A bounded integer query parameter; anything else is a 400 naming the parameter."""
    if raw is None:
        return default
    if not _UINT.fullmatch(raw) or not low <= int(raw) <= high:
        raise _invalid(
            name, f"{raw!r} is not an integer in {low}–{high}", f"e.g. {name}={default}", status=400
        )
    return int(raw)


def create_app(*, store: PopulationStore, verifier: TokenVerifier, admin_token: str) -> Starlette:
    """The simulator as an ASGI app; the caller owns the store and closes it."""
    api = _PopulationApi(store, verifier, admin_token)
    routes = [
        Route("/v1/citizens/verify", api.verify, methods=["POST"]),
        Route("/v1/citizens/{pin}", api.lookup, methods=["GET"]),
        Route("/admin/audit", api.audit, methods=["GET"]),
        Route("/admin/citizens/sample", api.sample, methods=["GET"]),
    ]
    return Starlette(routes=routes, exception_handlers=exception_handlers())
