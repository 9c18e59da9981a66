"""The population database's HTTP interface, as specs/population.yaml describes it.

Every access to a citizen under /v1, allowed or refused, lands in the audit log; requests
the contract rejects before a citizen is touched (401, malformed input) do not.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from simulators.common.http import json_response, read_json_object
from simulators.common.problems import ProblemError, exception_handlers
from simulators.common.tokens import TokenVerifier, require_scope
from simulators.common.validation import SchemaValidator
from simulators.population import access
from simulators.population.access import FIELD_SCOPES, PURPOSES
from simulators.population.admin_api import AdminApi, int_param, saved_controls
from simulators.population.controls import Controls
from simulators.population.events import PopulationStore, life_event
from simulators.population.jobs import JobRunner
from simulators.population.matching import normalise_name, verify_answer
from simulators.population.pin import PROVINCE_CODES
from simulators.population.records import CITIZEN_COLUMNS, MISSING_SINCE
from simulators.population.status_api import StatusApi

__all__ = ["FIELD_SCOPES", "create_app", "normalise_name"]

_MAX_INT64 = 9_223_372_036_854_775_807
_CLAIMS_CACHE_SIZE = 10_000


class PopulationApi:
    """The /v1 handlers, bound to one store, token verifier and set of controls."""

    def __init__(self, store: PopulationStore, verifier: TokenVerifier, controls: Controls) -> None:
        self.store = store
        self.verifier = verifier
        self.controls = controls
        self._claims: dict[str, dict[str, Any]] = {}
        self.schemas = {
            name: SchemaValidator("population.yaml", name)
            for name in ("VerifyRequest", "BirthRegistration", "DeathRecord", "ResidenceChange")
        }

    async def claims(self, authorization: str | None) -> dict[str, Any]:
        """The token's claims; a token seen before skips the signature check (ES256 costs
        more than the rest of a verify) but never its expiry."""
        cached = self._claims.get(authorization or "")
        if cached is not None and cached["exp"] + self.verifier.leeway_s >= time.time():
            return cached
        claims = await self.verifier.verify(authorization)
        if not isinstance(claims.get("exp"), int | float) or self.verifier.skip_checks:
            return claims  # only fully checked tokens with an expiry are remembered
        if len(self._claims) >= _CLAIMS_CACHE_SIZE:
            self._claims.pop(next(iter(self._claims)))  # oldest first: dicts keep order
        self._claims[str(authorization)] = claims
        return claims

    async def client(
        self, request: Request, scope: str | None = None
    ) -> tuple[dict[str, Any], str]:
        """The token's claims and client id, after faults and the rate limit."""
        claims = await self.claims(request.headers.get("authorization"))
        client_id = str(claims.get("client_id") or claims.get("sub") or "")
        await self.controls.gate(client_id)
        if scope is not None:
            require_scope(claims, scope)
        return claims, client_id

    async def body(self, request: Request, schema: str) -> dict[str, Any]:
        body = await read_json_object(request)
        self.schemas[schema].check(body)
        return body

    async def verify(self, request: Request) -> Response:
        claims, client_id = await self.client(request)
        try:
            require_scope(claims, "citizen.verify")
        except ProblemError:
            self.store.record_access(client_id, "verify", None, [], "refused")
            raise
        body = await read_json_object(request)
        if not _plainly_valid_verify(body):  # the full validator names every bad field
            self.schemas["VerifyRequest"].check(body)
        access.check_pin(body["pin"], "/pin")
        born = access.check_date(body["date_of_birth"], "/date_of_birth")
        citizen, superseded = self.store.resolve(body["pin"], _VERIFY_COLUMNS)
        if not superseded:
            access.check_pin_matches_birth(body["pin"], born, None, "/pin")
        answer = verify_answer(citizen, body, superseded=superseded)
        fields = [f for f in ("full_name", "date_of_birth", "sex", "cmnd") if f in body]
        self.store.record_access(client_id, "verify", body["pin"], fields, answer["result"])
        return json_response(answer)

    async def lookup(self, request: Request) -> Response:
        claims, client_id = await self.client(request)
        pin = request.path_params["pin"]
        access.check_pin(pin, "pin")
        params = request.query_params
        fields = access.requested_fields(params.get("fields"))
        grant = self._grant(claims, client_id, pin, fields, params)
        citizen, _ = self.store.resolve(pin, _lookup_columns(fields))
        self._audit(client_id, "lookup", pin, fields, "ok" if citizen else "not_found", grant)
        if citizen is None:
            raise _not_found(pin)
        if "temporary_absence" in fields:  # derived from the clock, read only when asked
            citizen["temporary_absence"] = self.store.open_absence(citizen["pin"])
        return json_response({"pin": citizen["pin"], **{f: citizen[f] for f in fields}})

    def _grant(
        self, claims: dict[str, Any], client_id: str, pin: str, fields: list[str], params: Any
    ) -> dict[str, str | None]:
        """Scopes, then a consent or a registered purpose with a legal basis; every refusal
        is audited with what was asked."""
        grant: dict[str, str | None] = {
            "purpose": _bounded(params.get("purpose")),
            "legal_basis": _bounded(params.get("legal_basis")),
            "consent_id": _bounded(params.get("consent_id")),
        }
        try:
            missing = access.missing_scopes(claims, fields)
            if missing:
                raise access.insufficient_scope(missing)
            self._allowed(client_id, pin, fields, grant)
        except ProblemError:
            # Every refusal after authentication is recorded with what was asked — a
            # missing purpose (422) as much as over-asking (403) — so the harness can
            # judge how an agency uses the database from the log alone.
            self._audit(client_id, "lookup", pin, fields, "refused", grant)
            raise
        return grant

    def _allowed(self, client_id: str, pin: str, fields: list[str], grant: dict[str, Any]) -> None:
        if grant["consent_id"]:
            consent = self.store.consent(grant["consent_id"])
            _check_consent(consent, client_id, pin)
            assert consent is not None
            grant["purpose"] = consent["purpose"]
            problem = access.over_asking(fields, frozenset(consent["fields"]), "this consent")
        else:
            registered = self.store.registered_purposes(client_id)
            purpose = access.check_purpose(grant["purpose"], grant["legal_basis"], registered)
            problem = access.over_asking(fields, PURPOSES[purpose], f"the purpose {purpose}")
        if problem is not None:
            raise problem

    def _audit(
        self,
        client_id: str,
        op: str,
        pin: str,
        fields: list[str],
        result: str,
        grant: dict[str, Any],
    ) -> None:
        self.store.record_access(client_id, op, pin, fields, result, **grant)

    async def household(self, request: Request) -> Response:
        claims, client_id = await self.client(request)
        pin = request.path_params["pin"]
        access.check_pin(pin, "pin")
        fields = ["household_id", "relationship_to_head", "full_name", "date_of_birth"]
        grant = self._grant(claims, client_id, pin, fields, request.query_params)
        citizen, _ = self.store.resolve(pin)
        if citizen is None or not citizen["household_id"]:
            self._audit(client_id, "household", pin, fields, "not_found", grant)
            raise _not_found(pin, "no citizen or no registered household")
        members = self.store.household(citizen["household_id"])
        self._audit(client_id, "household", pin, fields, "ok", grant)
        return json_response(
            {
                "household_id": citizen["household_id"],
                "address": citizen["permanent_address"],
                "members": [{k: m[k] for k in ("pin", *fields[1:])} for m in members],
            }
        )

    async def consent(self, request: Request) -> Response:
        _, client_id = await self.client(request)
        consent_id = request.path_params["consent_id"]
        consent = self.store.consent(consent_id)
        if consent is None or consent["client_id"] != client_id:
            raise ProblemError(
                404,
                "Consent not found",
                f"No consent {consent_id[:64]} for this client.",
                slug="consent-not-found",
            )
        return json_response(consent)

    async def births(self, request: Request) -> Response:
        _, client_id = await self.client(request, "justice.civil-status")
        body = await self.body(request, "BirthRegistration")
        _check_birth(body, self.store.clock.today().isoformat())
        key = request.headers.get("idempotency-key")
        if key is not None and not 1 <= len(key) <= 200:
            raise access.invalid(
                "Idempotency-Key", "must be 1–200 characters", "e.g. a UUID", status=400
            )
        answer, new = life_event(lambda: self.store.register_birth(client_id, body, key))
        return json_response(answer, 201 if new else 200)

    async def deaths(self, request: Request) -> Response:
        _, client_id = await self.client(request, "justice.civil-status")
        body = await self.body(request, "DeathRecord")
        access.check_pin(body["pin"], "/pin")
        access.check_date(body["date_of_death"], "/date_of_death")
        if body["date_of_death"] > self.store.clock.today().isoformat():
            raise access.invalid("/date_of_death", "is in the future", "the date of death")
        life_event(lambda: self.store.record_death(client_id, body["pin"], body["date_of_death"]))
        return json_response({"pin": body["pin"], "date_of_death": body["date_of_death"]})

    async def residence(self, request: Request) -> Response:
        _, client_id = await self.client(request, "police.residence")
        body = await self.body(request, "ResidenceChange")
        access.check_pin(body["pin"], "/pin")
        _check_ward(body["ward"])
        row = life_event(lambda: self.store.change_residence(client_id, body["pin"], body))
        return json_response(
            {k: row[k] for k in ("pin", "current_address", "current_ward", "household_id")}
        )

    async def purposes(self, request: Request) -> Response:
        """The purpose catalogue: what each purpose may release, and the caller's own."""
        _, client_id = await self.client(request)
        registered = sorted(self.store.registered_purposes(client_id))
        catalogue = {name: sorted(fields) for name, fields in PURPOSES.items()}
        return json_response({"purposes": catalogue, "registered": registered})

    async def changes(self, request: Request) -> Response:
        await self.client(request, "citizen.changes")
        after = int_param(request.query_params.get("after"), "after", 0, 0, _MAX_INT64)
        limit = int_param(request.query_params.get("limit"), "limit", 100, 1, 1000)
        changes = self.store.changes(after, limit)
        return json_response({"changes": changes, "next": changes[-1]["seq"] if changes else after})


