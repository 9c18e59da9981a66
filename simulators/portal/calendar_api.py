"""GET /v1/calendar/due-date: the portal's working-day calculator, public and read-only.

[ours] An agency, or the harness (which may not import the simulators), asks the portal
which NgayHenTra it expects for a dossier received at a given moment. The answer comes
from `dossiers.due_date`, the very function the portal applies to a dossier it first
hears of: weekends and Vietnamese public holidays skipped, reception after 15:00 counted
from the next working day (DOMAIN.md §4).
"""

from __future__ import annotations

from datetime import datetime

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response

from simulators.common.clock import parse_dvc
from simulators.common.http import json_response
from simulators.portal.dossiers import due_date
from simulators.portal.params import bad_param, int_param, text_param
from simulators.portal.procedures import Catalogue

__all__ = ["MAX_WORKING_DAYS", "CalendarApi"]

# The holidays package knows Vietnam's lunar holidays for these years; outside them a
# "working day" would silently be any weekday, so the calculator refuses to guess.
_FIRST_YEAR, _LAST_YEAR = 1990, 2100
MAX_WORKING_DAYS = 1000  # bounds the day-by-day walk; no procedure comes near it
_RECEIVED_FIX = "send received=yyyyMMddHHmmss in Asia/Ho_Chi_Minh, e.g. received=20250115143000"


class CalendarApi:
    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue

    async def due_date(self, request: Request) -> Response:
        query = request.query_params
        received = _received(query)
        procedure, days = self._deadline(query)
        return json_response(
            {
                "NgayTiepNhan": query["received"],
                "MaTTHC": procedure,
                "ThoiHanGiaiQuyet": days,
                "NgayHenTra": due_date(received, days),
            }
        )

    def _deadline(self, query: QueryParams) -> tuple[str | None, int]:
        """(procedure code or None, working days) from exactly one of the two parameters."""
        code = text_param(query, "procedure")
        if code is not None and "working_days" in query:
            raise bad_param(
                "working_days",
                "was sent together with procedure",
                "send either procedure (its deadline is used) or working_days, not both",
            )
        if code is None:
            if "working_days" not in query:
                raise bad_param(
                    "procedure",
                    "is missing, and so is working_days",
                    "send procedure=<MaTTHC> (see GET /v1/procedures) or working_days=<n>",
                )
            return None, int_param(query, "working_days", default=0, low=0, high=MAX_WORKING_DAYS)
        procedure = self.catalogue.procedures.get(code)
        if procedure is None:
            raise bad_param(
                "procedure",
                f"{code[:40]!r} is not a known procedure code",
                "use a MaTTHC listed by GET /v1/procedures",
            )
        return procedure.code, procedure.deadline_working_days


def _received(query: QueryParams) -> datetime:
    text = text_param(query, "received")
    if text is None:
        raise bad_param("received", "is missing", _RECEIVED_FIX)
    try:
        moment = parse_dvc(text)
    except ValueError:
        raise bad_param("received", f"{text[:40]!r} is not a real date", _RECEIVED_FIX) from None
    if not _FIRST_YEAR <= moment.year <= _LAST_YEAR:
        raise bad_param(
            "received",
            f"is in {moment.year}",
            f"send a date from {_FIRST_YEAR} to {_LAST_YEAR}: the holiday calendar covers those",
        )
    return moment
