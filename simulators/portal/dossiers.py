"""A dossier as the portal knows it, and the clock rules: working-day due dates, paused
clocks, overdue derived from them at read time and never stored.

Pure functions over frozen records, so the 766 index and the tests can use hand-built
dossiers without a database.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from simulators.common.clock import (
    add_working_days,
    format_dvc,
    parse_dvc,
    shift_working_days,
    working_days_between,
)
from simulators.portal.lifecycle import Lifecycle

__all__ = [
    "DossierState",
    "due_date",
    "effective_due",
    "facts_from_sync",
    "is_overdue",
    "paused_working_days",
    "with_status",
]

CHANNEL_ONLINE = 2
_REFUSED_OR_WITHDRAWN = frozenset({3, 7})


@dataclass(frozen=True, slots=True)
class DossierState:
    """One dossier: what the portal routed, what the agency synced, its clock.

    Timestamps are `yyyyMMddHHmmss` strings in Vietnam time: fixed width in one zone, so
    string order is time order in SQL and in Python alike.
    """

    code: str
    agency_id: str
    procedure: str
    status: int
    received_at: str
    due_at: str
    channel: int = CHANNEL_ONLINE
    synced: bool = False
    paused_since: str | None = None
    paused_days: int = 0
    finished_at: str | None = None
    applicant_pin: str | None = None
    has_fee: bool = False
    paid_online: bool = False
    e_result: bool = False
    components: int = 0
    reused_components: int = 0


def due_date(received: datetime, deadline_working_days: int) -> str:
    """NgayHenTra of a dossier received at `received` (15:00 cut-off, VN holidays)."""
    return format_dvc(add_working_days(received, deadline_working_days))


def paused_working_days(state: DossierState, now: datetime) -> int:
    """Working days the dossier's clock has stood still, including a pause running at `now`."""
    lost = state.paused_days
    if state.paused_since is not None:
        lost += working_days_between(parse_dvc(state.paused_since), now)
    return lost


def effective_due(state: DossierState, now: datetime) -> datetime:
    """The due date moved later by every working day the clock was paused, including a
    pause still running at `now`."""
    return shift_working_days(parse_dvc(state.due_at), paused_working_days(state, now))


def is_overdue(state: DossierState, now: datetime) -> bool:
    """Finished after the due date, or unfinished and past it at `now`.

    A refused or withdrawn dossier owes no result, so it is never overdue.
    """
    if state.status in _REFUSED_OR_WITHDRAWN:
        return False
    if state.finished_at is not None:
        finished = parse_dvc(state.finished_at)
        return finished > effective_due(state, finished)
    return now > effective_due(state, now)


def with_status(
    state: DossierState, status: int, at: datetime, lifecycle: Lifecycle
) -> DossierState:
    """`state` after an accepted move to `status` at `at`: the clock stops on entering a
    paused status, restarts on leaving it, and handling ends at the first finished one."""
    changes: dict[str, Any] = {"status": status, "synced": True}
    stamp = format_dvc(at)
    if state.paused_since is not None and status not in lifecycle.paused:
        changes["paused_days"] = state.paused_days + working_days_between(
            parse_dvc(state.paused_since), at
        )
        changes["paused_since"] = None
    if state.paused_since is None and status in lifecycle.paused:
        changes["paused_since"] = stamp
    if state.finished_at is None and status in lifecycle.finished:
        changes["finished_at"] = stamp
    return dataclasses.replace(state, **changes)


def facts_from_sync(state: DossierState, payload: dict[str, Any]) -> DossierState:
    """Facts the 766 index needs, read from one DongBoHoSoMC-shaped payload.

    Flags only ever turn on: a later sync that omits a list does not undo what an earlier
    one reported.
    """
    fees = [f for f in payload.get("DanhSachLePhi") or () if isinstance(f, dict)]
    documents = [d for d in payload.get("TaiLieuNop") or () if isinstance(d, dict)]
    changes: dict[str, Any] = {
        "has_fee": state.has_fee or any(_amount(f) > 0 for f in fees),
        # [ours] HinhThucThu 2 = paid through the portal's online payment platform.
        "paid_online": state.paid_online or any(f.get("HinhThucThu") == 2 for f in fees),
        "e_result": state.e_result or bool(payload.get("DanhSachGiayToKetQua")),
    }
    if documents:
        changes["components"] = len(documents)
        changes["reused_components"] = sum(1 for d in documents if d.get("DuocTaiSuDung") is True)
    if payload.get("HinhThuc") in (1, 2, 3):
        changes["channel"] = payload["HinhThuc"]
    if payload.get("LoaiDoiTuong") == 1 and _is_pin(payload.get("MaDoiTuong")):
        changes["applicant_pin"] = payload["MaDoiTuong"]
    if "NgayHenTra" in payload:
        changes["due_at"] = payload["NgayHenTra"]
    return dataclasses.replace(state, **changes)


def _amount(fee: dict[str, Any]) -> int:
    value = fee.get("Gia")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _is_pin(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 12 and value.isdigit()
