"""The reference agency's inbound API (specs/agency.yaml) for temporary residence.

On a new dossier it answers 202 at once, then verifies the applicant at the population
database and syncs status 2 then 4 to the portal (or 3 when verification fails; 5 or 6
when the form data asks for a supplement or an online payment, see actions.py). The
citizen's payment, supplement and withdrawal move the dossier at once and are synced in
the background.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from simulators.agencies.actions import (
    IN_PROCESS,
    PAYMENT_REQUESTED,
    SUPPLEMENT_REQUESTED,
    WITHDRAWN,
    fees_by_procedure,
    idempotency_key,
    status_conflict,
    withdrawable,
)
from simulators.agencies.catalogue import REFERENCE, Behaviour
from simulators.agencies.processing import REFERENCE_PROCEDURES, Processor
from simulators.agencies.ratelimit import DEFAULT_RATE_LIMIT, RateLimit, RateLimiter
from simulators.agencies.store import Action, AgencyStore, Dossier, body_digest
from simulators.agencies.strict import strict_middleware
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
    # Temporary residence and every group member, so `lienthong agency run` takes what the
    # portal's groups send too (processing.REFERENCE_PROCEDURES).
    procedures: tuple[str, ...] = REFERENCE_PROCEDURES
    timeout_s: float = 5.0
    pki_dir: Path | None = None  # the sandbox PKI, for the strict profile (strict.py)
    rate_limit: RateLimit | None = DEFAULT_RATE_LIMIT  # per client; None: no limit

    @property
    def agency_id(self) -> str:
        return self.credentials.agency_id


def _deadlines() -> dict[str, int]:
    catalogue = load_yaml_spec("procedures.yaml")["procedures"]
    return {p["code"]: int(p["deadline_working_days"]) for p in catalogue}


def _timestamp_errors(body: dict[str, Any], name: str) -> list[FieldError]:
    try:
        parse_dvc(body[name])
    except ValueError:
        fix = "yyyyMMddHHmmss in Asia/Ho_Chi_Minh, e.g. 20250115143000"
        return [FieldError(f"/{name}", "not a real date-time", fix)]
    return []


def _invalid_dates(errors: list[FieldError]) -> ProblemError:
    return ProblemError(
        422,
        "Invalid request",
        "Some dates are not real dates.",
        errors=tuple(errors),
        slug="validation",
    )


def _check_timestamp(body: dict[str, Any], name: str) -> None:
    errors = _timestamp_errors(body, name)
    if errors:
        raise _invalid_dates(errors)


def _check_dates(body: dict[str, Any]) -> None:
    errors = _timestamp_errors(body, "NgayNopHoSo")
    try:
        datetime.strptime(body["ChuHoSo"]["NgaySinh"], "%Y%m%d")
    except ValueError:
        errors.append(FieldError("/ChuHoSo/NgaySinh", "not a real date", "yyyyMMdd, e.g. 19900131"))
    if errors:
        raise _invalid_dates(errors)


def _dossier_code(request: Request) -> str:
    code: str = request.path_params["dossier_code"]
    if not _DOSSIER_CODE.fullmatch(code):
        raise ProblemError(
            400,
            "Invalid dossier code",
            "Dossier codes look like 000.00.01.H29-240115-0001.",
            errors=(FieldError("dossier_code", "malformed", "<agency id>-<yyMMdd>-<NNNN>"),),
        )
    return code


def _repeat_conflict(what: str, key: str) -> ProblemError:
    return ProblemError(
        409,
        "Conflict",
        f"This {what} was already received with different content.",
        errors=(FieldError(key, "already used", f"use a new {key} for a new {what}"),),
    )


# The submission fields the agency parses on receipt (the store's key, the procedure,
# the dates) and those processing hands on to the population database as they are.
_FIELDS_PARSED = (("MaHoSo",), ("MaTTHC",), ("NgayNopHoSo",), ("ChuHoSo", "NgaySinh"))
_FIELDS_PASSED_ON = (("ChuHoSo", "SoDinhDanh"), ("ChuHoSo", "HoVaTen"))


def _field(body: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = body
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _check_fields_read(body: dict[str, Any]) -> None:
    """The accepts-invalid-dossiers fault: hand-written validation of what the code reads,
    so nothing crashes, and nothing else of the contract (patterns, types and lengths of
    what it passes on, enums, unknown fields) — the way an agency that never compiled the
    schema validates."""
    errors = [
        FieldError("/" + "/".join(path), "missing or not text", "send it as a JSON string")
        for path in _FIELDS_PARSED
        if not isinstance(_field(body, path), str)
    ]
    errors += [
        FieldError("/" + "/".join(path), "missing", "send the applicant's details")
        for path in _FIELDS_PASSED_ON
        if _field(body, path) is None
    ]
    if not errors and not _DOSSIER_CODE.fullmatch(body["MaHoSo"]):
        errors.append(FieldError("/MaHoSo", "malformed", "<agency id>-<yyMMdd>-<NNNN>"))
    if not isinstance(body.get("DuLieuHoSo", {}), dict):
        errors.append(FieldError("/DuLieuHoSo", "not an object", "send the form data as an object"))
    if errors:
        raise ProblemError(
            422, "Invalid request", "Some fields are missing or malformed.", errors=tuple(errors)
        )


def _family_and_given(full_name: str) -> tuple[str, str]:
    """The crashes-on-one-word-names fault: a name split that takes two words for granted
    and so raises (an unhandled ValueError, a 500) on a one-word name."""
    family, *_, given = full_name.split()
    return family, given


class _FrameworkNotFound(Exception):
    """The undocumented-answers fault: a 404 left to the framework's default answer."""


