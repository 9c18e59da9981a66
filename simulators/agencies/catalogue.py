"""How an agency behaves, and the catalogue of faulty variants the harness must catch.

The reference agency is `Behaviour()`: every switch on. A fault turns exactly one
switch off and names the requirement(s) a correct harness must then fail — the harness's
own test bed (as schemathesis keeps `test/apps/catalog`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["FAULTS", "REFERENCE", "Behaviour", "Fault", "fault_named"]


@dataclass(frozen=True, slots=True)
class Behaviour:
    # Token checks the agency skips (names from simulators.common.tokens.SKIPPABLE_CHECKS).
    skipped_token_checks: frozenset[str] = field(default_factory=frozenset)
    enforce_scope: bool = True
    verify_applicant: bool = True
    sync_status: bool = True
    dvc_date_format: bool = True
    idempotent_resubmission: bool = True
    discreet_errors: bool = True
    retry_transient: bool = True


REFERENCE = Behaviour()


@dataclass(frozen=True, slots=True)
class Fault:
    name: str
    description: str
    breaks: tuple[str, ...]
    behaviour: Behaviour


def _skips(check: str) -> Behaviour:
    return Behaviour(skipped_token_checks=frozenset({check}))


FAULTS: dict[str, Fault] = {
    fault.name: fault
    for fault in (
        Fault(
            "accepts-wrong-audience",
            "accepts bearer tokens issued for another agency or service",
            ("SEC-TOKEN-AUD@1",),
            _skips("audience"),
        ),
        Fault(
            "accepts-expired-tokens",
            "accepts bearer tokens whose exp has passed",
            ("SEC-TOKEN-EXPIRED@1",),
            _skips("expiry"),
        ),
        Fault(
            "accepts-future-tokens",
            "accepts bearer tokens that are not valid yet (nbf)",
            ("SEC-TOKEN-NOT-YET-VALID@1",),
            _skips("not_before"),
        ),
        Fault(
            "accepts-foreign-issuer",
            "accepts tokens whose iss is not the identity provider",
            ("SEC-TOKEN-ISSUER@1",),
            _skips("issuer"),
        ),
        Fault(
            "accepts-alg-none",
            "trusts unsigned tokens that declare alg: none",
            ("SEC-TOKEN-ALG-NONE@1",),
            _skips("alg_none"),
        ),
        Fault(
            "ignores-scope",
            "lets a token without dossier.submit submit dossiers",
            ("SEC-TOKEN-SCOPE@1",),
            Behaviour(enforce_scope=False),
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
        Fault(
            "reprocesses-resubmissions",
            "treats an identical resubmission as a new dossier and processes it again",
            ("AGY-IDEMPOTENT-SUBMIT@1",),
            Behaviour(idempotent_resubmission=False),
        ),
        Fault(
            "gives-up-on-outage",
            "calls the population database once and leaves the dossier stuck on a 503",
            ("RES-TRANSIENT-RETRY@1",),
            Behaviour(retry_transient=False),
        ),
        Fault(
            "verbose-errors",
            "puts debug details, the server version and the caller's data in error answers",
            ("SEC-ERROR-DISCLOSURE@1",),
            Behaviour(discreet_errors=False),
        ),
    )
}


def fault_named(name: str) -> Fault:
    try:
        return FAULTS[name]
    except KeyError:
        known = ", ".join(sorted(FAULTS))
        raise ValueError(f"unknown fault {name!r}; the catalogue has: {known}") from None