_VERIFY_COLUMNS = (
    f"pin, full_name, former_name, date_of_birth, sex, cmnd, date_of_death, {MISSING_SINCE}"
)
_VERIFY_KEYS = frozenset({"pin", "full_name", "date_of_birth", "sex", "cmnd"})
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_CMND = re.compile(r"[0-9]{9}")


def _plainly_valid_verify(body: dict[str, Any]) -> bool:
    """True only for a body VerifyRequest surely accepts: the common case skips jsonschema,
    which cost more than the rest of a verify. Anything unusual goes to the validator."""
    pin, name, born = body.get("pin"), body.get("full_name"), body.get("date_of_birth")
    return (
        body.keys() <= _VERIFY_KEYS
        and isinstance(pin, str)
        and len(pin) == 12
        and pin.isascii()
        and pin.isdigit()
        and isinstance(name, str)
        and 1 <= len(name) <= 100
        and isinstance(born, str)
        and _DATE.fullmatch(born) is not None
        and body.get("sex", "male") in ("male", "female")
        and (
            isinstance(body.get("cmnd", ""), str)
            and _CMND.fullmatch(body.get("cmnd", "000000000")) is not None
        )
    )


def _lookup_columns(fields: list[str]) -> str:
    """The PIN and the columns behind the requested fields (checked names, never raw
    input): reading all of a citizen's columns cost 12 µs more per lookup than the few
    asked for. `temporary_absence` is not a column; the lookup derives it afterwards."""
    columns = ["pin"]
    for field in fields:
        if field == "missing_since":
            columns.append(MISSING_SINCE)
        elif field in CITIZEN_COLUMNS:
            columns.append(field)
    return ", ".join(columns)