async def _framework_not_found(request: Request, exc: Exception) -> Response:
    return JSONResponse({"detail": "Not Found"}, status_code=404)


class AgencyApi:
    """Request handlers; one instance per app, holding the pieces the lifespan builds."""

    def __init__(self, config: AgencyConfig) -> None:
        self.config = config
        self.store = AgencyStore(config.db_path)
        self.submission = SchemaValidator("agency.yaml", "DossierSubmission")
        self.payment = SchemaValidator("agency.yaml", "Payment")
        self.supplement = SchemaValidator("agency.yaml", "Supplement")
        self.withdrawal = SchemaValidator("agency.yaml", "Withdrawal")
        self.verifier = TokenVerifier(
            jwks_url=f"{config.idp_url}/.well-known/jwks.json",
            issuer=config.idp_url,
            audience=AGENCY_RESOURCE_PREFIX + config.agency_id,
            skip_checks=config.behaviour.skipped_token_checks,
        )
        self.processor: Processor | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        self.limiter = _limiter(config)

    async def _authorize(self, request: Request, scope: str) -> None:
        claims = await self.verifier.verify(request.headers.get("authorization"))
        if self.limiter is not None:  # per client, so one caller's burst costs no other
            self.limiter.admit(str(claims.get("client_id") or claims.get("sub")))
        if self.config.behaviour.enforce_scope:
            require_scope(claims, scope)

    async def submit(self, request: Request) -> Response:
        await self._authorize(request, "dossier.submit")
        if self.config.behaviour.validate_submissions:  # the fault ignores what it does not use
            idempotency_key(request)  # MaHoSo identifies the dossier; the key is only checked
        body = await read_json_object(request)
        request.state.body = body  # only the verbose-errors fault echoes it back
        self._check_submission(body)
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
        return json_response(self._dossier(_dossier_code(request)).status_view())

    async def procedures(self, request: Request) -> Response:
        """GET /procedures: what this agency takes dossiers for (the harness's scope)."""
        await self._authorize(request, "dossier.read")
        return json_response({"DanhSachMaTTHC": list(self.config.procedures)})

    def _dossier(self, code: str) -> Dossier:
        dossier = self.store.get(code)
        if dossier is None:
            if not self.config.behaviour.problem_not_found:
                raise _FrameworkNotFound  # the fault: the framework's default 404
            raise ProblemError(404, "Not found", f"No dossier {code} was received here.")
        return dossier

    def _check_submission(self, body: dict[str, Any]) -> None:
        if self.config.behaviour.validate_submissions:
            self.submission.check(body)
        else:
            _check_fields_read(body)  # the accepts-invalid-dossiers fault
        if not self.config.behaviour.any_applicant_name:
            _family_and_given(body["ChuHoSo"]["HoVaTen"])  # the crashes-on-one-word-names fault

    async def _action(
        self, request: Request, validator: SchemaValidator
    ) -> tuple[Dossier, dict[str, Any], str | None]:
        """Checks every citizen action shares: token, code, key, body; then the dossier."""
        await self._authorize(request, "dossier.submit")
        code = _dossier_code(request)
        key = idempotency_key(request)
        body = await read_json_object(request)
        request.state.body = body
        validator.check(body)
        return self._dossier(code), body, key

    async def pay(self, request: Request) -> Response:
        dossier, body, _ = await self._action(request, self.payment)
        _check_timestamp(body, "NgayThanhToan")
        action = Action("payment", body["MaGiaoDich"], dossier.code, body_digest(body))
        repeated = self._repeated(action, "payment", "MaGiaoDich")
        if repeated is not None:
            return repeated
        allowed = frozenset({PAYMENT_REQUESTED})
        if not self.config.behaviour.lock_withdrawn:
            allowed |= {WITHDRAWN}  # the fault: the payment platform's word is taken blindly
        if dossier.status not in allowed:
            raise status_conflict(dossier.code, dossier.status, allowed, "a payment")
        self._check_amount(dossier, body["SoTien"])
        return self._apply(dossier, allowed, action, "a payment")

    async def supplement_documents(self, request: Request) -> Response:
        dossier, body, key = await self._action(request, self.supplement)
        _check_timestamp(body, "NgayBoSung")
        digest = body_digest(body)
        action = Action("supplement", key or f"{dossier.code}:{digest}", dossier.code, digest)
        repeated = self._repeated(action, "supplement", "Idempotency-Key")
        if repeated is not None:
            return repeated
        allowed = frozenset({SUPPLEMENT_REQUESTED})
        if dossier.status not in allowed:
            raise status_conflict(dossier.code, dossier.status, allowed, "a supplement")
        return self._apply(dossier, allowed, action, "a supplement")

    async def withdraw(self, request: Request) -> Response:
        dossier, body, _ = await self._action(request, self.withdrawal)
        if dossier.status == WITHDRAWN:
            return json_response(dossier.status_view())  # a repeat: already withdrawn
        action = Action("withdrawal", dossier.code, dossier.code, body_digest(body))
        allowed = withdrawable()
        if dossier.status not in allowed:
            raise status_conflict(dossier.code, dossier.status, allowed, "a withdrawal")
        return self._apply(dossier, allowed, action, "a withdrawal")

    def _repeated(self, action: Action, what: str, key_name: str) -> Response | None:
        """200 with the current status for a repeat of `action`; 409 for a reused key."""
        known = self.store.action(action.kind, action.key)
        if known is None:
            return None
        if known.dossier_code != action.dossier_code or known.digest != action.digest:
            raise _repeat_conflict(what, key_name)
        return json_response(self._dossier(action.dossier_code).status_view())

    def _check_amount(self, dossier: Dossier, paid: int) -> None:
        due = sum(fee.amount_vnd for fee in fees_by_procedure().get(dossier.procedure_code, ()))
        if paid == due:
            return
        raise ProblemError(
            422,
            "Invalid request",
            f"SoTien is {paid} but the fee requested for dossier {dossier.code} is {due} VND.",
            errors=(FieldError("/SoTien", "not the amount requested", f"pay exactly {due}"),),
            slug="validation",
        )

    def _apply(
        self, dossier: Dossier, allowed: frozenset[int], action: Action, what: str
    ) -> Response:
        # A payment or a supplement resumes processing (4); the processor moves on from there.
        status = WITHDRAWN if action.kind == "withdrawal" else IN_PROCESS
        if self.processor is None or not self.processor.apply(
            dossier.code, allowed, status, action
        ):
            # Another request moved the dossier between our read and the write.
            current = self._dossier(dossier.code).status
            raise status_conflict(dossier.code, current, allowed, what)
        self._start(self.processor.sync_moved(dossier.code, status, dossier.status))
        return json_response(self._dossier(dossier.code).status_view(), status=202)

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
        self._start(self.processor.process(code))

    def _start(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
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
                fees_by_procedure(),
            )
            yield
            for task in list(self.tasks):
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
        self.store.close()


def _limiter(config: AgencyConfig) -> RateLimiter | None:
    if config.rate_limit is None or not config.behaviour.limit_rate:
        return None
    return RateLimiter(config.rate_limit, status=429 if config.behaviour.limit_with_429 else 503)


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
        Route("/dossiers/{dossier_code}/payments", api.pay, methods=["POST"]),
        Route("/dossiers/{dossier_code}/supplements", api.supplement_documents, methods=["POST"]),
        Route("/dossiers/{dossier_code}/withdrawal", api.withdraw, methods=["POST"]),
        Route("/procedures", api.procedures, methods=["GET"]),
    ]
    handlers = exception_handlers()
    if not config.behaviour.discreet_errors:
        handlers[ProblemError] = _verbose_problem
    if not config.behaviour.problem_not_found:
        handlers[_FrameworkNotFound] = _framework_not_found
    return Starlette(
        routes=routes,
        exception_handlers=handlers,
        lifespan=api.lifespan,
        middleware=strict_middleware(config.behaviour, config.pki_dir),
    )
