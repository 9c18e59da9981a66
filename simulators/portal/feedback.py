"""Feedback (phản ánh kiến nghị, PAKN): the citizen files it, the agency answers it.

A citizen files feedback about an agency, optionally about one dossier, and gets an answer
deadline of 10 working days. The agency it is addressed to reads its feedback and answers
with its own bearer token (audience the portal, scope `portal.sync`, the same client it
syncs with); no other agency can. The answer appears wherever the citizen tracks the
feedback: its own page and the dossier it is about. Whether it came late is derived from
the two timestamps, never stored, and the 766 index counts it (indicator 5.2).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from simulators.common.clock import add_working_days, format_dvc
from simulators.common.db import Database
from simulators.common.http import json_response, read_json_object
from simulators.common.problems import FieldError, ProblemError
from simulators.common.tokens import TokenVerifier, require_scope
from simulators.common.validation import SchemaValidator
from simulators.portal.params import INT64_MAX, bad_param, int_param, text_param
from simulators.portal.sync import SyncRules

__all__ = ["FEEDBACK_WORKING_DAYS", "FeedbackApi", "dossier_feedback", "feedback_view"]

FEEDBACK_WORKING_DAYS = 10  # [recall] answer time for feedback (PAKN)
ANSWER_SCOPE = "portal.sync"
_STATES = ("open", "answered")


def feedback_view(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    """One feedback as the citizen and the agency see it; QuaHan is derived at `now`."""
    answered = row["answered_at"]
    late = answered > row["due_at"] if answered else format_dvc(now) > row["due_at"]
    return {
        "id": int(row["id"]),
        "DonViXuLy": row["agency_id"],
        "MaHoSo": row["dossier_code"],
        "LoaiPhanAnh": row["kind"],
        "NoiDung": row["content"],
        "NgayTiepNhan": row["received_at"],
        "NgayHenTraLoi": row["due_at"],
        "TrangThai": "answered" if answered else "open",
        "TraLoi": row["answer"],
        "NgayTraLoi": answered,
        "QuaHan": late,
    }


def dossier_feedback(db: Database, dossier_code: str, now: datetime) -> list[dict[str, Any]]:
    """The feedback about one dossier, answers included, for the dossier's tracking view."""
    rows = db.execute("SELECT * FROM feedback WHERE dossier_code = ? ORDER BY id", (dossier_code,))
    return [feedback_view(row, now) for row in rows]


class FeedbackApi:
    def __init__(self, rules: SyncRules, verifier: TokenVerifier) -> None:
        self.rules = rules
        self.db = rules.store.db
        self.verifier = verifier
        self._feedback = SchemaValidator("portal.yaml", "CitizenFeedback")
        self._answer = SchemaValidator("portal.yaml", "FeedbackAnswer")

    # -- the citizen ----------------------------------------------------------------------

    async def file(self, request: Request) -> Response:
        body = await read_json_object(request)
        self._feedback.check(body)
        now = self.rules.clock.now()
        due = format_dvc(add_working_days(now, FEEDBACK_WORKING_DAYS))
        (row,) = self.db.execute(
            "INSERT INTO feedback (agency_id, dossier_code, kind, content, received_at, due_at)"
            " VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            (
                body["DonViXuLy"],
                body.get("MaHoSo"),
                body["LoaiPhanAnh"],
                body["NoiDung"],
                format_dvc(now),
                due,
            ),
        )
        return json_response({"id": row["id"], "NgayHenTraLoi": due}, status=201)

    async def track(self, request: Request) -> Response:
        row = self._row(request.path_params["feedback_id"])
        return json_response(feedback_view(row, self.rules.clock.now()))

    # -- the agency -----------------------------------------------------------------------

    async def inbox(self, request: Request) -> Response:
        agency_id = await self._agency(request)
        query = request.query_params
        state = text_param(query, "state")
        if state not in (None, *_STATES):
            raise bad_param("state", f"is {state[:40]!r}", "use open or answered")
        limit = int_param(query, "limit", default=100, low=1, high=1000)
        after_id = int_param(query, "after_id", default=0, low=0, high=INT64_MAX)
        answered = {None: "", "open": " AND answered_at IS NULL"}.get(
            state, " AND answered_at IS NOT NULL"
        )
        rows = self.db.execute(
            f"SELECT * FROM feedback WHERE agency_id = ? AND id > ?{answered} ORDER BY id LIMIT ?",
            (agency_id, after_id, limit),
        )
        now = self.rules.clock.now()
        return json_response({"feedback": [feedback_view(row, now) for row in rows]})

    async def answer(self, request: Request) -> Response:
        agency_id = await self._agency(request)
        text = request.path_params["feedback_id"]
        body = await read_json_object(request)
        self._answer.check(body)
        with self.rules.store.transaction():
            row = self._row(text)
            _check_owner(row, agency_id)
            if row["answered_at"] is None:
                stamp = format_dvc(self.rules.clock.now())
                self.db.execute(
                    "UPDATE feedback SET answer = ?, answered_at = ? WHERE id = ?",
                    (body["TraLoi"], stamp, row["id"]),
                )
                row = {**row, "answer": body["TraLoi"], "answered_at": stamp}
            elif row["answer"] != body["TraLoi"]:
                raise _already_answered(row)
        return json_response(feedback_view(row, self.rules.clock.now()))

    async def _agency(self, request: Request) -> str:
        """The agency the bearer token was issued to, with the scope to answer."""
        claims = await self.verifier.verify(request.headers.get("authorization"))
        require_scope(claims, ANSWER_SCOPE)
        agency = claims.get("agency_id") or claims.get("client_id") or claims.get("sub")
        return str(agency)

    def _row(self, text: str) -> dict[str, Any]:
        # Digits only, within a 64-bit id: anything else is a malformed path, not a 404.
        if not (text.isascii() and text.isdigit() and len(text) <= 18):
            raise ProblemError(
                400,
                "Invalid path parameter",
                f"The feedback id {text[:30]!r} is not a positive integer.",
                errors=(FieldError("feedback_id", "not an integer", "use the id you were given"),),
                slug="invalid-parameter",
            )
        rows = self.db.execute("SELECT * FROM feedback WHERE id = ?", (int(text),))
        if not rows:
            raise ProblemError(
                404,
                "Not found",
                f"No feedback {text}.",
                errors=(
                    FieldError("feedback_id", "unknown feedback", "use the id you were given"),
                ),
            )
        return rows[0]


def _check_owner(row: dict[str, Any], agency_id: str) -> None:
    if row["agency_id"] == agency_id:
        return
    raise ProblemError(
        403,
        "Wrong agency",
        f"Feedback {row['id']} is addressed to agency {row['agency_id']}, not {agency_id}.",
        errors=(
            FieldError(
                "feedback_id",
                f"is addressed to agency {row['agency_id']}",
                "answer only your own agency's feedback, listed by GET /v1/feedback",
            ),
        ),
        slug="wrong-agency",
    )


def _already_answered(row: dict[str, Any]) -> ProblemError:
    return ProblemError(
        409,
        "Already answered",
        f"Feedback {row['id']} was answered at {row['answered_at']} with another text.",
        errors=(
            FieldError(
                "/TraLoi",
                "differs from the answer already given",
                "an answer is final; send the same text to repeat it",
            ),
        ),
        slug="already-answered",
        extra={"NgayTraLoi": row["answered_at"]},
    )
