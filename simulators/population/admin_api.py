"""The sandbox's control surface (/admin/*, guarded by the admin token): the audit log and
usage, applicants and hard cases, the controllable clock, per-client limits and faults,
purpose registrations, and VNeID consents granted and withdrawn on the citizen's behalf.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulators.common.admin import require_admin
from simulators.common.http import json_response, read_json_object
from simulators.common.problems import ProblemError
from simulators.common.validation import SchemaValidator
from simulators.population import access
from simulators.population.controls import Controls, Faults
from simulators.population.events import PopulationStore

__all__ = ["CONTROLS_SETTING", "HARD_CASES", "AdminApi", "int_param", "saved_controls"]

CONTROLS_SETTING = "controls"

_UINT = re.compile(r"[0-9]{1,19}")
_MAX_INT64 = 9_223_372_036_854_775_807
_IDENTITY = ("pin", "full_name", "date_of_birth", "sex")
HARD_CASES = ("deceased", "newborn", "guardian", "renamed", "superseded", "nfd", "lookalike")
STATUS_CASES = ("absent", "missing")  # kept in their own tables (events.py), not hard_case
_SHORT = 200


def saved_controls(store: PopulationStore) -> Controls:
    """The limits and faults the admin API last saved in this store (none on a new one)."""
    saved = store.setting(CONTROLS_SETTING)
    return Controls.restore(json.loads(saved) if saved else None)


def int_param(raw: str | None, name: str, default: int, low: int, high: int) -> int:
    """A bounded integer query parameter; anything else is a 400 naming the parameter."""
    if raw is None:
        return default
    if not _UINT.fullmatch(raw) or not low <= int(raw) <= high:
        raise access.invalid(
            name,
            f"{raw[:40]!r} is not an integer in {low}–{high}",
            f"e.g. {name}={default}",
            status=400,
        )
    return int(raw)


def _text_param(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    if value is not None and len(value) > _SHORT:
        raise access.invalid(name, f"longer than {_SHORT} characters", status=400)
    return value


class AdminApi:
    def __init__(self, store: PopulationStore, controls: Controls, admin_token: str) -> None:
        self.store, self.controls, self.token = store, controls, admin_token
        self.schemas = {
            n: SchemaValidator("population.yaml", n)
            for n in (
                "ClockChange",
                "RateLimitConfig",
                "FaultConfig",
                "ConsentGrant",
                "PurposeRegistration",
            )
        }

    async def _body(self, request: Request, schema: str) -> dict[str, Any]:
        require_admin(request, self.token)
        body = await read_json_object(request)
        self.schemas[schema].check(body)
        return body

    async def audit(self, request: Request) -> Response:
        require_admin(request, self.token)
        params = request.query_params
        pin = _text_param(request, "pin")
        entries = self.store.audit_entries(
            _text_param(request, "client_id"),
            int_param(params.get("after_id"), "after_id", 0, 0, _MAX_INT64),
            int_param(params.get("limit"), "limit", 100, 1, 1000),
            pin=pin,
            operation=_text_param(request, "operation"),
        )
        return json_response({"entries": entries})

    async def usage(self, request: Request) -> Response:
        require_admin(request, self.token)
        client_id = request.path_params["client_id"]
        usage = self.store.usage(client_id)
        total = sum(n for results in usage.values() for n in results.values())
        return json_response({"client_id": client_id, "total": total, "operations": usage})

    async def sample(self, request: Request) -> Response:
        require_admin(request, self.token)
        count = int_param(request.query_params.get("count"), "count", 1, 1, 1000)
        after = _text_param(request, "after") or ""
        citizens = self.store.sample_adults(count, after=after)
        page: dict[str, Any] = {"citizens": [{k: c[k] for k in _IDENTITY} for c in citizens]}
        if len(citizens) == count:
            page["next"] = citizens[-1]["pin"]
        return json_response(page)

    async def hard_cases(self, request: Request) -> Response:
        require_admin(request, self.token)
        kind = request.path_params["kind"]
        if kind not in (*HARD_CASES, *STATUS_CASES, "unissued"):
            raise access.invalid(
                "kind",
                f"unknown hard case {kind[:40]!r}",
                f"one of: {', '.join((*HARD_CASES, *STATUS_CASES))}, unissued",
                status=404,
            )
        count = int_param(request.query_params.get("count"), "count", 10, 1, 100)
        if kind == "unissued":
            return json_response({"kind": kind, "pins": self.store.unissued_pins(count)})
        if kind in STATUS_CASES:
            return json_response({"kind": kind, "citizens": self.store.status_cases(kind, count)})
        return json_response({"kind": kind, "citizens": self.store.hard_cases(kind, count)})

    async def clock(self, request: Request) -> Response:
        if request.method == "PUT":
            body = await self._body(request, "ClockChange")
            self._move_clock(body)
            self.store.save_clock()
        require_admin(request, self.token)
        clock = self.store.clock
        return json_response({"now": clock.stamp(), "offset_s": clock.offset.total_seconds()})

    def _move_clock(self, body: dict[str, Any]) -> None:
        if len(body) != 1:
            raise access.invalid(
                "/", "send exactly one of now, advance_s, reset", 'e.g. {"advance_s": 86400}'
            )
        if "now" in body:
            try:
                moment = datetime.fromisoformat(body["now"])
            except ValueError:
                raise access.invalid(
                    "/now", "is not an ISO 8601 date-time", "e.g. 2026-01-15T08:00:00+07:00"
                ) from None
            if moment.tzinfo is None:
                raise access.invalid("/now", "has no UTC offset", "add +07:00")
            self.store.clock.set(moment)
        elif "advance_s" in body:
            self.store.clock.advance(timedelta(seconds=body["advance_s"]))
        else:
            self.store.clock.reset()

    async def limits(self, request: Request) -> Response:
        client_id = request.path_params["client_id"]
        if request.method == "DELETE":
            require_admin(request, self.token)
            self.controls.clear_limit(client_id)
            self._save_controls()
            return Response(status_code=204)
        body = await self._body(request, "RateLimitConfig")
        self.controls.set_limit(client_id, body["requests_per_second"], body["burst"])
        self._save_controls()
        return json_response({"client_id": client_id, **self.controls.limits[client_id].public()})

    async def faults(self, request: Request) -> Response:
        client_id = request.path_params["client_id"]
        if request.method == "DELETE":
            require_admin(request, self.token)
            self.controls.clear_faults(client_id)  # lets go the calls they hold
            self._save_controls()
            return Response(status_code=204)
        body = await self._body(request, "FaultConfig")
        duration = body.pop("duration_s", None)
        self.controls.set_faults(client_id, Faults(**body), duration)
        self._save_controls()
        return json_response({"client_id": client_id, **self.controls.faults[client_id].public()})

    def _save_controls(self) -> None:
        # Kept with the data, so a restarted sandbox keeps grading under the same faults.
        self.store.put_setting(CONTROLS_SETTING, json.dumps(self.controls.snapshot()))

    async def registration(self, request: Request) -> Response:
        body = await self._body(request, "PurposeRegistration")
        client_id = request.path_params["client_id"]
        self.store.register_purposes(client_id, body["purposes"])
        return json_response(
            {"client_id": client_id, "purposes": sorted(self.store.registered_purposes(client_id))}
        )

    async def grant_consent(self, request: Request) -> Response:
        body = await self._body(request, "ConsentGrant")
        access.check_pin(body["pin"], "/pin")
        if self.store.get(body["pin"]) is None:
            raise ProblemError(
                404,
                "Citizen not found",
                f"No citizen has the PIN {body['pin']}.",
                slug="citizen-not-found",
            )
        expires = self.store.clock.now() + timedelta(seconds=body["valid_for_s"])
        consent = self.store.grant_consent(
            body["pin"],
            body["client_id"],
            body["purpose"],
            list(dict.fromkeys(body["fields"])),
            expires,
        )
        return json_response(consent, 201)

    async def withdraw_consent(self, request: Request) -> Response:
        require_admin(request, self.token)
        consent = self.store.withdraw_consent(request.path_params["consent_id"])
        if consent is None:
            raise ProblemError(
                404, "Consent not found", "No such consent.", slug="consent-not-found"
            )
        return json_response(consent)

    def routes(self) -> list[Route]:
        return [
            Route("/admin/audit", self.audit, methods=["GET"]),
            Route("/admin/clients/{client_id}/usage", self.usage, methods=["GET"]),
            Route("/admin/clients/{client_id}/rate-limit", self.limits, methods=["PUT", "DELETE"]),
            Route("/admin/clients/{client_id}/faults", self.faults, methods=["PUT", "DELETE"]),
            Route("/admin/clients/{client_id}/purposes", self.registration, methods=["PUT"]),
            Route("/admin/citizens/sample", self.sample, methods=["GET"]),
            Route("/admin/citizens/hard-cases/{kind}", self.hard_cases, methods=["GET"]),
            Route("/admin/clock", self.clock, methods=["GET", "PUT"]),
            Route("/admin/consents", self.grant_consent, methods=["POST"]),
            Route("/admin/consents/{consent_id}/withdraw", self.withdraw_consent, methods=["POST"]),
        ]
