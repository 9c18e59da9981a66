"""How the reference agency reads an applicant's record at the population database.

Decree 13/2023 (DOMAIN.md §8) asks three things of every read, and the reference agency
does all three, each behind a switch the faulty catalogue turns off:
- it asks only for the fields the procedure needs (`minimal_lookup`);
- it declares the purpose and the legal basis (`declare_purpose`), or presents the
  citizen's VNeID consent when the dossier carries one;
- it checks that consent is still active before every use, since the citizen can withdraw
  it at any time (`honour_withdrawn_consent`) — and then reads nothing under it.

The record is read when the dossier is accepted and again when processing resumes after
a supplement (the residence may have changed meanwhile). A refused or failed read never
blocks the dossier: the data fills the form, the decision rests on the verification.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from simulators.agencies.catalogue import Behaviour

__all__ = [
    "CONSENT_FIELD",
    "LEGAL_BASIS",
    "PURPOSE",
    "RESIDENCE_FIELDS",
    "ApplicantReader",
    "Call",
]

log = logging.getLogger(__name__)

# What temporary-residence registration needs from the record: where the applicant lives
# permanently and now. The purpose and legal basis are the sandbox's [ours].
RESIDENCE_FIELDS = ("permanent_address", "permanent_ward", "current_address")
PURPOSE = "administrative-procedure"
LEGAL_BASIS = "Luật Cư trú 2020; Nghị định 154/2024/NĐ-CP"
# Where a dossier carries the id of the VNeID consent its applicant gave [ours].
CONSENT_FIELD = "MaDongY"
# What an agency that over-asks reaches for on top (family data the purpose does not allow).
_OVER_ASKED = ("father_pin", "mother_pin", "household_id")

# (method, url, scope, params) → the population database's answer.
Call = Callable[[str, str, str, dict[str, str] | None], Awaitable[httpx.Response]]


@dataclass(frozen=True, slots=True)
class ApplicantReader:
    population_url: str
    behaviour: Behaviour
    call: Call

    async def read(self, pin: str, dossier_data: dict[str, Any]) -> dict[str, Any] | None:
        """The applicant's residence fields, or None when nothing may or could be read."""
        consent_id = dossier_data.get(CONSENT_FIELD)
        if isinstance(consent_id, str) and consent_id:
            params = await self._consent_params(consent_id)
        else:
            params = self._purpose_params()
        if params is None:
            return None
        fields = list(RESIDENCE_FIELDS)
        if not self.behaviour.minimal_lookup:
            fields += _OVER_ASKED
        params["fields"] = ",".join(fields)
        url = f"{self.population_url}/v1/citizens/{pin}"
        response = await self.call("GET", url, "citizen.read.residence", params)
        if response.status_code != 200:
            log.warning(
                "lookup of the applicant refused (%s): %s",
                response.status_code,
                response.text[:300],
            )
            return None
        record = response.json()
        return record if isinstance(record, dict) else None

    def _purpose_params(self) -> dict[str, str]:
        if not self.behaviour.declare_purpose:
            return {}
        return {"purpose": PURPOSE, "legal_basis": LEGAL_BASIS}

    async def _consent_params(self, consent_id: str) -> dict[str, str] | None:
        """Use the consent only while it is active; a withdrawn or expired one means no
        read at all — not a fall-back to a purpose the citizen did not choose."""
        if self.behaviour.honour_withdrawn_consent:
            url = f"{self.population_url}/v1/consents/{consent_id}"
            response = await self.call("GET", url, "citizen.read.residence", None)
            status = response.json().get("status") if response.status_code == 200 else None
            if status != "active":
                log.info(
                    "consent %s is %s; the applicant's record is not read",
                    consent_id[:40],
                    status or "unknown",
                )
                return None
        return {"consent_id": consent_id}
