"""The reference agency's inbound API (specs/agency.yaml) for temporary residence.

On a new dossier it answers 202 at once, then verifies the applicant at the population
database and syncs status 2 then 4 to the portal (or 3 when verification fails).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulators.agencies.catalogue import REFERENCE, Behaviour
from simulators.agencies.processing import Processor
from simulators.agencies.store import AgencyStore, body_digest
from simulators.common.clock import parse_dvc
from simulators.common.http import json_response, read_json_object
from simulators.common.oauth_client import TokenClient
from simulators.common.problems import (
    FieldError,
    ProblemError,
    exception_handlers,
    problem_response,
)
from simulators.common.resources import load_yaml_spec
from simulators.common.tokens import TokenVerifier, require_scope
from simulators.common.validation import SchemaValidator
from simulators.identity.credentials import ClientCredentials
from simulators.identity.resources import AGENCY_RESOURCE_PREFIX

__all__ = ["TEMPORARY_RESIDENCE", "AgencyConfig", "create_app"]

TEMPORARY_RESIDENCE = "1.004194"
_DOSSIER_CODE = re.compile(r"^[0-9A-Z.]{3,30}-[0-9]{6}-[0-9]{4}$")


@dataclass(frozen=True)
class AgencyConfig:
    credentials: ClientCredentials
    idp_url: str
    population_url: str
    portal_url: str
    db_path: Path | str
    behaviour: Behaviour = REFERENCE
    procedures: tuple[str, ...] = (TEMPORARY_RESIDENCE,)
    timeout_s: float = 5.0

    @property
    def agency_id(self) -> str:
        return self.credentials.agency_id


def _deadlines() -> dict[str, int]:
    catalogue = load_yaml_spec("procedures.yaml")["procedures"]
    return {p["code"]: int(p["deadline_working_days"]) for p in catalogue}


def _check_dates(body: dict[str, Any]) -> None:
    errors: list[FieldError] = []
    try:
        parse_dvc(body["NgayNopHoSo"])
    except ValueError:
        errors.append(
            FieldError(
                "/NgayNopHoSo",
                "not a real date-time",
                "yyyyMMddHHmmss in Asia/Ho_Chi_Minh, e.g. 20250115143000",
            )
        )
    try:
        datetime.strptime(body["ChuHoSo"]["NgaySinh"], "%Y%m%d")
    except ValueError:
        errors.append(FieldError("/ChuHoSo/NgaySinh", "not a real date", "yyyyMMdd, e.g. 19900131"))
    if errors:
        raise ProblemError(
            422,
            "Invalid request",
            "Some dates are not real dates.",
            errors=tuple(errors),
            slug="validation",
        )


class AgencyApi:
    """Request handlers; one instance per app, holding the pieces the lifespan builds."""

    def __init__(self, config: AgencyConfig) -> None:
        self.config = config
        self.store = AgencyStore(config.db_path)
        self.submission = SchemaValidator("agency.yaml", "DossierSubmission")
        self.verifier = TokenVerifier(
            jwks_url=f"{config.idp_url}/.well-known/jwks.json",
            issuer=config.idp_url,
            audience=AGENCY_RESOURCE_PREFIX + config.agency_id,
            skip_checks=config.behaviour.skipped_token_checks,
        )
        self.processor: Processor | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    async def _authorize(self, request: Request, scope: str) -> None:
        claims = await self.verifier.verify(request.headers.get("authorization"))
        if self.config.behaviour.enforce_scope:
            require_scope(claims, scope)

    async def submit(self, request: Request) -> Response:
        await self._authorize(request, "dossier.submit")
        body = await read_json_object(request)
        request.state.body = body  # only the verbose-errors fault echoes it back
        self.submission.check(body)
        _check_dates(body)
        self._check_procedure(body["MaTTHC"])
        dossier, created = self.store.insert_if_new(body)
        if not created and dossier.digest != body_digest(body):
            raise ProblemError(
                409,
                "Conflict",
                f"Dossier {dossier.code} was already received "
                "with different content; use a new MaHoSo for a new dossier.",
                errors=(FieldError("/MaHoSo", "already used"),),
            )
        if not created and not self.config.behaviour.idempotent_resubmission:
            created = True  # the fault: a resubmission is processed all over again
        if created:
            self._start_processing(dossier.code)
        return json_response(dossier.status_view(), status=202 if created else 200)

    async def status(self, request: Request) -> Response:
        await self._authorize(request, "dossier.read")
        code = request.path_params["dossier_code"]
        if not _DOSSIER_CODE.fullmatch(code):
            raise ProblemError(
                400,
                "Invalid dossier code",
                "Dossier codes look like 000.00.01.H29-240115-0001.",
                errors=(FieldError("dossier_code", "malformed", "<agency id>-<yyMMdd>-<NNNN>"),),
            )
        dossier = self.store.get(code)
        if dossier is None:
            raise ProblemError(404, "Not found", f"No dossier {code} was received here.")
        return json_response(dossier.status_view())

    def _check_procedure(self, code: str) -> None:
        if code not in self.config.procedures:
            raise ProblemError(
                422,
                "Procedure not handled",
                f"This agency handles {', '.join(self.config.procedures)}, not {code}.",
                errors=(
                    FieldError(
                        "/MaTTHC",
                        "procedure not handled here",
                        f"use one of {list(self.config.procedures)}",
                    ),
                ),
            )

    def _start_processing(self, code: str) -> None:
        if self.processor is None:
            return
        task = asyncio.create_task(self.processor.process(code))
        self.tasks.add(task)  # keep a reference so the task is not garbage-collected
        task.add_done_callback(self.tasks.discard)

    @asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        config = self.config
        async with httpx.AsyncClient(timeout=config.timeout_s) as http:
            tokens = TokenClient(
                token_url=f"{config.idp_url}/oauth2/token",
                client_id=config.credentials.client_id,
                key=config.credentials.private_key,
                http=http,
            )
            self.processor = Processor(
                config.agency_id,
                self.store,
                tokens,
                http,
                config.population_url,
                config.portal_url,
                config.behaviour,
                _deadlines(),
            )
            yield
            for task in list(self.tasks):
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
        self.store.close()


async def _verbose_problem(request: Request, exc: Exception) -> Response:
    """The verbose-errors fault: what careless frameworks leak in debug mode."""
    assert isinstance(exc, ProblemError)
    exc.extra["debug"] = {
        "traceback": 'Traceback (most recent call last):\n  File "/srv/agency/app.py", '
        f"line 112, in submit\n{type(exc).__name__}: {exc}",
        "request": getattr(request.state, "body", None),
    }
    exc.headers["X-Powered-By"] = "Starlette/0.37.2 Python/3.11.7"
    return problem_response(exc, instance=request.url.path)


def create_app(config: AgencyConfig) -> Starlette:
    api = AgencyApi(config)
    routes = [
        Route("/dossiers", api.submit, methods=["POST"]),
        Route("/dossiers/{dossier_code}", api.status, methods=["GET"]),
    ]
    handlers = exception_handlers()
    if not config.behaviour.discreet_errors:
        handlers[ProblemError] = _verbose_problem
    return Starlette(routes=routes, exception_handlers=handlers, lifespan=api.lifespan)
