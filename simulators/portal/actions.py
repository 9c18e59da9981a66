"""What a citizen does to a submitted dossier: pay online, answer a supplementation request,
withdraw.

Each is allowed only in the statuses the agency has synced (the portal's view of the
dossier), and each reaches the agency through the durable outbox under a key that is
stable for that request — so a citizen pressing twice, or a retry after a crash, sends the
agency one message. The dossier's status changes only when the agency syncs it.

The payment platform is simulated ([ours]): it always succeeds, records the transaction
in `payments` and notifies the agency (specs/agency.yaml `recordPayment`).
"""

from __future__ import annotations

import hashlib
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from simulators.common.clock import format_dvc
from simulators.common.http import json_response, read_json_object
from simulators.common.problems import FieldError, ProblemError
from simulators.common.validation import SchemaValidator
from simulators.portal.dossiers import DossierState
from simulators.portal.outbox import Outbox
from simulators.portal.sync import SyncRules

__all__ = ["CitizenActions"]

SUPPLEMENT_REQUESTED = 5
PAYMENT_REQUESTED = 6
WITHDRAWN = 7
ONLINE = 2  # HinhThucThu: through the portal's payment platform


class CitizenActions:
    def __init__(self, rules: SyncRules, outbox: Outbox) -> None:
        self.rules = rules
        self.store = rules.store
        self.outbox = outbox
        self._payment = SchemaValidator("portal.yaml", "CitizenPayment")
        self._supplement = SchemaValidator("portal.yaml", "CitizenSupplement")
        self._withdrawal = SchemaValidator("portal.yaml", "CitizenWithdrawal")

    async def _read(
        self, request: Request, validator: SchemaValidator
    ) -> tuple[DossierState, dict[str, Any]]:
        code = request.path_params["code"]
        body = await read_json_object(request)
        validator.check(body)
        state = self.store.dossier(code)
        if state is None:
            raise ProblemError(
                404,
                "Not found",
                f"No dossier {code[:60]}.",
                errors=(FieldError("code", "unknown dossier", "use the MaHoSo you received"),),
            )
        return state, body

    async def pay(self, request: Request) -> Response:
        state, body = await self._read(request, self._payment)
        self._require(state, frozenset({PAYMENT_REQUESTED}), "a payment")
        due = self.rules.catalogue.procedures[state.procedure].fee_total_vnd
        if body["SoTien"] != due:
            raise ProblemError(
                422,
                "Invalid request",
                f"SoTien is {body['SoTien']} but dossier {state.code} owes {due} VND.",
                errors=(FieldError("/SoTien", "not the amount owed", f"pay exactly {due}"),),
                slug="validation",
            )
        with self.store.transaction():
            receipt, created = self._charge(state, due)
        return json_response(receipt, status=201 if created else 200)

    def _charge(self, state: DossierState, amount: int) -> tuple[dict[str, Any], bool]:
        # One transaction per payment request: the id is derived from the moment the
        # agency asked (the paused clock's start), so paying twice charges once.
        transaction = _transaction_id(state)
        rows = self.store.db.execute("SELECT * FROM payments WHERE id = ?", (transaction,))
        if rows:
            return _receipt(rows[0]), False
        paid_at = format_dvc(self.rules.clock.now())
        row = {
            "id": transaction,
            "dossier_code": state.code,
            "amount_vnd": amount,
            "state": "paid",
            "created_at": paid_at,
            "paid_at": paid_at,
        }
        self.store.db.execute(
            "INSERT INTO payments (id, dossier_code, amount_vnd, state, created_at, paid_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            tuple(row.values()),
        )
        message = {
            "MaGiaoDich": transaction,
            "SoTien": amount,
            "NgayThanhToan": paid_at,
            "HinhThucThu": ONLINE,
        }
        key = f"payment:{transaction}"
        self.outbox.enqueue(state.code, state.agency_id, "payment", message, key=key)
        return _receipt(row), True

    async def supplement(self, request: Request) -> Response:
        state, body = await self._read(request, self._supplement)
        self._require(state, frozenset({SUPPLEMENT_REQUESTED}), "a supplement")
        message = {"NgayBoSung": format_dvc(self.rules.clock.now()), **body}
        # One answer per supplementation request, keyed by when it was asked.
        key = f"supplement:{state.code}:{state.paused_since}"
        created = self.outbox.enqueue(state.code, state.agency_id, "supplement", message, key=key)
        return json_response(self._sent(state, "supplement"), status=202 if created else 200)

    async def withdraw(self, request: Request) -> Response:
        state, body = await self._read(request, self._withdrawal)
        if state.status == WITHDRAWN:
            return json_response(self._sent(state, "withdrawal"))
        allowed = frozenset(
            s for s, targets in self.rules.lifecycle.transitions.items() if WITHDRAWN in targets
        )
        self._require(state, allowed, "a withdrawal")
        created = self.outbox.enqueue(state.code, state.agency_id, "withdrawal", body)
        return json_response(self._sent(state, "withdrawal"), status=202 if created else 200)

    def _require(self, state: DossierState, allowed: frozenset[int], what: str) -> None:
        if state.status in allowed:
            return
        listed = sorted(allowed)
        raise ProblemError(
            409,
            "Not allowed in this status",
            f"Dossier {state.code} is in status {state.status}; {what} is possible only in "
            f"status {', '.join(map(str, listed))}.",
            errors=(FieldError("TrangThaiHoSo", f"is {state.status}", f"wait for {listed}"),),
            slug="status-conflict",
            extra={"TrangThaiHoSo": state.status, "allowed_statuses": listed},
        )

    def _sent(self, state: DossierState, kind: str) -> dict[str, Any]:
        return {
            "MaHoSo": state.code,
            "YeuCau": kind,
            "TrangThaiHoSo": state.status,
            "DonViXuLy": state.agency_id,
        }


def _transaction_id(state: DossierState) -> str:
    seed = f"{state.code}|{state.paused_since}".encode()
    return "GD" + hashlib.sha256(seed).hexdigest()[:20].upper()


def _receipt(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "MaGiaoDich": row["id"],
        "MaHoSo": row["dossier_code"],
        "SoTien": int(row["amount_vnd"]),
        "NgayThanhToan": row["paid_at"],
        "TrangThai": row["state"],
    }
