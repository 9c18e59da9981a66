"""Dossiers the harness submits: well-formed, with codes unique to the run."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

from harness.context import CheckContext

__all__ = ["TEMPORARY_RESIDENCE", "dossier_for", "next_dossier_code", "probe_dossier"]

TEMPORARY_RESIDENCE = "1.004194"
_VN = timezone(timedelta(hours=7))


def _codes(ctx: CheckContext) -> Iterator[str]:
    # Codes must be new to the agency, which keeps dossiers across runs: the serial starts
    # at a random point (not the seed), so repeated runs on one day rarely meet; within a
    # run codes never repeat.
    start = random.SystemRandom().randrange(10000)
    prefix = f"{ctx.target.agency_id}-{_today()}"
    return (f"{prefix}-{(start + n) % 10000:04d}" for n in itertools.count())


def _today() -> str:
    return datetime.now(_VN).strftime("%y%m%d")


def next_dossier_code(ctx: CheckContext) -> str:
    return next(ctx.memo("dossier-codes", _codes))


def _now_dvc() -> str:
    return datetime.now(_VN).strftime("%Y%m%d%H%M%S")


def dossier_for(
    ctx: CheckContext,
    citizen: dict[str, Any],
    *,
    full_name: str | None = None,
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A temporary-residence dossier for `citizen` (a sandbox record), optionally misnamed;
    `data` joins the form data (DuLieuHoSo)."""
    born = str(citizen["date_of_birth"]).replace("-", "")
    return {
        "MaHoSo": next_dossier_code(ctx),
        "MaTTHC": TEMPORARY_RESIDENCE,
        "NgayNopHoSo": _now_dvc(),
        "KenhNop": 2,
        "ChuHoSo": {
            "SoDinhDanh": citizen["pin"],
            "HoVaTen": full_name or citizen["full_name"],
            "NgaySinh": born,
        },
        "TrichYeuHoSo": "Đăng ký tạm trú",
        "DuLieuHoSo": {"ThoiHanTamTru": 12, **(data or {})},
    }


def probe_dossier(ctx: CheckContext) -> dict[str, Any]:
    """A well-formed dossier for an applicant nobody has; used where only auth matters."""
    probe = {"pin": "001090000000", "full_name": "Nguyễn Văn Thử", "date_of_birth": "1990-01-01"}
    return dossier_for(ctx, probe)
