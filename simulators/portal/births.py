"""The child's PIN in the birth group: asked of the population database through the outbox.

Once the member named by `child_pin_after` in specs/procedures.yaml (the birth
registration) first reaches a finished status (9 or 10), the portal queues a
`POST /v1/births` (specs/population.yaml) in the same transaction as that sync. The
outbox sends it as the portal's civil-status client (scope `justice.civil-status`); the
PIN the population database answers is stored with the group, in the transaction that
marks the message delivered, and shown in the group view.

[ours] In the real flow the civil-status software registers the birth; the reference
portal stands in for it so an agency integrating with the birth group sees the PIN appear.
The next step is released as before, without waiting for the PIN: the PIN reaches the
group's view, not the step-2 agencies.

At least once: `POST /v1/births` has no idempotency key, so a retry after an answer that
was lost (timeout, crash before commit) may register the child twice. The message carries
`Idempotency-Key: birth:<group code>` for a population database that honours one.
"""

from __future__ import annotations

import csv
from datetime import date, datetime
from functools import cache
from typing import Any

from simulators.common.clock import format_dvc
from simulators.common.db import Database
from simulators.common.problems import FieldError, ProblemError
from simulators.common.resources import specs_dir
from simulators.portal.clock import Clock
from simulators.portal.outbox import DEAD, POPULATION_TARGET, Outbox

__all__ = ["BIRTH_KIND", "Births", "birth_registration", "check_child"]

BIRTH_KIND = "birth"
_CLOSED_WITHOUT_RESULT = frozenset({3, 7})
_CHILD_FIX = (
    "give TreEm with HoVaTen, NgaySinh (yyyyMMdd), GioiTinh (male or female) and "
    "NoiDangKyKhaiSinh (a legacy province code, e.g. 001)"
)


@cache
def _province_codes() -> frozenset[str]:
    # The PIN's first three digits: the 63 legacy codes (DOMAIN.md §2).
    with (specs_dir() / "data" / "provinces-legacy-63.csv").open(encoding="utf-8") as handle:
        return frozenset(row["pin_prefix"] for row in csv.DictReader(handle))


def check_child(declaration: dict[str, Any], today: date) -> None:
    """Refuse, naming the field, a birth declaration the population database would refuse
    later — after civil status has already registered the birth."""
    child = declaration.get("TreEm")
    if declaration["NhomLienThong"] != "birth":
        if child is not None:
            raise _invalid("/TreEm", "is only for the birth group", "leave TreEm out")
        return
    if child is None:
        raise _invalid("/TreEm", "is required for the birth group", _CHILD_FIX)
    born = _birth_date(child["NgaySinh"])
    if born is None or born > today:
        raise _invalid(
            "/TreEm/NgaySinh",
            f"{child['NgaySinh']!r} is not a past or present date",
            "the day the child was born, yyyyMMdd, e.g. 20250301",
        )
    if child["NoiDangKyKhaiSinh"] not in _province_codes():
        raise _invalid(
            "/TreEm/NoiDangKyKhaiSinh",
            f"{child['NoiDangKyKhaiSinh']!r} is not one of the 63 legacy province codes",
            "see specs/data/provinces-legacy-63.csv, e.g. 001 for Hà Nội",
        )


def _birth_date(text: str) -> date | None:
    try:
        return datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        return None


def birth_registration(child: dict[str, Any]) -> dict[str, Any]:
    """The declaration's TreEm as the population database's BirthRegistration."""
    born = child["NgaySinh"]
    body = {
        "full_name": child["HoVaTen"],
        "date_of_birth": f"{born[:4]}-{born[4:6]}-{born[6:]}",
        "sex": child["GioiTinh"],
        "birth_registration_province": child["NoiDangKyKhaiSinh"],
    }
    optional = {"SoDinhDanhCha": "father_pin", "SoDinhDanhMe": "mother_pin", "DanToc": "ethnicity"}
    return body | {theirs: child[ours] for ours, theirs in optional.items() if ours in child}


class Births:
    """Queues the PIN request, stores the answer, and says where the PIN stands."""

    def __init__(self, db: Database, outbox: Outbox, clock: Clock, *, configured: bool) -> None:
        self.db = db
        self.outbox = outbox
        self.clock = clock
        # Without a population database the portal queues nothing: a message no worker can
        # deliver would only turn into a dead letter. The group view says so instead.
        self.configured = configured

    def request(self, group_code: str, declaration: dict[str, Any]) -> None:
        """Queue the PIN request (inside the sync's transaction); at most once per group."""
        if not self.configured:
            return
        body = birth_registration(declaration["TreEm"])
        self.outbox.enqueue(group_code, POPULATION_TARGET, BIRTH_KIND, body, key=_key(group_code))

    def assigned(self, message: dict[str, Any], answer: dict[str, Any]) -> None:
        """Store the PIN the population database answered (the outbox's answer handler)."""
        pin = answer.get("pin")
        if not (isinstance(pin, str) and len(pin) == 12 and pin.isdigit()):
            raise ValueError(f"the population database answered no PIN: {str(answer)[:200]}")
        self.db.execute(
            "UPDATE dossier_groups SET child_pin = ?, child_pin_at = ?"
            " WHERE code = ? AND child_pin IS NULL",
            (pin, format_dvc(self.clock.now()), message["dossier_code"]),
        )

    def view(
        self, group: dict[str, Any], registration: int | None, finished: frozenset[int]
    ) -> dict[str, Any]:
        """DinhDanhTre of the group view: the PIN, or why there is none yet.

        `registration` is the status of the member the PIN waits for (None: not released).
        """
        if group["child_pin"] is not None:
            return _pin("assigned", "Assigned by the population database.", group)
        message = self.outbox.message(_key(group["code"]))
        if message is not None:
            return self._queued(message)
        if registration in _CLOSED_WITHOUT_RESULT:
            return _pin("not-requested", "The birth registration was refused or withdrawn.")
        if registration not in finished:
            return _pin("waiting", "Asked once the birth registration is processed (9 or 10).")
        return _pin(
            "not-configured",
            "This portal has no population database configured, so it assigns no PIN; start "
            "it with one (python -m simulators.portal --population-url, or lienthong sandbox).",
        )

    def _queued(self, message: dict[str, Any]) -> dict[str, Any]:
        if message["state"] == DEAD:
            return _pin(
                "failed",
                f"The population database did not assign a PIN: {message['last_error']}; "
                f"requeue with POST /admin/outbox/{message['id']}/requeue once fixed.",
            )
        note = "Sent to the population database; waiting for its answer."
        if not self.configured:
            note = "Queued, but this portal process has no population database configured."
        return _pin("pending", note)


def _key(group_code: str) -> str:
    return f"{BIRTH_KIND}:{group_code}"


def _pin(state: str, note: str, group: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "TrangThai": state,
        "SoDinhDanh": None if group is None else group["child_pin"],
        "NgayCap": None if group is None else group["child_pin_at"],
        "GhiChu": note,
    }


def _invalid(field: str, message: str, fix: str) -> ProblemError:
    return ProblemError(
        422,
        "Invalid request",
        f"{field} {message}.",
        errors=(FieldError(field, message, fix),),
        slug="validation",
    )
