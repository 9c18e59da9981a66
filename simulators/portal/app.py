"""The reference portal (specs/portal.yaml, specs/portal-legacy.yaml) as a Starlette app.

Every sync from an authenticated caller is recorded, accepted or refused, with the exact
problem document the caller received: the harness judges agencies from this log.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from joserfc.jwk import ECKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulators.common.admin import require_admin
from simulators.common.http import json_response, read_json_object
from simulators.common.oauth_client import TokenClient
from simulators.common.problems import (
    ProblemError,
    exception_handlers,
    problem_response,
)
from simulators.common.tokens import TokenVerifier, require_scope
from simulators.common.validation import SchemaValidator
from simulators.portal.actions import CitizenActions
from simulators.portal.births import Births
from simulators.portal.calendar_api import CalendarApi
from simulators.portal.citizen import CitizenApi
from simulators.portal.clock import Clock
from simulators.portal.feedback import FeedbackApi
from simulators.portal.groups import GroupApi
from simulators.portal.legacy import DEFAULT_DSTCODE, LegacyAccounts, LegacyAdapter
from simulators.portal.outages import Outages
from simulators.portal.outbox import (
    DeliveryPolicy,
    Outbox,
    OutboxWorker,
    PopulationLink,
    agency_tokens,
    population_tokens,
)
from simulators.portal.params import INT64_MAX, bad_param, int_param, text_param
from simulators.portal.store import PortalStore
from simulators.portal.sync import Caller, SyncRules
from simulators.portal.views import Views

__all__ = ["SYNC_SCOPE", "Delivery", "PopulationAccess", "create_app"]

SYNC_SCOPE = "portal.sync"


@dataclass(frozen=True, slots=True)
class PopulationAccess:
    """The population database, and the portal's civil-status client that calls it."""

    base_url: str
    client_id: str
    key: ECKey


@dataclass(frozen=True, slots=True)
class Delivery:
    """How the portal reaches agencies (its own client at the identity provider) and,
    optionally, the population database (births.py)."""

    token_url: str
    client_id: str
    key: ECKey
    policy: DeliveryPolicy = field(default_factory=DeliveryPolicy)
    population: PopulationAccess | None = None


def _caller(claims: dict[str, Any]) -> Caller:
    agency = claims.get("agency_id") or claims.get("client_id") or claims.get("sub")
    client = claims.get("client_id") or claims.get("sub")
    return Caller(None if agency is None else str(agency), None if client is None else str(client))


def _code_of(payload: dict[str, Any]) -> str | None:
    code = payload.get("MaHoSo")
    return code if isinstance(code, str) and len(code) <= 100 else None


async def _dossier_code(request: Request) -> str | None:
    """The dossier a sync turned away by an outage is about, when its body says so: the
    outage's record is kept per dossier, so other dossiers' syncs do not blur it."""
    try:
        return _code_of(await read_json_object(request))
    except ProblemError:
        return None


