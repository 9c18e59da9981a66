"""The citizen side: submit a dossier, track it (with any feedback about it), rate the
service. Feedback itself is feedback.py.

A submission is acknowledged only after the dossier and its outbox message are committed
together, so a crash right after the answer loses nothing (outbox.py delivers it). The
portal stands in for VNeID single sign-on, which it does not model ([ours]): citizen
calls carry no token in the sandbox.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from simulators.common.clock import VN_TZ, format_dvc
from simulators.common.http import json_response, read_json_object
from simulators.common.problems import FieldError, ProblemError
from simulators.common.validation import SchemaValidator
from simulators.portal.dossiers import DossierState, due_date, effective_due, is_overdue
from simulators.portal.feedback import dossier_feedback
from simulators.portal.outbox import Outbox
from simulators.portal.procedures import Procedure
from simulators.portal.sync import SyncRules

__all__ = ["CitizenApi", "idempotency_key"]

_KEY_MAX = 100


class CitizenApi:
    def __init__(self, rules: SyncRules, outbox: Outbox) -> None:
        self.rules = rules
        self.store = rules.store
        self.outbox = outbox
        self._submission = SchemaValidator("portal.yaml", "CitizenSubmission")
        self._rating = SchemaValidator("portal.yaml", "CitizenRating")

    async def submit(self, request: Request) -> Response:
        key = idempotency_key(request)
        body = await read_json_object(request)
        self._submission.check(body)
        procedure = self._procedure(body["MaTTHC"])
        agency_id = body["DonViXuLy"]
        if self.store.route(agency_id) is None:
            raise _field_problem(
                "/DonViXuLy",
                f"agency {agency_id} is not connected to the portal",
                "pick an agency registered with the portal (its routes are set by the sandbox)",
            )
        with self.store.transaction():
            existing = self.store.code_for_key(key) if key else None
            if existing is not None:
                return json_response(self._view(existing), status=200)
            code = self.intake(body, procedure, agency_id, key)
        return json_response(self._view(code), status=201)

    def intake(
        self, body: dict[str, Any], procedure: Procedure, agency_id: str, key: str | None
    ) -> str:
        """Record a dossier and queue its delivery (call inside a transaction); its code."""
        now = self.rules.clock.now()
        code = self.next_code(agency_id, now)
        applicant = body["ChuHoSo"]
        state = DossierState(
            code=code,
            agency_id=agency_id,
            procedure=procedure.code,
            status=1,
            received_at=format_dvc(now),
            due_at=due_date(now, procedure.deadline_working_days),
            applicant_pin=applicant["SoDinhDanh"],
            has_fee=procedure.fee_total_vnd > 0,
        )
        # The message is the agency contract's DossierSubmission (specs/agency.yaml).
        message: dict[str, Any] = {
            "MaHoSo": code,
            "MaTTHC": procedure.code,
            "NgayNopHoSo": state.received_at,
            "KenhNop": 2,
            "ChuHoSo": applicant,
            **{k: body[k] for k in ("TrichYeuHoSo", "DuLieuHoSo") if k in body},
        }
        self.store.save_dossier(state, submission=message, idempotency_key=key)
        self.outbox.enqueue(code, agency_id, "submit", message)
        return code

    def next_code(self, prefix: str, now: datetime, field: str = "/DonViXuLy") -> str:
        """The next `<prefix>-<yyMMdd>-<NNNN>` code (in the caller's transaction).

        The format holds 9,999 codes per prefix and day: past that, a 503 naming `field`
        that says when codes are free again — the format's limit, not an outage.
        """
        try:
            return self.store.next_dossier_code(prefix, now.strftime("%y%m%d"))
        except OverflowError:
            midnight = datetime.combine(now.date() + timedelta(days=1), time(0), VN_TZ)
            raise ProblemError(
                503,
                "Dossier codes exhausted",
                f"{prefix} has used all 9,999 codes of today.",
                errors=(
                    FieldError(
                        field,
                        f"{prefix} has no dossier code left today",
                        "submit again after midnight (Vietnam time)",
                    ),
                ),
                slug="codes-exhausted",
                headers={"Retry-After": str(max(int((midnight - now).total_seconds()), 1))},
            ) from None

    def _procedure(self, code: str) -> Procedure:
        procedure = self.rules.catalogue.get(code)
        if procedure is None:
            raise _field_problem(
                "/MaTTHC", f"{code!r} is not a known procedure", "see GET /v1/procedures"
            )
        return procedure

    async def track(self, request: Request) -> Response:
        return json_response(self._view(request.path_params["code"]))

    def _view(self, code: str) -> dict[str, Any]:
        state = self.store.dossier(code)
        if state is None:
            raise ProblemError(
                404,
                "Not found",
                f"No dossier {code[:60]}.",
                errors=(FieldError("code", "unknown dossier", "use the MaHoSo you received"),),
            )
        now = self.rules.clock.now()
        return {
            "MaHoSo": state.code,
            "MaTTHC": state.procedure,
            "DonViXuLy": state.agency_id,
            "TrangThaiHoSo": state.status,
            "TenTrangThai": self.rules.lifecycle.statuses.get(state.status, {}).get("vi", ""),
            "NgayTiepNhan": state.received_at,
            "NgayHenTra": state.due_at,
            "NgayHenTraHieuLuc": format_dvc(effective_due(state, now)),
            "QuaHan": is_overdue(state, now),
            "PhanAnh": dossier_feedback(self.store.db, state.code, now),
        }

    async def rate(self, request: Request) -> Response:
        code = request.path_params["code"]
        body = await read_json_object(request)
        self._rating.check(body)
        state = self.store.dossier(code)
        if state is None or state.finished_at is None:
            raise ProblemError(
                409,
                "Not rateable yet",
                f"Dossier {code[:60]} has no result yet; rate it once it is processed.",
                errors=(FieldError("code", "not finished", "wait for status 9 or 10"),),
                slug="not-rateable",
            )
        self.store.db.execute(
            "INSERT INTO ratings (dossier_code, agency_id, level, rated_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (dossier_code) DO UPDATE SET level = excluded.level,"
            " rated_at = excluded.rated_at",
            (code, state.agency_id, body["MucDo"], format_dvc(self.rules.clock.now())),
        )
        return json_response({"MaHoSo": code, "MucDo": body["MucDo"]})


def idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is not None and not (0 < len(key) <= _KEY_MAX and key.isprintable()):
        raise _field_problem(
            "Idempotency-Key", "is empty, too long or not printable", "send 1–100 printable chars"
        )
    return key


def _field_problem(field: str, message: str, fix: str) -> ProblemError:
    return ProblemError(
        422,
        "Invalid request",
        f"{field} {message}.",
        errors=(FieldError(field, message, fix),),
        slug="validation",
    )
