"""The durable outbox: every dossier the portal acknowledges reaches its agency.

A citizen's dossier and its outbox message are written in one transaction before the
portal answers, so an acknowledged dossier survives a crash. A worker delivers pending
messages at least once, with exponential backoff and jitter; the agency suppresses
duplicates by `Idempotency-Key` (and by MaHoSo, specs/agency.yaml). Messages the agency
refuses for good, or that exhaust their attempts, move to a dead-letter list an operator
can read and requeue — never silently dropped.

Most messages go to an agency's inbound API. A message whose `agency_id` is
`POPULATION_TARGET` goes to the population database instead (the birth group's PIN,
births.py), and its answer is handed to the `PopulationLink`'s handler in the transaction
that marks it delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from simulators.common.clock import format_dvc, now_vn
from simulators.common.db import Database
from simulators.common.oauth_client import TokenClient, TokenRequestError
from simulators.identity.resources import AGENCY_RESOURCE_PREFIX, POPULATION

__all__ = [
    "POPULATION_TARGET",
    "DeliveryPolicy",
    "Outbox",
    "OutboxWorker",
    "PopulationLink",
    "agency_tokens",
    "population_tokens",
]

log = logging.getLogger(__name__)

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"
# Answers worth retrying: the agency may recover. Any other 4xx is its final word.
_RETRYABLE = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    max_attempts: int = 8
    base_delay_s: float = 0.5
    max_delay_s: float = 60.0
    timeout_s: float = 5.0
    batch: int = 20
    poll_interval_s: float = 0.2

    def delay(self, attempts: int) -> float:
        """Full-jitter exponential backoff: spreads retries of many messages apart."""
        ceiling = min(self.max_delay_s, self.base_delay_s * 2 ** (attempts - 1))
        return random.uniform(ceiling / 2, ceiling)


class Outbox:
    """The outbox table; callers enqueue inside the transaction that creates the dossier."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def enqueue(
        self,
        dossier_code: str,
        agency_id: str,
        kind: str,
        body: dict[str, Any],
        *,
        key: str | None = None,
    ) -> bool:
        """Queue one message; False when a message with this key was queued before.

        The key is stable across retries and restarts: the agency sees one key per message.
        """
        row = (dossier_code, agency_id, kind, key or f"{kind}:{dossier_code}")
        inserted = self.db.execute_rowcount(
            "INSERT INTO outbox (dossier_code, agency_id, kind, idempotency_key, body, state,"
            " attempts, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, 0, 0)"
            " ON CONFLICT (idempotency_key) DO NOTHING",
            (*row, orjson.dumps(body).decode(), PENDING),
        )
        return inserted == 1

    def due(self, limit: int) -> list[dict[str, Any]]:
        # A dossier's messages go in the order they were queued: a withdrawal never
        # overtakes the submission it withdraws, even while that one is being retried.
        return self.db.execute(
            "SELECT * FROM outbox WHERE state = ? AND next_attempt_at <= ?"
            " AND NOT EXISTS (SELECT 1 FROM outbox AS earlier"
            " WHERE earlier.dossier_code = outbox.dossier_code AND earlier.id < outbox.id"
            " AND earlier.state = ?)"
            " ORDER BY next_attempt_at, id LIMIT ?",
            (PENDING, time.time(), PENDING, limit),
        )

    def delivered(self, message_id: int) -> None:
        self.db.execute(
            "UPDATE outbox SET state = ?, delivered_at = ?, attempts = attempts + 1,"
            " last_error = NULL WHERE id = ?",
            (DELIVERED, format_dvc(now_vn()), message_id),
        )

    def failed(self, message: dict[str, Any], error: str, *, retry_in: float | None) -> None:
        """Schedule a retry in `retry_in` seconds, or dead-letter it (None)."""
        state = PENDING if retry_in is not None else DEAD
        self.db.execute(
            "UPDATE outbox SET state = ?, attempts = attempts + 1, next_attempt_at = ?,"
            " last_error = ? WHERE id = ?",
            (state, time.time() + (retry_in or 0.0), error[:500], message["id"]),
        )

    def message(self, key: str) -> dict[str, Any] | None:
        """The message queued under `key`, in the OutboxMessage shape; None if none was."""
        rows = self.db.execute("SELECT * FROM outbox WHERE idempotency_key = ?", (key,))
        return _public(rows[0]) if rows else None

    def requeue(self, message_id: int) -> bool:
        """Give a dead letter a fresh set of attempts; False when there is no such letter."""
        count = self.db.execute_rowcount(
            "UPDATE outbox SET state = ?, attempts = 0, next_attempt_at = 0"
            " WHERE id = ? AND state = ?",
            (PENDING, message_id, DEAD),
        )
        return count == 1

    def messages(self, state: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        sql = (
            "SELECT * FROM outbox" + (" WHERE state = ?" if state else "") + " ORDER BY id LIMIT ?"
        )
        rows = self.db.execute(sql, (state, limit) if state else (limit,))
        return [_public(row) for row in rows]

    def counts(self) -> dict[str, int]:
        rows = self.db.execute("SELECT state, count(*) AS n FROM outbox GROUP BY state")
        return {PENDING: 0, DELIVERED: 0, DEAD: 0} | {r["state"]: int(r["n"]) for r in rows}


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "MaHoSo": row["dossier_code"],
        "agency_id": row["agency_id"],
        "kind": row["kind"],
        "idempotency_key": row["idempotency_key"],
        "state": row["state"],
        "attempts": row["attempts"],
        "last_error": row["last_error"],
        "delivered_at": row["delivered_at"],
    }