class _Portal:
    """Status sync and the admin surface, sharing one store and one set of rules."""

    def __init__(
        self, store: PortalStore, verifier: TokenVerifier, admin_token: str, clock: Clock | None
    ) -> None:
        self._store = store
        self._verifier = verifier
        self._admin_token = admin_token
        self.rules = SyncRules(store, clock=clock)
        self.outbox = Outbox(store.db)
        self._route = SchemaValidator("portal.yaml", "AgencyRoute")
        self._account = SchemaValidator("portal.yaml", "LegacyAccount")
        self._outage = SchemaValidator("portal.yaml", "Outage")
        self.outages = Outages()

    async def sync(self, request: Request) -> Response:
        arrived = time.monotonic()  # before any work, for the outage's timing record
        # A 401 happens before anything is recorded: an unauthenticated caller has no
        # agency to attribute the attempt to.
        claims = await self._verifier.verify(request.headers.get("authorization"))
        caller = _caller(claims)
        agency = caller.agency_id or caller.client_id or ""
        if self.outages.is_down(agency, arrived):
            # An injected outage is not a refusal: nothing goes in the sync log.
            code = await _dossier_code(request)
            await self.outages.hold(agency, arrived)
            self.outages.refuse(agency, code, arrived)
        payload: dict[str, Any] = {}
        try:
            require_scope(claims, SYNC_SCOPE)
            payload = await read_json_object(request)
            self.outages.note_through(agency, _code_of(payload), arrived)
            return json_response(self.rules.apply(caller, payload, channel="rest", expect_new=None))
        except ProblemError as exc:
            # Store the very document the caller got, so evidence matches what it saw.
            problem = orjson.loads(problem_response(exc, instance=request.url.path).body)
            self.rules.refuse(caller, payload, problem, "rest")
            raise

    async def syncs(self, request: Request) -> Response:
        require_admin(request, self._admin_token)
        query = request.query_params
        records = self._store.records(
            agency_id=text_param(query, "agency_id"),
            dossier_code=text_param(query, "dossier_code"),
            after_id=int_param(query, "after_id", default=0, low=0, high=INT64_MAX),
            limit=int_param(query, "limit", default=100, low=1, high=1000),
        )
        return json_response({"records": records})

    async def outage(self, request: Request) -> Response:
        require_admin(request, self._admin_token)
        agency_id = request.path_params["agency_id"][:100]
        if request.method == "DELETE":
            self.outages.end(agency_id)
            return Response(status_code=204)
        if request.method == "GET":
            return json_response(self._outage_record(agency_id))
        body = await read_json_object(request)
        self._outage.check(body)
        self.outages.start(
            agency_id,
            float(body["duration_s"]),
            status=int(body.get("status", 503)),
            retry_after_s=int(body.get("retry_after_s", 1)),
            hold_s=float(body.get("hold_s", 0.0)),
        )
        return json_response(self._outage_record(agency_id))

    def _outage_record(self, agency_id: str) -> dict[str, Any]:
        record = self.outages.record(agency_id)
        if record is None:
            raise ProblemError(
                404,
                "No outage",
                f"No outage was started for agency {agency_id!r} since the portal started; "
                "start one with PUT on this path.",
                slug="no-outage",
            )
        return record

    async def set_route(self, request: Request) -> Response:
        require_admin(request, self._admin_token)
        body = await read_json_object(request)
        self._route.check(body)
        self._store.set_route(body["agency_id"], body["base_url"])
        return json_response(body)

    async def add_legacy_account(self, request: Request) -> Response:
        require_admin(request, self._admin_token)
        body = await read_json_object(request)
        self._account.check(body)
        LegacyAccounts(self._store.db).register(body["username"], body["secret"], body["agency_id"])
        return json_response({"username": body["username"], "agency_id": body["agency_id"]})

    async def outbox_messages(self, request: Request) -> Response:
        require_admin(request, self._admin_token)
        query = request.query_params
        state = text_param(query, "state")
        if state not in (None, "pending", "delivered", "dead"):
            raise bad_param("state", f"is {state[:40]!r}", "use pending, delivered or dead")
        limit = int_param(query, "limit", default=100, low=1, high=1000)
        messages = self.outbox.messages(state, limit)
        return json_response({"counts": self.outbox.counts(), "messages": messages})

    async def requeue(self, request: Request) -> Response:
        require_admin(request, self._admin_token)
        text = request.path_params["message_id"]
        if not (text.isascii() and text.isdigit() and len(text) <= 18) or not self.outbox.requeue(
            int(text)
        ):
            raise ProblemError(
                404, "Not found", f"No dead letter {text[:30]}; see GET /admin/outbox?state=dead."
            )
        return json_response({"id": int(text), "state": "pending"})


def _population_link(
    delivery: Delivery, http: httpx.AsyncClient, births: Births
) -> PopulationLink | None:
    access = delivery.population
    if access is None:
        return None
    # A client of its own, with only justice.civil-status: the agencies' client need not
    # be able to register births.
    client = TokenClient(
        token_url=delivery.token_url, client_id=access.client_id, key=access.key, http=http
    )
    return PopulationLink(access.base_url, population_tokens(client), births.assigned)


