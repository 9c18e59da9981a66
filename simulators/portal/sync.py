"""Status-sync rules shared by the REST API and the legacy adapter.

Both ways in run the same checks in the same order — contract schema, real dates in
Vietnam time, known procedure, the caller's own agency, no dossier code owned by another
agency, a legal lifecycle transition — and both write the same sync log and dossier
state, so an agency meets one set of rules whichever way it connects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from simulators.common.clock import parse_dvc
from simulators.common.problems import FieldError, ProblemError
from simulators.common.validation import SchemaValidator
from simulators.portal.clock import Clock, RealClock
from simulators.portal.dossiers import DossierState, due_date, facts_from_sync, with_status
from simulators.portal.lifecycle import Lifecycle, load_lifecycle
from simulators.portal.procedures import PROCEDURES_FILE, Catalogue, load_catalogue
from simulators.portal.store import PortalStore

__all__ = ["Caller", "SyncRules"]

_DATE_FIELDS = ("NgayTiepNhan", "NgayHenTra", "NgayTra", "NgayKetThucXuLy", "NgayCapNhat")
_DATE_FIX = "a real date as yyyyMMddHHmmss in Asia/Ho_Chi_Minh, e.g. 20250115143000"
_INT64_MAX = 9_223_372_036_854_775_807
_MAX_CODE = 100


@dataclass(frozen=True, slots=True)
class Caller:
    agency_id: str | None
    client_id: str | None


class SyncRules:
    """Validates and applies syncs against one store."""

    def __init__(
        self, store: PortalStore, schema_file: str = "portal.yaml", *, clock: Clock | None = None
    ) -> None:
        self.store = store
        # Every deadline the portal derives reads this clock (tests move it).
        self.clock: Clock = clock or RealClock()
        self.lifecycle: Lifecycle = load_lifecycle()
        self.catalogue: Catalogue = load_catalogue()
        self._validator = SchemaValidator(schema_file, "StatusSync")
        # Called with each dossier's new state inside the sync's transaction (the
        # interconnected groups release their next step from here).
        self.observers: list[Callable[[DossierState], None]] = []

    def apply(
        self, caller: Caller, payload: dict[str, Any], *, channel: str, expect_new: bool | None
    ) -> dict[str, Any]:
        """Check and record one sync; raises ProblemError (nothing recorded) when refused.

        `expect_new` is the legacy `isUpdating` flag inverted: True refuses a dossier the
        portal already has, False one it does not; None (REST) accepts both.
        """
        self.check(caller, payload)
        code, status = str(payload["MaHoSo"]), int(payload["TrangThaiHoSo"])
        # One transaction from reading the previous status to writing the new one, so two
        # syncs of one dossier cannot interleave, whatever thread or process sends them.
        with self.store.transaction():
            state = self._owned_state(caller, code, expect_new)
            self._check_transition(code, state, status)
            sync_id = self.store.record(
                caller.agency_id, caller.client_id, code, status, True, None, payload, channel
            )
            new_state = self._next_state(state, payload, status)
            self.store.save_dossier(new_state)
            for observer in self.observers:
                observer(new_state)
        return {"id": sync_id, "MaHoSo": code, "TrangThaiHoSo": status, "accepted": True}

    def refuse(
        self, caller: Caller, payload: dict[str, Any], problem: dict[str, Any], channel: str
    ) -> None:
        """Log a refused sync with the very document its sender received."""
        code = payload.get("MaHoSo")
        self.store.record(
            caller.agency_id,
            caller.client_id,
            code[:_MAX_CODE] if isinstance(code, str) else None,
            storable_status(payload.get("TrangThaiHoSo")),
            False,
            problem,
            payload,
            channel,
        )

    def check(self, caller: Caller, payload: dict[str, Any]) -> None:
        self._validator.check(payload)
        errors = [*_date_errors(payload), *self._procedure_errors(payload)]
        if errors:
            names = ", ".join(e.field for e in errors)
            raise ProblemError(
                422,
                "Invalid request",
                f"StatusSync has invalid fields: {names}.",
                errors=tuple(errors),
                slug="validation",
            )
        _check_agency(caller, payload)

    def _procedure_errors(self, payload: dict[str, Any]) -> list[FieldError]:
        code = payload["MaTTHC"]
        if code in self.catalogue.procedures:
            return []
        fix = (
            f"use the procedure's code in the national procedure database (listed in "
            f"specs/{PROCEDURES_FILE}, or by LayThuTuc); this portal knows "
            + ", ".join(sorted(self.catalogue.procedures))
        )
        return [FieldError("/MaTTHC", f"{code!r} is not a known procedure code", fix)]

    def _owned_state(
        self, caller: Caller, code: str, expect_new: bool | None
    ) -> DossierState | None:
        state = self.store.dossier(code)
        if state is not None and state.agency_id != caller.agency_id:
            raise _duplicate(
                f"dossier code {code} already belongs to agency {state.agency_id}",
                "dossier codes start with your own agency id: <agency id>-<yyMMdd>-<NNNN>",
            )
        if expect_new is True and state is not None and state.synced:
            raise _duplicate(
                f"dossier {code} was already synced as new",
                "send it with isUpdating true to update it",
            )
        if expect_new is False and (state is None or not state.synced):
            raise ProblemError(
                404,
                "Unknown dossier",
                f"Dossier {code} has never been synced, so it cannot be updated.",
                errors=(FieldError("/MaHoSo", "unknown dossier", "send it with isUpdating false"),),
                slug="unknown-dossier",
            )
        return state

    def _check_transition(self, code: str, state: DossierState | None, status: int) -> None:
        previous = state.status if state is not None and state.synced else None
        if self.lifecycle.is_legal(previous, status):
            return
        allowed = sorted(self.lifecycle.allowed_after(previous))
        error = _transition_error(self.lifecycle.describe, previous, status, allowed)
        raise ProblemError(
            409,
            "Illegal status transition",
            f"Dossier {code} cannot move to status {status}: {error.message}.",
            errors=(error,),
            slug="illegal-transition",
            extra={"previous_status": previous, "allowed_statuses": allowed},
        )

    def _next_state(
        self, state: DossierState | None, payload: dict[str, Any], status: int
    ) -> DossierState:
        at = _event_time(payload) or self.clock.now()
        if state is None:
            state = self._first_seen(payload)
        return facts_from_sync(with_status(state, status, at, self.lifecycle), payload)

    def _first_seen(self, payload: dict[str, Any]) -> DossierState:
        received = parse_dvc(payload["NgayTiepNhan"])
        procedure = self.catalogue.procedures[payload["MaTTHC"]]
        return DossierState(
            code=payload["MaHoSo"],
            agency_id=payload["DonViXuLy"],
            procedure=procedure.code,
            status=0,
            received_at=payload["NgayTiepNhan"],
            due_at=payload.get("NgayHenTra") or due_date(received, procedure.deadline_working_days),
        )


def _event_time(payload: dict[str, Any]) -> datetime | None:
    # When the agency says when it changed the status, the clock follows its word;
    # otherwise (None) the moment the portal heard of it.
    for name in ("NgayCapNhat", "NgayKetThucXuLy"):
        if name in payload:
            return parse_dvc(payload[name])
    return None


def _duplicate(message: str, fix: str) -> ProblemError:
    return ProblemError(
        409,
        "Duplicate dossier",
        f"Refused: {message}.",
        errors=(FieldError("/MaHoSo", message, fix),),
        slug="duplicate-dossier",
    )


def _date_errors(payload: dict[str, Any]) -> list[FieldError]:
    errors: list[FieldError] = []
    for name in _DATE_FIELDS:
        if name in payload:
            try:
                parse_dvc(payload[name])
            except ValueError:
                errors.append(FieldError(f"/{name}", f"{payload[name]!r} is not a date", _DATE_FIX))
    if not errors and "NgayHenTra" in payload and payload["NgayHenTra"] < payload["NgayTiepNhan"]:
        # Same fixed-width digits in the same zone: string order is time order.
        errors.append(
            FieldError(
                "/NgayHenTra",
                f"{payload['NgayHenTra']} is before NgayTiepNhan {payload['NgayTiepNhan']}",
                "the due date must be on or after the reception date",
            )
        )
    return errors


def _check_agency(caller: Caller, payload: dict[str, Any]) -> None:
    if payload["DonViXuLy"] == caller.agency_id:
        return
    raise ProblemError(
        403,
        "Wrong agency",
        f"DonViXuLy is {payload['DonViXuLy']!r} but the caller is agency {caller.agency_id!r}.",
        errors=(
            FieldError(
                "/DonViXuLy",
                "is not the agency the caller authenticated as",
                f"send DonViXuLy {caller.agency_id!r}, or sync with that agency's own credentials",
            ),
        ),
        slug="wrong-agency",
    )


def _transition_error(
    describe: Callable[[int], str],
    previous: int | None,
    status: int,
    allowed: list[int],
) -> FieldError:
    listed = ", ".join(describe(s) for s in allowed)
    if previous is None:
        message = f"the first sync of a dossier cannot have status {describe(status)}"
        return FieldError("/TrangThaiHoSo", message, f"start with one of {listed}")
    message = f"cannot move from {describe(previous)} to {describe(status)}"
    if allowed == [previous]:
        fix = f"the dossier is closed at {describe(previous)}; only a re-sync of it is accepted"
    else:
        fix = f"send one of {listed}"
    return FieldError("/TrangThaiHoSo", message, fix)


def storable_status(value: Any) -> int | None:
    # Refused syncs may carry anything; an INTEGER column holds only 64-bit values.
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) <= _INT64_MAX:
        return value
    return None
