"""Short portal outages the harness switches on per agency, to grade how an agency copes
when the portal cannot take its status syncs (RES-PORTAL-RETRY, RES-RETRY-AFTER).

While an agency's outage lasts, its syncs are answered 503 (down) or 429 (throttled) with
Retry-After, or — status 504, a hang (RES-SLOW-PORTAL) — held `hold_s` seconds and then
answered 504 as a gateway that gave up would, and are not put in the sync log: the portal
did not judge them. Each outage
keeps a record of *when* it turned a request away and when each dossier it turned away
came back after the end, so the harness can measure whether the agency waited as long as
Retry-After said. Times are offsets in seconds from the outage's start on this process's
monotonic clock (immune to wall-clock steps). In memory, and short by design (at most
60 s): a restarted portal is up and has forgotten its outages.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, NoReturn

from simulators.common.problems import ProblemError

__all__ = ["MAX_OUTAGE_S", "MAX_RECORDED", "Outages"]

MAX_OUTAGE_S = 60.0
# A hostile agency may hammer the portal during an outage: the record keeps the first
# requests (enough to judge any back-off) and only counts the rest.
MAX_RECORDED = 1000
MAX_HOLD_S = 30.0
HANG = 504  # the status of a hang: held, then a gateway timeout

_TITLES = {429: "Too many requests", 503: "Service unavailable", HANG: "Gateway timeout"}
_DETAILS = {
    429: "Injected throttling: the portal takes no status syncs from this agency right now",
    503: "Injected outage: the portal cannot take status syncs right now",
    HANG: "Injected hang: the portal did not answer this status sync in time",
}
_HOLD_STEP_S = 0.05


@dataclass(slots=True)
class _Outage:
    status: int
    retry_after_s: int
    duration_s: float
    started: float  # time.monotonic()
    until: float
    hold_s: float = 0.0  # a hang (504): how long each sync is held before the answer
    refused: list[tuple[float, str | None]] = field(default_factory=list)
    refused_total: int = 0
    waiting: set[str | None] = field(default_factory=set)  # refused, not back yet
    let_through: list[tuple[float, str | None]] = field(default_factory=list)

    def offset(self, at: float) -> float:
        return round(at - self.started, 4)

    def public(self, agency_id: str) -> dict[str, Any]:
        return {
            "agency_id": agency_id,
            "status": self.status,
            "retry_after_s": self.retry_after_s,
            "hold_s": self.hold_s,
            "duration_s": self.duration_s,
            "remaining_s": max(0.0, self.until - time.monotonic()),
            "refused_total": self.refused_total,
            "refused": [{"at_s": at, "dossier_code": code} for at, code in self.refused],
            "let_through": [{"at_s": at, "dossier_code": code} for at, code in self.let_through],
        }


class Outages:
    def __init__(self) -> None:
        self._outages: dict[str, _Outage] = {}

    def start(
        self,
        agency_id: str,
        duration_s: float,
        status: int = 503,
        retry_after_s: int = 1,
        hold_s: float = 0.0,
    ) -> None:
        """A new outage replaces the agency's last one and its record (and lets go any
        sync the last one still held)."""
        self.end(agency_id)
        now = time.monotonic()
        self._outages[agency_id] = _Outage(
            status, retry_after_s, duration_s, started=now, until=now + duration_s, hold_s=hold_s
        )

    def end(self, agency_id: str) -> None:
        """End the outage now, letting go the syncs a hang holds; its record stays
        readable until the next one starts."""
        outage = self._outages.get(agency_id)
        if outage is not None:
            outage.until = min(outage.until, time.monotonic())
            outage.hold_s = 0.0

    async def hold(self, agency_id: str, at: float) -> None:
        """In a hang, keep a sync that arrived at `at` waiting `hold_s` (or until the
        outage is ended or replaced); other outages answer at once."""
        outage = self._outages[agency_id]
        if outage.status != HANG:
            return
        while (
            self._outages.get(agency_id) is outage
            and (left := at + outage.hold_s - time.monotonic()) > 0
        ):
            await asyncio.sleep(min(left, _HOLD_STEP_S))

    def remaining_s(self, agency_id: str) -> float:
        outage = self._outages.get(agency_id)
        return 0.0 if outage is None else max(0.0, outage.until - time.monotonic())

    def is_down(self, agency_id: str, at: float) -> bool:
        outage = self._outages.get(agency_id)
        return outage is not None and at < outage.until

    def refuse(self, agency_id: str, dossier_code: str | None, at: float) -> NoReturn:
        """Record the refusal of a request that arrived at `at`, then raise its answer."""
        outage = self._outages[agency_id]
        outage.refused_total += 1
        if len(outage.refused) < MAX_RECORDED:
            outage.refused.append((outage.offset(at), dossier_code))
            outage.waiting.add(dossier_code)
        if outage.status == HANG:  # a gateway that gave up says nothing of when to return
            raise ProblemError(HANG, _TITLES[HANG], f"{_DETAILS[HANG]}.", slug="injected-hang")
        raise ProblemError(
            outage.status,
            _TITLES[outage.status],
            f"{_DETAILS[outage.status]}; retry after {outage.retry_after_s} s.",
            slug="injected-outage",
            headers={"Retry-After": str(outage.retry_after_s)},
        )

    def note_through(self, agency_id: str, dossier_code: str | None, at: float) -> None:
        """After the outage: record the first request of each dossier it turned away."""
        outage = self._outages.get(agency_id)
        if outage is None or dossier_code not in outage.waiting:
            return
        outage.waiting.discard(dossier_code)
        outage.let_through.append((outage.offset(at), dossier_code))

    def record(self, agency_id: str) -> dict[str, Any] | None:
        """The agency's last outage and what it saw, or None if it never had one."""
        outage = self._outages.get(agency_id)
        return None if outage is None else outage.public(agency_id)
