"""Interconnected groups (Decree 63/2024): one declaration, several dossiers, in steps.

The birth group registers the birth (civil status), then residence (police) and the
child's health-insurance card (social security) in parallel; the death group registers
the death, then deletes the residence and, if chosen, routes the funeral allowance and the
survivor benefit to social security or to labour and social affairs. The steps and
routes are data in specs/procedures.yaml (`groups`).

Each member is an ordinary dossier with its own agency, code and status, delivered
through the outbox. A step is released, inside the transaction of the sync that finishes
the previous one, once all of that step's members are finished (9 or 10). In the same
transaction, the birth registration's finishing queues the child's PIN request to the
population database (births.py). The group's status, its deadline and the members'
supplement windows are derived at read time (group_deadlines.py), never stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from simulators.common.clock import format_dvc
from simulators.common.http import json_response, read_json_object
from simulators.common.problems import FieldError, ProblemError
from simulators.common.validation import SchemaValidator
from simulators.portal.births import Births, check_child
from simulators.portal.citizen import CitizenApi, idempotency_key
from simulators.portal.dossiers import DossierState
from simulators.portal.group_deadlines import (
    group_due,
    group_effective_due,
    group_overdue,
    supplement_deadline,
    supplement_lapsed,
)
from simulators.portal.procedures import GroupMember, ProcedureGroup
from simulators.portal.sync import SyncRules

__all__ = ["GroupApi", "Member", "derive_group_status", "plan_members"]

BENEFITS = frozenset({"funeral-allowance", "survivor-benefit"})
_REFUSED, _WITHDRAWN, _STOPPED = 3, 7, 8


@dataclass(frozen=True, slots=True)
class Member:
    role: str
    procedure: str
    authority: str  # whose agency handles it: the role, or a benefit's route
    step: int


def plan_members(group: ProcedureGroup, declaration: dict[str, Any]) -> list[Member]:
    """The members this declaration asks for, each with the authority that handles it."""
    chosen = set(declaration.get("ThuTucChon") or ())
    members = []
    for step, entries in enumerate(group.steps, start=1):
        for entry in entries:
            if entry.optional and entry.role not in chosen:
                continue
            members.append(
                Member(entry.role, entry.procedure, _authority(group, entry, declaration), step)
            )
    return members


def _authority(group: ProcedureGroup, entry: GroupMember, declaration: dict[str, Any]) -> str:
    if entry.role not in BENEFITS:
        return entry.role
    case = declaration.get("DoiTuong")
    if case not in group.benefit_routes:
        raise _invalid(
            "/DoiTuong",
            f"is needed to route the {entry.role}",
            f"one of {sorted(group.benefit_routes)}",
        )
    return group.benefit_routes[case]


def derive_group_status(statuses: list[int | None], finished: frozenset[int]) -> str:
    """The group's status from its members' (None: not released yet).

    done: every member finished · refused: a member refused or stopped and none finished ·
    partly-refused: some refused or stopped, some finished · withdrawn: every released
    member withdrawn · partly-withdrawn: the rest finished · in-progress otherwise.
    """
    released = [s for s in statuses if s is not None]
    done = sum(1 for s in released if s in finished)
    if any(s in (_REFUSED, _STOPPED) for s in released):
        return "partly-refused" if done else "refused"
    withdrawn = sum(1 for s in released if s == _WITHDRAWN)
    if withdrawn and withdrawn == len(released):
        return "withdrawn"
    if withdrawn and withdrawn + done == len(released):
        return "partly-withdrawn"
    if done == len(statuses):
        return "done"
    return "in-progress"


class GroupApi:
    def __init__(self, rules: SyncRules, citizen: CitizenApi, births: Births) -> None:
        self.rules = rules
        self.store = rules.store
        self.citizen = citizen
        self.births = births
        self._declaration = SchemaValidator("portal.yaml", "CitizenGroupDeclaration")
        rules.observers.append(self.on_status)

    async def declare(self, request: Request) -> Response:
        key = idempotency_key(request)
        body = await read_json_object(request)
        self._declaration.check(body)
        check_child(body, self.rules.clock.now().date())
        group = self.rules.catalogue.groups[body["NhomLienThong"]]
        members = plan_members(group, body)
        agencies = {m.authority: self._agency(body, m.authority) for m in members}
        with self.store.transaction():
            existing = self._code_for_key(key) if key else None
            if existing is not None:
                return json_response(self._view(existing), status=200)
            code = self._create(group, body, members, agencies, key)
        return json_response(self._view(code), status=201)

    def _agency(self, body: dict[str, Any], authority: str) -> str:
        agency_id = (body.get("CoQuan") or {}).get(authority)
        if agency_id is None or self.store.route(agency_id) is None:
            raise _invalid(
                f"/CoQuan/{authority}",
                "names no agency connected to the portal",
                f"give the {authority} agency's id (its route is set by the sandbox)",
            )
        return str(agency_id)

    def _create(
        self,
        group: ProcedureGroup,
        body: dict[str, Any],
        members: list[Member],
        agencies: dict[str, str],
        key: str | None,
    ) -> str:
        now = self.rules.clock.now()
        code = self.citizen.next_code(f"NHOM.{group.name.upper()}", now, "/NhomLienThong")
        self.store.db.execute(
            "INSERT INTO dossier_groups (code, kind, declaration, received_at, idempotency_key)"
            " VALUES (?, ?, ?, ?, ?)",
            (code, group.name, orjson.dumps(body).decode(), format_dvc(now), key),
        )
        for member in members:
            self.store.db.execute(
                "INSERT INTO group_members (group_code, role, procedure, agency_id, step)"
                " VALUES (?, ?, ?, ?, ?)",
                (code, member.role, member.procedure, agencies[member.authority], member.step),
            )
        self._release(code, 1, body)
        return code

    def _release(self, group_code: str, step: int, declaration: dict[str, Any]) -> None:
        """Create and queue the dossiers of one step (inside the caller's transaction)."""
        rows = self.store.db.execute(
            "SELECT * FROM group_members WHERE group_code = ? AND step = ?"
            " AND dossier_code IS NULL ORDER BY role",
            (group_code, step),
        )
        for row in rows:
            procedure = self.rules.catalogue.procedures[row["procedure"]]
            submission = {
                "ChuHoSo": declaration["ChuHoSo"],
                "TrichYeuHoSo": f"{procedure.name_vi} (nhóm {group_code})",
                "DuLieuHoSo": declaration.get("DuLieuHoSo") or {},
            }
            dossier = self.citizen.intake(submission, procedure, row["agency_id"], None)
            self.store.db.execute(
                "UPDATE group_members SET dossier_code = ? WHERE group_code = ? AND role = ?",
                (dossier, group_code, row["role"]),
            )

    def on_status(self, state: DossierState) -> None:
        """After an accepted sync of a finished member: ask for the child's PIN if this
        member is the birth registration, and release the next step once this one is done.

        A re-sync (10 after 9) repeats both harmlessly: the PIN request is keyed per group
        and released members are never released again.
        """
        if state.status not in self.rules.lifecycle.finished:
            return
        rows = self.store.db.execute(
            "SELECT m.group_code, m.step, m.role, g.kind FROM group_members AS m"
            " JOIN dossier_groups AS g ON g.code = m.group_code WHERE m.dossier_code = ?",
            (state.code,),
        )
        if not rows:
            return
        row = rows[0]
        group_code, step = row["group_code"], int(row["step"])
        if row["role"] == self.rules.catalogue.groups[row["kind"]].child_pin_after:
            self.births.request(group_code, self._declaration_of(group_code))
        if all(s in self.rules.lifecycle.finished for s in self._statuses(group_code, step)):
            self._release(group_code, step + 1, self._declaration_of(group_code))

    def _statuses(self, group_code: str, step: int) -> list[int | None]:
        return [
            None if state is None else state.status
            for row, state in self._members(group_code)
            if int(row["step"]) == step
        ]

    def _members(self, group_code: str) -> list[tuple[dict[str, Any], DossierState | None]]:
        """Each member's row with its dossier's state (None until its step is released)."""
        rows = self.store.db.execute(
            "SELECT * FROM group_members WHERE group_code = ? ORDER BY step, role", (group_code,)
        )
        return [
            (row, self.store.dossier(row["dossier_code"]) if row["dossier_code"] else None)
            for row in rows
        ]

    def _declaration_of(self, group_code: str) -> dict[str, Any]:
        (row,) = self.store.db.execute(
            "SELECT declaration FROM dossier_groups WHERE code = ?", (group_code,)
        )
        declaration: dict[str, Any] = orjson.loads(row["declaration"])
        return declaration

    def _code_for_key(self, key: str) -> str | None:
        rows = self.store.db.execute(
            "SELECT code FROM dossier_groups WHERE idempotency_key = ?", (key,)
        )
        return str(rows[0]["code"]) if rows else None

    async def track(self, request: Request) -> Response:
        return json_response(self._view(request.path_params["code"]))

    def _view(self, code: str) -> dict[str, Any]:
        rows = self.store.db.execute("SELECT * FROM dossier_groups WHERE code = ?", (code,))
        if not rows:
            raise ProblemError(404, "Not found", f"No group {code[:60]}.")
        group, now = rows[0], self.rules.clock.now()
        kind = self.rules.catalogue.groups[group["kind"]]
        members = self._members(code)
        states = [state for _, state in members if state is not None]
        status = derive_group_status(
            [None if s is None else s.status for _, s in members], self.rules.lifecycle.finished
        )
        due = group_due(group["received_at"], kind.deadline_working_days)
        view = {
            "MaNhom": code,
            "NhomLienThong": group["kind"],
            "NgayTiepNhan": group["received_at"],
            "NgayHenTra": due,
            "NgayHenTraHieuLuc": format_dvc(group_effective_due(due, states, now)),
            "QuaHan": group_overdue(due, states, status, now),
            "TrangThaiNhom": status,
            "HoSoThanhPhan": [_member_view(r, s, kind, now) for r, s in members],
        }
        if kind.child_pin_after is not None:
            view["DinhDanhTre"] = self._child_pin(group, kind, members)
        return view

    def _child_pin(
        self,
        group: dict[str, Any],
        kind: ProcedureGroup,
        members: list[tuple[dict[str, Any], DossierState | None]],
    ) -> dict[str, Any]:
        registration = next(
            (s.status if s else None for r, s in members if r["role"] == kind.child_pin_after),
            None,
        )
        return self.births.view(group, registration, self.rules.lifecycle.finished)


def _member_view(
    row: dict[str, Any], state: DossierState | None, kind: ProcedureGroup, now: datetime
) -> dict[str, Any]:
    window = kind.supplement_working_days
    deadline = None if state is None else supplement_deadline(state, window)
    return {
        "VaiTro": row["role"],
        "MaTTHC": row["procedure"],
        "DonViXuLy": row["agency_id"],
        "Buoc": int(row["step"]),
        "MaHoSo": row["dossier_code"],
        "TrangThaiHoSo": None if state is None else state.status,
        # Only while the agency awaits a supplement (5): the end of the citizen's window.
        "HanBoSung": None if deadline is None else format_dvc(deadline),
        "HetHanBoSung": state is not None and supplement_lapsed(state, window, now),
    }


def _invalid(field: str, message: str, fix: str) -> ProblemError:
    return ProblemError(
        422,
        "Invalid request",
        f"{field} {message}.",
        errors=(FieldError(field, message, fix),),
        slug="validation",
    )
