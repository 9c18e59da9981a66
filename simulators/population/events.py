"""Writes on the population: consents, purpose registrations, and the life events other
agencies cause (birth → PIN, death, residence change, temporary absence, a court's
declaration that a person is missing), each appended to the change feed.
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, TypeVar

from simulators.common.clock import VN_TZ
from simulators.population import access
from simulators.population.access import PURPOSES
from simulators.population.households import PinSpace
from simulators.population.pin import encode_pin, province_name
from simulators.population.records import RecordStore
from simulators.population.reference import ward_name
from simulators.population.schema import CITIZEN_COLUMNS

__all__ = ["LifeEventError", "PopulationStore", "life_event"]


class LifeEventError(ValueError):
    """A life event the record contradicts; `field` names the culprit, status 404 or 409."""

    def __init__(self, field: str, message: str, fix: str = "", status: int = 409) -> None:
        super().__init__(message)
        self.field, self.fix, self.status = field, fix, status


T = TypeVar("T")


def life_event(run: Callable[[], T]) -> T:
    """Run a write; a LifeEventError becomes the problem+json naming its field."""
    try:
        return run()
    except LifeEventError as exc:
        raise access.invalid(exc.field, str(exc), exc.fix, status=exc.status) from None


class PopulationStore(RecordStore):
    """The whole store: reads and audit (RecordStore) plus every write."""

    # -- registrations and consents --------------------------------------------------------

    def registered_purposes(self, client_id: str) -> set[str]:
        """A client's purposes; one never registered may use the whole catalogue (sandbox)."""
        rows = self.db.execute(
            "SELECT purposes FROM registrations WHERE client_id = ?", (client_id,)
        )
        return set(json.loads(rows[0]["purposes"])) if rows else set(PURPOSES)

    def register_purposes(self, client_id: str, purposes: list[str]) -> None:
        self.db.execute(
            "INSERT INTO registrations (client_id, purposes) VALUES (?, ?) ON CONFLICT "
            "(client_id) DO UPDATE SET purposes = excluded.purposes",
            (client_id, json.dumps(sorted(set(purposes)))),
        )

    def grant_consent(
        self, pin: str, client_id: str, purpose: str, fields: list[str], expires_at: datetime
    ) -> dict[str, Any]:
        consent_id = uuid.uuid4().hex
        self.db.execute(
            "INSERT INTO consents (id, pin, client_id, purpose, fields, granted_at, expires_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                consent_id,
                pin,
                client_id,
                purpose,
                json.dumps(fields),
                self.clock.stamp(),
                expires_at.astimezone(VN_TZ).isoformat(timespec="seconds"),
            ),
        )
        consent = self.consent(consent_id)
        assert consent is not None
        return consent

    def consent(self, consent_id: str) -> dict[str, Any] | None:
        rows = self.db.execute("SELECT * FROM consents WHERE id = ?", (consent_id,))
        if not rows:
            return None
        consent = {k: v for k, v in rows[0].items() if v is not None}
        consent["fields"] = json.loads(consent["fields"])
        consent["status"] = self.consent_status(consent)
        return consent

    def consent_status(self, consent: dict[str, Any]) -> str:
        if consent.get("withdrawn_at"):
            return "withdrawn"
        expired = datetime.fromisoformat(consent["expires_at"]) <= self.clock.now()
        return "expired" if expired else "active"

    def withdraw_consent(self, consent_id: str) -> dict[str, Any] | None:
        self.db.execute(
            "UPDATE consents SET withdrawn_at = ? WHERE id = ? AND withdrawn_at IS NULL",
            (self.clock.stamp(), consent_id),
        )
        return self.consent(consent_id)

    # -- the change feed -------------------------------------------------------------------

    def append_change(self, kind: str, pin: str, client_id: str, data: dict[str, Any]) -> int:
        rows = self.db.execute(
            "INSERT INTO changes (at, kind, pin, client_id, data) VALUES (?, ?, ?, ?, ?) "
            "RETURNING seq",
            (self.clock.stamp(), kind, pin, client_id, json.dumps(data, ensure_ascii=False)),
        )
        return int(rows[0]["seq"])

    def changes(self, after: int, limit: int) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT seq, at, kind, pin, data FROM changes WHERE seq > ? ORDER BY seq LIMIT ?",
            (after, limit),
        )
        return [{**r, "seq": int(r["seq"]), "data": json.loads(r["data"])} for r in rows]

    # -- life events -----------------------------------------------------------------------

    def register_birth(
        self, client_id: str, birth: dict[str, Any], idempotency_key: str | None = None
    ) -> tuple[dict[str, Any], bool]:
        """A birth registered by civil status: a new citizen with a new PIN, no residence yet.

        Returns the answer and whether it is new. With an idempotency key, a repeat of the
        same request returns the first answer; the key is stored in the registration's own
        transaction, so a crash cannot keep one without the other."""
        body_hash = hashlib.sha256(json.dumps(birth, sort_keys=True).encode()).hexdigest()
        if idempotency_key is not None:
            earlier = self._earlier_answer(client_id, idempotency_key, body_hash)
            if earlier is not None:
                return earlier, False
        born = date.fromisoformat(birth["date_of_birth"])
        parents = {k: self._parent(birth.get(k), k, born) for k in ("father_pin", "mother_pin")}
        with self.db.transaction():
            pin = self._new_pin(birth["birth_registration_province"], birth["sex"], born.year)
            row = self._birth_row(pin, birth, parents)
            self.insert_citizens([tuple(row[c] for c in CITIZEN_COLUMNS)])
            self.append_change("birth", pin, client_id, {"date_of_birth": birth["date_of_birth"]})
            answer = {"pin": pin, "full_name": row["full_name"]}
            if idempotency_key is not None:
                self.db.execute(
                    "INSERT INTO idempotency (client_id, key, body_sha256, answer) "
                    "VALUES (?, ?, ?, ?)",
                    (client_id, idempotency_key, body_hash, json.dumps(answer, ensure_ascii=False)),
                )
        return answer, True

    def _earlier_answer(self, client_id: str, key: str, body_hash: str) -> dict[str, Any] | None:
        rows = self.db.execute(
            "SELECT body_sha256, answer FROM idempotency WHERE client_id = ? AND key = ?",
            (client_id, key),
        )
        if not rows:
            return None
        if rows[0]["body_sha256"] != body_hash:
            raise LifeEventError(
                "Idempotency-Key",
                "was used before with a different body",
                "send a new key for a new registration",
                422,
            )
        answer: dict[str, Any] = json.loads(rows[0]["answer"])
        return answer

    def _parent(self, pin: str | None, field: str, born: date) -> dict[str, Any] | None:
        if pin is None:
            return None
        parent = self.get(pin)
        if parent is None:
            raise LifeEventError(
                field, f"no citizen has the PIN {pin}", "register the parent first", 404
            )
        if (
            parent["date_of_birth"]
            > date(born.year - 18, born.month, min(born.day, 28)).isoformat()
        ):
            raise LifeEventError(field, f"{pin} is not 18 years older than the child")
        return parent

    def _new_pin(self, province: str, sex: str, year: int) -> str:
        # Serials from the never-issued range, so a registered birth can't collide with
        # the generated population; retry on the rare clash between two registrations.
        rng = random.Random()
        low = (PinSpace.ISSUED_PER_CHUNK + PinSpace.OLD_PER_CHUNK) * PinSpace.MAX_CHUNKS
        for _ in range(20):
            pin = encode_pin(province, sex, year, rng.randrange(low, 1_000_000))  # type: ignore[arg-type]
            if self.get(pin) is None:
                return pin
        raise LifeEventError("birth_registration_province", "no free PIN found; try again")

    def _birth_row(
        self, pin: str, birth: dict[str, Any], parents: dict[str, Any]
    ) -> dict[str, Any]:
        father, mother = parents["father_pin"], parents["mother_pin"]
        first = father or mother
        row = dict.fromkeys(CITIZEN_COLUMNS)
        row.update(
            pin=pin,
            full_name=birth["full_name"],
            date_of_birth=birth["date_of_birth"],
            sex=birth["sex"],
            birth_registration_province=birth["birth_registration_province"],
            native_place=first["native_place"]
            if first
            else province_name(birth["birth_registration_province"]),
            ethnicity=birth.get("ethnicity", first["ethnicity"] if first else "01"),
            religion=birth.get("religion", "Không"),
            nationality=birth.get("nationality", "VN"),
            marital_status="single",
            father_pin=father and father["pin"],
            mother_pin=mother and mother["pin"],
            legal_representative_pin=first and first["pin"],
            vneid_level=0,
            hard_case="newborn",
        )
        return row

    def record_death(self, client_id: str, pin: str, died: str) -> dict[str, Any]:
        citizen = self._living(pin)
        if died < citizen["date_of_birth"]:
            raise LifeEventError("date_of_death", "is before the date of birth")
        with self.db.transaction():
            self.db.execute(
                "UPDATE citizens SET date_of_death = ?, permanent_address = NULL, "
                "permanent_ward = NULL, temporary_address = NULL, temporary_ward = NULL, "
                "current_address = NULL, current_ward = NULL, household_id = NULL, "
                "relationship_to_head = NULL, vneid_level = 0 WHERE pin = ?",
                (died, pin),
            )
            # A court may declare a missing person dead (Civil Code art. 71): death wins.
            self.db.execute("DELETE FROM disappearances WHERE pin = ?", (pin,))
            if citizen["spouse_pin"]:
                self.db.execute(
                    "UPDATE citizens SET marital_status = 'widowed' WHERE pin = ?",
                    (citizen["spouse_pin"],),
                )
            self.append_change("death", pin, client_id, {"date_of_death": died})
        return {**citizen, "date_of_death": died}

    def change_residence(self, client_id: str, pin: str, change: dict[str, Any]) -> dict[str, Any]:
        """A move registered by the police: permanent (joins or founds a household) or
        temporary (the current address follows it)."""
        self._living(pin)
        kind, ward = change["kind"], change["ward"]
        address = f"{change['address']}, {ward_name(ward)}"
        with self.db.transaction():
            if kind == "permanent":
                self._move_permanently(pin, address, ward, change)
            else:
                self.db.execute(
                    "UPDATE citizens SET temporary_address = ?, temporary_ward = ?, "
                    "current_address = ?, current_ward = ? WHERE pin = ?",
                    (address, ward, address, ward, pin),
                )
            self.append_change("residence", pin, client_id, {"kind": kind, "ward": ward})
        updated = self.get(pin)
        assert updated is not None
        return updated

    def _move_permanently(self, pin: str, address: str, ward: str, change: dict[str, Any]) -> None:
        household = change.get("household_id")
        role = change.get("relationship_to_head", "khác")
        if household is None:
            household, role = f"HO{pin[:3]}{uuid.uuid4().hex[:10].upper()}", "chủ hộ"
        else:
            members = self.household(household)
            if not members:
                raise LifeEventError(
                    "/household_id", f"no household {household}", "omit it to found one", 404
                )
            address, ward = members[0]["permanent_address"], members[0]["permanent_ward"]
        self.db.execute(
            "UPDATE citizens SET permanent_address = ?, permanent_ward = ?, current_address = ?, "
            "current_ward = ?, temporary_address = NULL, temporary_ward = NULL, household_id = ?, "
            "relationship_to_head = ?, hard_case = CASE WHEN hard_case = 'newborn' THEN NULL "
            "ELSE hard_case END WHERE pin = ?",
            (address, ward, address, ward, household, role, pin),
        )

    def _living(self, pin: str) -> dict[str, Any]:
        citizen = self.get(pin)
        if citizen is None:
            raise LifeEventError("pin", f"no citizen has the PIN {pin}", "check the PIN", 404)
        if citizen["date_of_death"]:
            raise LifeEventError("pin", f"{pin} died on {citizen['date_of_death']}")
        return citizen

    # -- temporary absence (Law on Residence 2020, art. 31) ----------------------------------

    def declare_absence(self, client_id: str, absence: dict[str, Any]) -> dict[str, Any]:
        """The police recorded that a citizen leaves their commune for a while; at most one
        absence is open per citizen (they return, or it lapses, before the next)."""
        pin = absence["pin"]
        self._present(pin)
        if absence["returns_on"] < absence["departed_on"]:
            raise LifeEventError("/returns_on", "is before departed_on", "the planned return date")
        today = self.clock.today().isoformat()
        open_ = self.open_absence(pin, today)
        if open_ is not None:
            raise LifeEventError(
                "/pin",
                f"{pin} already has temporary absence {open_['id']} until {open_['returns_on']}",
                "record the return first (POST /v1/temporary-absences/{id}/return)",
            )
        with self.db.transaction():
            rows = self.db.execute(
                "INSERT INTO absences (pin, departed_on, returns_on, destination, reason, "
                "client_id) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    pin,
                    absence["departed_on"],
                    absence["returns_on"],
                    absence["destination"],
                    absence.get("reason"),
                    client_id,
                ),
            )
            data = {k: absence[k] for k in ("departed_on", "returns_on")}
            self.append_change("temporary-absence", pin, client_id, data)
        found = self.absence(int(rows[0]["id"]))
        assert found is not None
        return found

    def record_return(self, client_id: str, absence_id: int, returned_on: str) -> dict[str, Any]:
        absence = self.absence(absence_id)
        if absence is None:
            raise LifeEventError(
                "absence_id", f"no temporary absence {absence_id}", "check the id", 404
            )
        if absence.get("returned_on"):
            raise LifeEventError(
                "absence_id", f"the citizen already returned on {absence['returned_on']}"
            )
        if returned_on < absence["departed_on"]:
            raise LifeEventError(
                "/returned_on", "is before the departure", "the day they came back"
            )
        with self.db.transaction():
            self.db.execute(
                "UPDATE absences SET returned_on = ? WHERE id = ?", (returned_on, absence_id)
            )
            self.append_change("return", absence["pin"], client_id, {"returned_on": returned_on})
        return {**absence, "returned_on": returned_on, "status": "returned"}

    def absence(self, absence_id: int) -> dict[str, Any] | None:
        rows = self.db.execute("SELECT * FROM absences WHERE id = ?", (absence_id,))
        return self._absence_view(rows[0]) if rows else None

    def open_absence(self, pin: str, today: str | None = None) -> dict[str, Any] | None:
        """The citizen's absence that has not ended by `today` (the simulated clock's)."""
        today = today or self.clock.today().isoformat()
        rows = self.db.execute(
            "SELECT * FROM absences WHERE pin = ? AND returned_on IS NULL AND returns_on >= ? "
            "ORDER BY id DESC LIMIT 1",
            (pin, today),
        )
        return self._absence_view(rows[0]) if rows else None

    def _absence_view(self, row: dict[str, Any]) -> dict[str, Any]:
        # The status is derived from the clock at read time, so moving the clock needs no
        # write: planned (not left yet), absent, returned, or lapsed (return date passed).
        today = self.clock.today().isoformat()
        view = {k: v for k, v in row.items() if v is not None and k != "client_id"}
        view["id"] = int(view["id"])
        if row["returned_on"]:
            view["status"] = "returned"
        elif row["returns_on"] < today:
            view["status"] = "lapsed"
        else:
            view["status"] = "planned" if row["departed_on"] > today else "absent"
        return view

    # -- a court's declaration that a person is missing (Civil Code 2015, art. 68 and 70) ----

    def declare_missing(self, client_id: str, pin: str, declared_on: str, ref: str) -> None:
        citizen = self._present(pin)
        if declared_on < citizen["date_of_birth"]:
            raise LifeEventError("/declared_on", "is before the date of birth")
        with self.db.transaction():
            self.db.execute(
                "INSERT INTO disappearances (pin, declared_on, decision_ref, client_id) "
                "VALUES (?, ?, ?, ?)",
                (pin, declared_on, ref, client_id),
            )
            data = {"declared_on": declared_on, "decision_ref": ref}
            self.append_change("disappearance", pin, client_id, data)

    def revoke_missing(self, client_id: str, pin: str, revoked_on: str, ref: str) -> str:
        """The person came back: the court revokes its declaration; returns declared_on."""
        declared = self.missing_since(pin)
        if declared is None:
            raise LifeEventError("pin", f"{pin} is not declared missing", "check the PIN", 404)
        if revoked_on < declared:
            raise LifeEventError("/revoked_on", f"is before the declaration of {declared}")
        with self.db.transaction():
            self.db.execute("DELETE FROM disappearances WHERE pin = ?", (pin,))
            data = {"revoked_on": revoked_on, "decision_ref": ref, "declared_on": declared}
            self.append_change("disappearance-revoked", pin, client_id, data)
        return declared

    def missing_since(self, pin: str) -> str | None:
        rows = self.db.execute("SELECT declared_on FROM disappearances WHERE pin = ?", (pin,))
        return str(rows[0]["declared_on"]) if rows else None

    def status_cases(self, kind: str, count: int) -> list[dict[str, Any]]:
        """Citizens now away from home (`absent`, with their `temporary_absence`) or declared
        missing (`missing`), in PIN order."""
        if kind == "missing":
            pins = self.db.execute("SELECT pin FROM disappearances ORDER BY pin LIMIT ?", (count,))
        else:
            today = self.clock.today().isoformat()
            pins = self.db.execute(
                "SELECT DISTINCT pin FROM absences WHERE returned_on IS NULL "
                "AND departed_on <= ? AND returns_on >= ? ORDER BY pin LIMIT ?",
                (today, today, count),
            )
        citizens = [self.get(r["pin"]) for r in pins]
        found = [c for c in citizens if c is not None]
        if kind == "absent":
            for citizen in found:
                citizen["temporary_absence"] = self.open_absence(citizen["pin"])
        return found

    def _present(self, pin: str) -> dict[str, Any]:
        """A living citizen not declared missing: the only one who can leave or vanish."""
        citizen = self._living(pin)
        declared = self.missing_since(pin)
        if declared is not None:
            raise LifeEventError("pin", f"{pin} has been declared missing since {declared}")
        return citizen