def _bounded(value: str | None, limit: int = 200) -> str | None:
    if value is not None and len(value) > limit:
        raise access.invalid("query", f"a parameter is longer than {limit} characters", status=400)
    return value


def _check_birth(body: dict[str, Any], today: str) -> None:
    born = access.check_date(body["date_of_birth"], "/date_of_birth")
    if body["date_of_birth"] > today or born.year < 1900:
        raise access.invalid(
            "/date_of_birth", "is in the future or before 1900", "the day the child was born"
        )
    if body["birth_registration_province"] not in PROVINCE_CODES:
        raise access.invalid(
            "/birth_registration_province",
            "is not one of the 63 legacy codes",
            "see specs/data/provinces-legacy-63.csv, e.g. 001",
        )
    for parent in ("father_pin", "mother_pin"):
        if parent in body:
            access.check_pin(body[parent], f"/{parent}")


def _check_consent(consent: dict[str, Any] | None, client_id: str, pin: str) -> None:
    if consent is None or consent["client_id"] != client_id or consent["pin"] != pin:
        raise access.refused(
            "consent-invalid",
            "No such consent",
            "consent_id",
            "no consent of this citizen for this client",
            "ask the citizen to consent in VNeID",
        )
    if consent["status"] != "active":
        raise access.refused(
            f"consent-{consent['status']}",
            f"Consent {consent['status']}",
            "consent_id",
            f"the consent is {consent['status']}",
            "ask the citizen for a new consent",
        )


