"""Temporary absence and disappearance over HTTP (specs/population.yaml).

The police record that a citizen leaves their commune for a while (temporary absence,
scope police.residence) and that they came back; civil status records a court's
declaration that a person is missing, and its revocation when they reappear (scope
justice.civil-status). Each write lands in the change feed; lookups show an open absence
as `temporary_absence` and a declaration as `missing_since`, and a matching verification
of a missing person says `status: missing`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulators.common.http import json_response, read_json_object
from simulators.common.validation import SchemaValidator
from simulators.population import access
from simulators.population.events import PopulationStore, life_event

if TYPE_CHECKING:
    from simulators.population.app import PopulationApi

__all__ = ["StatusApi"]

_POLICE = "police.residence"
_JUSTICE = "justice.civil-status"
_MAX_ID = 9_223_372_036_854_775_807


class StatusApi:
    def __init__(self, store: PopulationStore, api: PopulationApi) -> None:
        self.store, self.api = store, api
        self.schemas = {
            name: SchemaValidator("population.yaml", name)
            for name in ("TemporaryAbsence", "AbsenceReturn", "Disappearance", "Reappearance")
        }

    async def _body(self, request: Request, scope: str, schema: str) -> tuple[str, dict[str, Any]]:
        _, client_id = await self.api.client(request, scope)
        body = await read_json_object(request)
        self.schemas[schema].check(body)
        return client_id, body

    def _not_after_today(self, body: dict[str, Any], field: str) -> None:
        access.check_date(body[field], f"/{field}")
        if body[field] > self.store.clock.today().isoformat():
            raise access.invalid(f"/{field}", "is in the future", "a date on or before today")

    async def declare_absence(self, request: Request) -> Response:
        client_id, body = await self._body(request, _POLICE, "TemporaryAbsence")
        access.check_pin(body["pin"], "/pin")
        access.check_date(body["departed_on"], "/departed_on")
        access.check_date(body["returns_on"], "/returns_on")
        absence = life_event(lambda: self.store.declare_absence(client_id, body))
        return json_response(absence, 201, {"Location": f"/v1/temporary-absences/{absence['id']}"})

    async def absence(self, request: Request) -> Response:
        await self.api.client(request, _POLICE)
        absence = self.store.absence(_absence_id(request))
        if absence is None:
            raise access.invalid(
                "absence_id", "no such temporary absence", "an id from the 201", status=404
            )
        return json_response(absence)

    async def record_return(self, request: Request) -> Response:
        client_id, body = await self._body(request, _POLICE, "AbsenceReturn")
        self._not_after_today(body, "returned_on")
        absence_id = _absence_id(request)
        absence = life_event(
            lambda: self.store.record_return(client_id, absence_id, body["returned_on"])
        )
        return json_response(absence)

    async def declare_missing(self, request: Request) -> Response:
        client_id, body = await self._body(request, _JUSTICE, "Disappearance")
        access.check_pin(body["pin"], "/pin")
        self._not_after_today(body, "declared_on")
        pin, declared_on = body["pin"], body["declared_on"]
        life_event(
            lambda: self.store.declare_missing(client_id, pin, declared_on, body["decision_ref"])
        )
        return json_response({"pin": pin, "missing_since": declared_on}, 201)

    async def revoke_missing(self, request: Request) -> Response:
        client_id, body = await self._body(request, _JUSTICE, "Reappearance")
        pin = request.path_params["pin"]
        access.check_pin(pin, "pin")
        self._not_after_today(body, "revoked_on")
        declared = life_event(
            lambda: self.store.revoke_missing(
                client_id, pin, body["revoked_on"], body["decision_ref"]
            )
        )
        return json_response({"pin": pin, "missing_since": None, "was_missing_since": declared})

    def routes(self) -> list[Route]:
        return [
            Route("/v1/temporary-absences", self.declare_absence, methods=["POST"]),
            Route("/v1/temporary-absences/{absence_id}", self.absence, methods=["GET"]),
            Route(
                "/v1/temporary-absences/{absence_id}/return", self.record_return, methods=["POST"]
            ),
            Route("/v1/disappearances", self.declare_missing, methods=["POST"]),
            Route("/v1/disappearances/{pin}/revocation", self.revoke_missing, methods=["POST"]),
        ]


def _absence_id(request: Request) -> int:
    raw = request.path_params["absence_id"]
    if not (raw.isascii() and raw.isdigit() and 0 < int(raw) <= _MAX_ID):
        raise access.invalid(
            "absence_id",
            f"{raw[:40]!r} is not a positive integer",
            "an id from the 201",
            status=400,
        )
    return int(raw)
