"""Short portal outages the harness switches on per agency, to grade how an agency copes
when the portal cannot take its status syncs (RES-PORTAL-RETRY).

While an agency's outage lasts, its syncs are answered 503 with Retry-After and are not
recorded: the portal was down, it did not refuse them. In memory, and short by design
(at most 60 s): a restarted portal is up.
"""

from __future__ import annotations

import time

from simulators.common.problems import ProblemError

__all__ = ["MAX_OUTAGE_S", "Outages"]

MAX_OUTAGE_S = 60.0


class Outages:
    def __init__(self) -> None:
        self._until: dict[str, float] = {}

    def start(self, agency_id: str, duration_s: float) -> None:
        self._until[agency_id] = time.monotonic() + duration_s

    def end(self, agency_id: str) -> None:
        self._until.pop(agency_id, None)

    def remaining_s(self, agency_id: str) -> float:
        return max(0.0, self._until.get(agency_id, 0.0) - time.monotonic())

    def check(self, agency_id: str) -> None:
        """Raise the 503 the agency gets while its outage lasts."""
        if self.remaining_s(agency_id) > 0:
            raise ProblemError(
                503,
                "Service unavailable",
                "Injected outage: the portal cannot take status syncs right now; retry.",
                slug="injected-outage",
                headers={"Retry-After": "1"},
            )