def _check_ward(ward: str) -> None:
    from simulators.population.reference import ward_name

    try:
        ward_name(ward)
    except ValueError:
        raise access.invalid(
            "/ward",
            f"{ward!r} is not a 2025 ward or commune code",
            "a 5-digit code from the vietnam-provinces list, e.g. 00070",
        ) from None


def _not_found(pin: str, why: str = "") -> ProblemError:
    detail = f"No citizen has the PIN {pin}." if not why else f"{pin}: {why}."
    return ProblemError(404, "Citizen not found", detail, slug="citizen-not-found")


def create_app(
    *,
    store: PopulationStore,
    verifier: TokenVerifier,
    admin_token: str,
    controls: Controls | None = None,
) -> Starlette:
    """The simulator as an ASGI app; the caller owns the store and closes it."""
    controls = controls or saved_controls(store)
    api = PopulationApi(store, verifier, controls)
    jobs = JobRunner(store, api)
    status = StatusApi(store, api)
    admin = AdminApi(store, controls, admin_token)
    routes = [
        Route("/v1/citizens/verify", api.verify, methods=["POST"]),
        Route("/v1/citizens/{pin}", api.lookup, methods=["GET"]),
        Route("/v1/citizens/{pin}/household", api.household, methods=["GET"]),
        Route("/v1/consents/{consent_id}", api.consent, methods=["GET"]),
        Route("/v1/births", api.births, methods=["POST"]),
        Route("/v1/deaths", api.deaths, methods=["POST"]),
        Route("/v1/residence-changes", api.residence, methods=["POST"]),
        Route("/v1/changes", api.changes, methods=["GET"]),
        Route("/v1/purposes", api.purposes, methods=["GET"]),
        *jobs.routes(),
        *status.routes(),
        *admin.routes(),
    ]

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        jobs.stop()  # running jobs end at their next batch

    handlers = {**exception_handlers(), ClientDisconnect: _on_client_gone}
    return Starlette(routes=routes, exception_handlers=handlers, lifespan=lifespan)


async def _on_client_gone(request: Request, exc: Exception) -> Response:
    # The caller gave up before we read its body — e.g. its time limit ran out while an
    # injected hang held the call (RES-SLOW-DEPENDENCY). Nobody is left to answer, and
    # this is no server error to log; 499 is what proxies write for it.
    return Response(status_code=499)