def _lifespan(
    portal: _Portal, store: PortalStore, delivery: Delivery | None, births: Births
) -> Any:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if delivery is None:
            yield
            return
        async with httpx.AsyncClient() as http:
            client = TokenClient(
                token_url=delivery.token_url,
                client_id=delivery.client_id,
                key=delivery.key,
                http=http,
            )
            worker = OutboxWorker(
                portal.outbox,
                store.route,
                http,
                agency_tokens(client),
                delivery.policy,
                population=_population_link(delivery, http, births),
            )
            app.state.outbox_worker = worker
            task = asyncio.create_task(worker.run())
            try:
                yield
            finally:
                worker.stop()
                await task

    return lifespan


def create_app(
    *,
    store: PortalStore,
    verifier: TokenVerifier,
    admin_token: str,
    delivery: Delivery | None = None,
    dstcode: str = DEFAULT_DSTCODE,
    clock: Clock | None = None,
) -> Starlette:
    """The portal; with `delivery`, an outbox worker routes citizen dossiers to agencies
    (and birth registrations to the population database, given `delivery.population`).

    `clock` is what every deadline is derived from; tests pass one they can move.
    """
    portal = _Portal(store, verifier, admin_token, clock)
    legacy = LegacyAdapter(LegacyAccounts(store.db), portal.rules, dstcode)
    citizen = CitizenApi(portal.rules, portal.outbox)
    actions = CitizenActions(portal.rules, portal.outbox)
    configured = delivery is not None and delivery.population is not None
    births = Births(store.db, portal.outbox, portal.rules.clock, configured=configured)
    groups = GroupApi(portal.rules, citizen, births)
    feedback = FeedbackApi(portal.rules, verifier)
    views = Views(portal.rules)
    calendar = CalendarApi(portal.rules.catalogue)
    routes = [
        Route("/v1/status-sync", portal.sync, methods=["POST"]),
        Route("/legacy/auth", legacy.auth, methods=["POST"]),
        Route("/legacy/integration", legacy.integration, methods=["POST"]),
        Route("/v1/procedures", views.procedures, methods=["GET"]),
        Route("/v1/procedures/{code}", views.procedure, methods=["GET"]),
        Route("/v1/calendar/due-date", calendar.due_date, methods=["GET"]),
        Route("/v1/index-766", views.index_json, methods=["GET"]),
        Route("/dashboard/766", views.dashboard, methods=["GET"]),
        Route("/v1/citizen/dossiers", citizen.submit, methods=["POST"]),
        Route("/v1/citizen/dossiers/{code}", citizen.track, methods=["GET"]),
        Route("/v1/citizen/dossiers/{code}/rating", citizen.rate, methods=["POST"]),
        Route("/v1/citizen/dossiers/{code}/payment", actions.pay, methods=["POST"]),
        Route("/v1/citizen/dossiers/{code}/supplement", actions.supplement, methods=["POST"]),
        Route("/v1/citizen/dossiers/{code}/withdrawal", actions.withdraw, methods=["POST"]),
        Route("/v1/citizen/feedback", feedback.file, methods=["POST"]),
        Route("/v1/citizen/feedback/{feedback_id}", feedback.track, methods=["GET"]),
        Route("/v1/feedback", feedback.inbox, methods=["GET"]),
        Route("/v1/feedback/{feedback_id}/answer", feedback.answer, methods=["POST"]),
        Route("/v1/citizen/groups", groups.declare, methods=["POST"]),
        Route("/v1/citizen/groups/{code}", groups.track, methods=["GET"]),
        Route("/admin/syncs", portal.syncs, methods=["GET"]),
        Route("/admin/routes", portal.set_route, methods=["POST"]),
        Route(
            "/admin/agencies/{agency_id}/outage", portal.outage, methods=["GET", "PUT", "DELETE"]
        ),
        Route("/admin/legacy-accounts", portal.add_legacy_account, methods=["POST"]),
        Route("/admin/outbox", portal.outbox_messages, methods=["GET"]),
        Route("/admin/outbox/{message_id}/requeue", portal.requeue, methods=["POST"]),
    ]
    return Starlette(
        routes=routes,
        exception_handlers=exception_handlers(),
        lifespan=_lifespan(portal, store, delivery, births),
    )