# Where each kind of message goes in the agency contract (specs/agency.yaml).
_AGENCY_PATHS = {
    "submit": "/dossiers",
    "payment": "/dossiers/{code}/payments",
    "supplement": "/dossiers/{code}/supplements",
    "withdrawal": "/dossiers/{code}/withdrawal",
}

# Messages for the population database carry this instead of an agency id.
POPULATION_TARGET = "population"
# kind → (path, scope) at the population database (specs/population.yaml).
_POPULATION_OPERATIONS = {"birth": ("/v1/births", "justice.civil-status")}

RouteLookup = Callable[[str], str | None]
TokenSource = Callable[[str], Awaitable[str]]
# (message, the population database's JSON answer); raise ValueError to dead-letter it.
AnswerHandler = Callable[[dict[str, Any], dict[str, Any]], None]


@dataclass(frozen=True, slots=True)
class PopulationLink:
    """Where the portal reaches the population database, as whom, and who reads answers."""

    base_url: str
    tokens: TokenSource  # scope → bearer token
    on_answer: AnswerHandler


class OutboxWorker:
    """Delivers due messages until stopped; one worker per portal process."""

    def __init__(
        self,
        outbox: Outbox,
        routes: RouteLookup,
        http: httpx.AsyncClient,
        tokens: TokenSource,
        policy: DeliveryPolicy = DeliveryPolicy(),
        *,
        population: PopulationLink | None = None,
    ) -> None:
        self.outbox = outbox
        self.routes = routes
        self.http = http
        self.tokens = tokens
        self.policy = policy
        self.population = population
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        while not self._stopping.is_set():
            sent = await self.drain_once()
            if not sent:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self.policy.poll_interval_s)

    def stop(self) -> None:
        self._stopping.set()

    async def drain_once(self) -> int:
        """Try every due message once; the number tried."""
        messages = self.outbox.due(self.policy.batch)
        await asyncio.gather(*(self._deliver(m) for m in messages))
        return len(messages)

    async def _deliver(self, message: dict[str, Any]) -> None:
        try:
            response = await self._send(message)
        except (httpx.HTTPError, TokenRequestError, _NoRoute) as exc:
            self._retry_or_bury(message, f"{type(exc).__name__}: {exc}")
            return
        if response.status_code < 300:
            self._accepted(message, response)
        elif response.status_code in _RETRYABLE:
            self._retry_or_bury(message, f"HTTP {response.status_code}: {response.text[:200]}")
        else:
            log.warning("agency refused %s: %s", message["idempotency_key"], response.text[:200])
            self.outbox.failed(
                message, f"HTTP {response.status_code}: {response.text[:300]}", retry_in=None
            )

    def _accepted(self, message: dict[str, Any], response: httpx.Response) -> None:
        if message["agency_id"] != POPULATION_TARGET or self.population is None:
            self.outbox.delivered(message["id"])
            return
        try:
            answer = response.json()
            with self.outbox.db.transaction():
                self.population.on_answer(message, answer if isinstance(answer, dict) else {})
                self.outbox.delivered(message["id"])
        except ValueError as exc:
            # Never retried: the population database acted, and a second POST /v1/births
            # would register the child twice. The dead letter shows what came back.
            log.warning("unusable answer to %s: %s", message["idempotency_key"], exc)
            self.outbox.failed(message, f"answer unusable: {exc}", retry_in=None)

    async def _send(self, message: dict[str, Any]) -> httpx.Response:
        url, token = await self._target(message)
        return await self.http.post(
            url,
            content=message["body"],
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "Idempotency-Key": message["idempotency_key"],
            },
            timeout=self.policy.timeout_s,
        )

    async def _target(self, message: dict[str, Any]) -> tuple[str, str]:
        """The URL to post the message to, and the bearer token to post it with."""
        if message["agency_id"] == POPULATION_TARGET:
            return await self._population_target(message)
        base_url = self.routes(message["agency_id"])
        if base_url is None:
            raise _NoRoute(f"no endpoint registered for agency {message['agency_id']}")
        token = await self.tokens(message["agency_id"])
        path = _AGENCY_PATHS[message["kind"]].format(code=message["dossier_code"])
        return f"{base_url.rstrip('/')}{path}", token

    async def _population_target(self, message: dict[str, Any]) -> tuple[str, str]:
        if self.population is None:
            raise _NoRoute("this portal has no population database configured")
        path, scope = _POPULATION_OPERATIONS[message["kind"]]
        token = await self.population.tokens(scope)
        return f"{self.population.base_url.rstrip('/')}{path}", token

    def _retry_or_bury(self, message: dict[str, Any], error: str) -> None:
        attempts = int(message["attempts"]) + 1
        if attempts >= self.policy.max_attempts:
            log.warning("dead letter %s after %d attempts: %s", message["id"], attempts, error)
            self.outbox.failed(message, error, retry_in=None)
        else:
            self.outbox.failed(message, error, retry_in=self.policy.delay(attempts))


class _NoRoute(Exception):
    """No endpoint for the message's target yet; retried, it may be registered later."""


def agency_tokens(client: TokenClient) -> TokenSource:
    """Tokens for an agency's inbound API, as the portal's registered client."""

    async def token(agency_id: str) -> str:
        return await client.token(AGENCY_RESOURCE_PREFIX + agency_id, "dossier.submit")

    return token


def population_tokens(client: TokenClient) -> TokenSource:
    """Tokens for the population database, as the portal's civil-status client."""

    async def token(scope: str) -> str:
        return await client.token(POPULATION, scope)

    return token
