"""Rules for what a citizen does to a dossier after submitting it: pay, supplement, withdraw.

Pure functions and constants, so the reference agency's decisions can be read (and
tested) apart from HTTP. The decisions are the sandbox's reference behaviour ([ours],
specs/agency.yaml): form data chooses whether a dossier asks for a supplement or a payment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from starlette.requests import Request

from simulators.common.problems import FieldError, ProblemError
from simulators.common.resources import load_yaml_spec

__all__ = [
    "IN_PROCESS",
    "PAYMENT_REQUESTED",
    "RESULT_DELIVERED",
    "RESULT_READY",
    "SUPPLEMENT_REQUESTED",
    "WITHDRAWN",
    "Fee",
    "decide_next",
    "fees_by_procedure",
    "finishes_at_once",
    "idempotency_key",
    "result_documents",
    "status_conflict",
    "withdrawable",
]

IN_PROCESS = 4
SUPPLEMENT_REQUESTED = 5
PAYMENT_REQUESTED = 6
WITHDRAWN = 7
RESULT_READY = 9  # processed, result at the one-stop desk
RESULT_DELIVERED = 10
_KEY_MAX = 100


@dataclass(frozen=True, slots=True)
class Fee:
    code: str
    name: str
    amount_vnd: int


@cache
def fees_by_procedure() -> Mapping[str, tuple[Fee, ...]]:
    """Each procedure's fees, from specs/procedures.yaml."""
    catalogue = load_yaml_spec("procedures.yaml")["procedures"]
    return {
        p["code"]: tuple(Fee(f["code"], f["name"], int(f["amount_vnd"])) for f in p["fees"])
        for p in catalogue
    }


@cache
def withdrawable() -> frozenset[int]:
    """Statuses the lifecycle lets move to 7 (specs/dossier-lifecycle.yaml)."""
    transitions: dict[int, list[int]] = load_yaml_spec("dossier-lifecycle.yaml")["transitions"]
    return frozenset(int(s) for s, targets in transitions.items() if WITHDRAWN in targets)


def decide_next(body: dict[str, Any], fee_vnd: int, done: frozenset[str]) -> int:
    """The status after acceptance (2) or after a citizen action, given the actions done.

    `DuLieuHoSo.ThieuGiayTo: true` asks for a supplement once; a procedure with a fee and
    `DuLieuHoSo.ThanhToanTrucTuyen: true` asks for an online payment once; then processing.
    """
    data = body.get("DuLieuHoSo") or {}
    if data.get("ThieuGiayTo") is True and "supplement" not in done:
        return SUPPLEMENT_REQUESTED
    if data.get("ThanhToanTrucTuyen") is True and fee_vnd > 0 and "payment" not in done:
        return PAYMENT_REQUESTED
    return IN_PROCESS


def finishes_at_once(body: dict[str, Any]) -> bool:
    """`DuLieuHoSo.XuLyNgay: true` ([ours], specs/agency.yaml): once in process (4), the
    reference agency issues the result (9) and delivers it online (10) at once."""
    data = body.get("DuLieuHoSo") or {}
    return data.get("XuLyNgay") is True


# The result a procedure issues, by MaTTHC. Temporary residence: the residence authority's
# notice of the result ([recall]: form CT08 of Circular 56/2021/TT-BCA).
_RESULT_NAMES = {"1.004194": "Thông báo về kết quả giải quyết, hủy bỏ đăng ký cư trú"}
_RESULT_DEFAULT = "Văn bản kết quả giải quyết thủ tục hành chính"


def result_documents(procedure_code: str, dossier_code: str, issued: str) -> list[dict[str, str]]:
    """DanhSachGiayToKetQua ([ours] item shape): the document's name, its number (the
    dossier's serial for the day, so two results never share one) and its date of issue."""
    serial = dossier_code.rsplit("-", 1)[-1]
    return [
        {
            "TenGiayTo": _RESULT_NAMES.get(procedure_code, _RESULT_DEFAULT),
            "SoKyHieu": f"{serial}/TB-{dossier_code.split('-', 1)[0]}",
            "NgayBanHanh": issued,
        }
    ]


def status_conflict(code: str, current: int, allowed: frozenset[int], what: str) -> ProblemError:
    listed = sorted(allowed)
    return ProblemError(
        409,
        "Not allowed in this status",
        f"Dossier {code} is in status {current}; {what} is accepted only in status "
        + ", ".join(str(s) for s in listed)
        + ".",
        errors=(
            FieldError(
                "TrangThaiHoSo",
                f"is {current}",
                f"{what} is accepted in status {listed}; read GET /dossiers/{code} first",
            ),
        ),
        slug="status-conflict",
        extra={"TrangThaiHoSo": current, "allowed_statuses": listed},
    )


def idempotency_key(request: Request) -> str | None:
    """The optional Idempotency-Key header, checked against specs/agency.yaml."""
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if 0 < len(key) <= _KEY_MAX and all("!" <= c <= "~" for c in key):
        return key
    raise ProblemError(
        422,
        "Invalid request",
        "The Idempotency-Key header is empty, too long or not printable ASCII.",
        errors=(FieldError("Idempotency-Key", "malformed", "send 1–100 visible ASCII chars"),),
        slug="validation",
    )
