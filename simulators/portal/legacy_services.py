"""The services of the legacy integration endpoint: DongBoHoSoMC, CapNhatTienDoHoSoMC,
TraCuuHoSo, LayThuTuc and LayDanhSachTTHC, answering in the adapter's own format."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from enum import IntEnum
from typing import Any

import orjson
from starlette.responses import Response

from simulators.common.clock import parse_dvc
from simulators.common.http import json_response
from simulators.common.problems import FieldError, ProblemError, problem_response
from simulators.common.validation import SchemaValidator
from simulators.portal.dossiers import effective_due, is_overdue
from simulators.portal.sync import Caller, SyncRules

__all__ = ["ErrorCode", "LegacyError", "LegacyServices", "answer"]

LEGACY_SPEC = "portal-legacy.yaml"
MAX_BATCH = 100
_PROGRESS_DATES = ("ThoiDiemXuLy", "NgayBatDau", "NgayKetThucTheoQuyDinh")


class ErrorCode(IntEnum):
    OK = 0
    MALFORMED = 1
    AUTH_FAILED = 2
    SESSION_INVALID = 3
    WRONG_AGENCY = 4
    UNKNOWN_SERVICE = 5
    DATA_REFUSED = 6
    NOT_FOUND = 7
    INTERNAL = 99


class LegacyError(Exception):
    def __init__(self, code: ErrorCode, message: str, errors: tuple[FieldError, ...] = ()):
        super().__init__(message)
        self.code = code
        self.message = message
        self.errors = errors


def answer(code: ErrorCode, message: str, **extra: Any) -> Response:
    return json_response({"error_code": int(code), "message": message, **extra})


Handler = Callable[[dict[str, Any], Caller], Response]


class LegacyServices:
    def __init__(self, rules: SyncRules) -> None:
        self.rules = rules
        self.store = rules.store
        self._progress = SchemaValidator(LEGACY_SPEC, "ProgressUpdate")
        self._handlers: dict[str, Handler] = {
            "DongBoHoSoMC": self._sync,
            "CapNhatTienDoHoSoMC": self._progress_update,
            "TraCuuHoSo": self._lookup,
            "LayThuTuc": self._procedure,
            "LayDanhSachTTHC": self._procedures,
        }

    def call(self, service: str, body: dict[str, Any], username: str, agency_id: str) -> Response:
        handler = self._handlers.get(service)
        if handler is None:
            known = ", ".join(self._handlers)
            raise LegacyError(
                ErrorCode.UNKNOWN_SERVICE,
                f"Unknown service {service[:60]!r}.",
                (FieldError("service", "unknown service", f"use one of {known}"),),
            )
        return handler(body, Caller(agency_id, username))

    # -- DongBoHoSoMC ---------------------------------------------------------------------

    def _sync(self, body: dict[str, Any], caller: Caller) -> Response:
        updating = _flag(body, "isUpdating")
        items = _batch(body)
        results = [
            self._sync_item(i, item, caller, updating, items) for i, item in enumerate(items)
        ]
        refused = sum(1 for r in results if r["error_code"])
        if refused:
            message = f"{refused} of {len(results)} dossiers refused; see results."
            return answer(ErrorCode.DATA_REFUSED, message, results=results)
        return answer(ErrorCode.OK, f"{len(results)} dossiers synced.", results=results)

    def _sync_item(
        self, index: int, item: Any, caller: Caller, updating: bool, items: list[Any]
    ) -> dict[str, Any]:
        payload = {"DonViXuLy": caller.agency_id, **item} if isinstance(item, dict) else {}
        try:
            if not isinstance(item, dict):
                raise _item_problem("/", "is not an object", "send each dossier as an object")
            _check_not_repeated(index, payload, items)
            receipt = self.rules.apply(caller, payload, channel="legacy", expect_new=not updating)
        except ProblemError as exc:
            problem = orjson.loads(problem_response(exc, instance="/legacy/integration").body)
            self.rules.refuse(caller, payload, problem, "legacy")
            errors = [
                {**e, "field": f"/data/{index}{e['field'].rstrip('/')}"}
                for e in problem.get("errors", [])
            ]
            return {
                "MaHoSo": payload.get("MaHoSo"),
                "error_code": int(ErrorCode.DATA_REFUSED),
                "message": problem.get("detail", problem["title"]),
                "errors": errors,
            }
        return {"MaHoSo": receipt["MaHoSo"], "error_code": 0, "message": "OK", "id": receipt["id"]}

    # -- CapNhatTienDoHoSoMC --------------------------------------------------------------

    def _progress_update(self, body: dict[str, Any], caller: Caller) -> Response:
        items = _batch(body)
        results = [self._progress_item(i, item, caller) for i, item in enumerate(items)]
        refused = sum(1 for r in results if r["error_code"])
        code = ErrorCode.DATA_REFUSED if refused else ErrorCode.OK
        return answer(
            code, f"{len(results) - refused} of {len(results)} steps recorded.", results=results
        )

    def _progress_item(self, index: int, item: Any, caller: Caller) -> dict[str, Any]:
        errors = list(self._progress.errors(item))
        if not errors:
            errors = [*_progress_date_errors(item), *self._ownership_errors(item, caller)]
        if not errors and not self._record_progress(item):
            errors = [FieldError("/", "this step was already recorded", "send each step once")]
        if errors:
            code = item.get("MaHoSo") if isinstance(item, dict) else None
            return {
                "MaHoSo": code,
                "error_code": int(ErrorCode.DATA_REFUSED),
                "message": "step refused",
                "errors": [
                    {**e.as_dict(), "field": f"/data/{index}{e.field.rstrip('/')}"} for e in errors
                ],
            }
        return {"MaHoSo": item["MaHoSo"], "error_code": 0, "message": "OK"}

    def _ownership_errors(self, item: dict[str, Any], caller: Caller) -> list[FieldError]:
        state = self.store.dossier(item["MaHoSo"])
        if state is None or state.agency_id != caller.agency_id:
            return [
                FieldError(
                    "/MaHoSo",
                    "no dossier of your agency has this code",
                    "sync the dossier with DongBoHoSoMC first",
                )
            ]
        return []

    def _record_progress(self, item: dict[str, Any]) -> bool:
        """False when the same step (dossier, moment, content) is already recorded."""
        canonical = orjson.dumps(
            [
                item["MaHoSo"],
                item["ThoiDiemXuLy"],
                item.get("NoiDungXuLy", ""),
                item.get("TrangThai"),
            ]
        )
        fingerprint = hashlib.sha256(canonical).hexdigest()
        inserted = self.store.db.execute_rowcount(
            "INSERT INTO progress (dossier_code, at, payload, fingerprint) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (fingerprint) DO NOTHING",
            (item["MaHoSo"], item["ThoiDiemXuLy"], orjson.dumps(item).decode(), fingerprint),
        )
        return inserted == 1

    # -- look-ups ---------------------------------------------------------------------------

    def _lookup(self, body: dict[str, Any], caller: Caller) -> Response:
        code = body.get("MaHoSo")
        state = self.store.dossier(code) if isinstance(code, str) else None
        if state is None or state.agency_id != caller.agency_id:
            # Another agency's dossier is "not found" too: no probing of who owns what.
            raise LegacyError(
                ErrorCode.NOT_FOUND,
                f"No dossier {str(code)[:60]!r} for agency {caller.agency_id}.",
                (FieldError("MaHoSo", "unknown dossier", "send the MaHoSo your system synced"),),
            )
        now = self.rules.clock.now()
        steps = self.store.db.execute(
            "SELECT payload FROM progress WHERE dossier_code = ? ORDER BY at, id", (state.code,)
        )
        data = {
            "MaHoSo": state.code,
            "MaTTHC": state.procedure,
            "TrangThaiHoSo": state.status,
            "NgayTiepNhan": state.received_at,
            "NgayHenTra": state.due_at,
            "NgayHenTraHieuLuc": effective_due(state, now).strftime("%Y%m%d%H%M%S"),
            "QuaHan": is_overdue(state, now),
            "TienDo": [orjson.loads(s["payload"]) for s in steps],
        }
        return answer(ErrorCode.OK, "OK", data=data)

    def _procedure(self, body: dict[str, Any], caller: Caller) -> Response:
        code = body.get("MaTTHC")
        if code is None:
            return self._procedures(body, caller)
        procedure = self.rules.catalogue.get(code) if isinstance(code, str) else None
        if procedure is None:
            raise LegacyError(
                ErrorCode.NOT_FOUND,
                f"Unknown procedure {str(code)[:60]!r}.",
                (FieldError("MaTTHC", "unknown procedure", "call LayDanhSachTTHC for the codes"),),
            )
        return answer(ErrorCode.OK, "OK", data=procedure.as_dict())

    def _procedures(self, body: dict[str, Any], caller: Caller) -> Response:
        data = [p.as_dict() for p in self.rules.catalogue.procedures.values()]
        return answer(ErrorCode.OK, "OK", data=data)


def _flag(body: dict[str, Any], name: str) -> bool:
    # Existing adapters send the flag as a JSON boolean or as the text "true"/"false".
    value = body.get(name, False)
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return bool(value == "true")
    raise LegacyError(
        ErrorCode.MALFORMED,
        f"{name} must be true or false.",
        (
            FieldError(
                name, f"got {str(value)[:40]!r}", "send true to update, false for new dossiers"
            ),
        ),
    )


def _batch(body: dict[str, Any]) -> list[Any]:
    data = body.get("data")
    if not isinstance(data, list) or not 1 <= len(data) <= MAX_BATCH:
        raise LegacyError(
            ErrorCode.MALFORMED,
            f"data must be a list of 1 to {MAX_BATCH} items.",
            (
                FieldError(
                    "data", "missing, empty, too long or not a list", f"send 1–{MAX_BATCH} items"
                ),
            ),
        )
    return data


def _check_not_repeated(index: int, payload: dict[str, Any], items: list[Any]) -> None:
    code = payload.get("MaHoSo")
    earlier = [
        i
        for i, other in enumerate(items[:index])
        if isinstance(other, dict) and other.get("MaHoSo") == code
    ]
    if code is not None and earlier:
        raise ProblemError(
            409,
            "Duplicate dossier",
            f"Dossier {code} appears twice in one batch (items {earlier[0]} and {index}).",
            errors=(
                FieldError("/MaHoSo", "repeated in this batch", "send each dossier once per batch"),
            ),
            slug="duplicate-dossier",
        )


def _item_problem(field: str, message: str, fix: str) -> ProblemError:
    return ProblemError(
        422,
        "Invalid request",
        f"The item {message}.",
        errors=(FieldError(field, message, fix),),
        slug="validation",
    )


def _progress_date_errors(item: dict[str, Any]) -> list[FieldError]:
    errors = []
    for name in _PROGRESS_DATES:
        if name in item:
            try:
                parse_dvc(item[name])
            except ValueError:
                errors.append(
                    FieldError(
                        f"/{name}",
                        f"{item[name]!r} is not a date",
                        "yyyyMMddHHmmss in Asia/Ho_Chi_Minh, e.g. 20250115143000",
                    )
                )
    return errors
