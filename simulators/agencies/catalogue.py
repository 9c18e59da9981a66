"""How an agency behaves, and the catalogue of faulty variants the harness must catch.

The reference agency is `Behaviour()`: every switch on. A fault turns exactly one
switch off and names the requirement(s) a correct harness must then fail — the harness's
own test bed (as schemathesis keeps `test/apps/catalog`).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FAULTS", "REFERENCE", "Behaviour", "Fault", "fault_named"]


@dataclass(frozen=True, slots=True)
class Behaviour:
    enforce_token_audience: bool = True
    verify_applicant: bool = True
    sync_status: bool = True
    dvc_date_format: bool = True


REFERENCE = Behaviour()


@dataclass(frozen=True, slots=True)
class Fault:
    name: str
    description: str
    breaks: tuple[str, ...]
    behaviour: Behaviour


FAULTS: dict[str, Fault] = {
    fault.name: fault
    for fault in (
        Fault(
            "accepts-wrong-audience",
            "accepts bearer tokens issued for another agency or service",
            ("SEC-TOKEN-AUD@1",),
            Behaviour(enforce_token_audience=False),
        ),
        Fault(
            "skips-applicant-verification",
            "accepts dossiers without verifying the applicant at the population database",
            ("POP-VERIFY-APPLICANT@1",),
            Behaviour(verify_applicant=False),
        ),
        Fault(
            "never-syncs-status",
            "processes dossiers but never syncs their status to the portal",
            ("SYNC-STATUS-TIMELY@1",),
            Behaviour(sync_status=False),
        ),
        Fault(
            "iso-dates-in-sync",
            "syncs status with ISO 8601 dates instead of yyyyMMddHHmmss",
            ("SYNC-STATUS-VALID@1",),
            Behaviour(dvc_date_format=False),
        ),
    )
}


def fault_named(name: str) -> Fault:
    try:
        return FAULTS[name]
    except KeyError:
        known = ", ".join(sorted(FAULTS))
        raise ValueError(f"unknown fault {name!r}; the catalogue has: {known}") from None
