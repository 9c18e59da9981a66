"""How an agency behaves, and the catalogue of faulty variants the harness must catch.

The reference agency is `Behaviour()`: every switch on. A fault turns exactly one
switch off and names the requirement(s) a correct harness must then fail — the harness's
own test bed (as schemathesis keeps `test/apps/catalog`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

__all__ = ["FAULTS", "REFERENCE", "STRICT_REFERENCE", "Behaviour", "Fault", "fault_named"]


@dataclass(frozen=True, slots=True)
class Behaviour:
    # Token checks the agency skips (names from simulators.common.tokens.SKIPPABLE_CHECKS).
    skipped_token_checks: frozenset[str] = field(default_factory=frozenset)
    enforce_scope: bool = True
    verify_applicant: bool = True
    sync_status: bool = True
    dvc_date_format: bool = True
    vn_timestamps: bool = True  # NgayCapNhat in Vietnam time; off, a server clock left on UTC
    working_day_deadlines: bool = True  # NgayHenTra in working days; off, calendar days
    result_documents: bool = True  # 9 and 10 list the result (DanhSachGiayToKetQua)
    idempotent_resubmission: bool = True
    discreet_errors: bool = True
    # The contract (AGY-NO-SERVER-ERROR, AGY-CONTRACT, AGY-REJECT-INVALID; app.py).
    any_applicant_name: bool = True  # off: a one-word HoVaTen crashes the name split (500)
    problem_not_found: bool = True  # off: an unknown dossier is a bare {"detail": ...} JSON 404
    validate_submissions: bool = True  # off: only the fields it reads are checked, by hand
    retry_transient: bool = True  # at the population database
    retry_portal_transient: bool = True  # status syncs the portal answers 503
    honour_retry_after: bool = True  # off: its own back-off (0.5, 1, 2 s), header ignored
    time_limit_population: bool = True  # off: waits as long as the population database takes
    time_limit_portal: bool = True  # off: waits as long as the portal takes to answer a sync
    lock_withdrawn: bool = True  # a withdrawn dossier takes no payment
    limit_rate: bool = True  # a per-client token bucket (ratelimit.py)
    limit_with_429: bool = True  # a client over its rate is answered 429, not 503
    # Reading the applicant's record (lookups.py): purpose, minimal fields, live consent.
    declare_purpose: bool = True
    minimal_lookup: bool = True
    honour_withdrawn_consent: bool = True
    # Every procedure it handles asks for the online payment its form requests; off, only
    # temporary residence does (the one procedure the checks other than AGY-SCENARIOS submit).
    online_payment_every_procedure: bool = True

    # The strict security profile (DOMAIN.md §8; strict.py): served over TLS with client
    # certificates, certificate-bound tokens and RFC 9421 signatures. Off: baseline.
    strict: bool = False
    modern_tls_only: bool = True  # TLS 1.2 and 1.3; off, 1.0 and 1.1 too
    require_client_certificate: bool = True
    enforce_token_binding: bool = True  # cnf x5t#S256 = the presented certificate
    require_signatures: bool = True  # off: an unsigned request is let through
    check_content_digest: bool = True
    check_signature_age: bool = True
    reject_replayed_nonces: bool = True


REFERENCE = Behaviour()
STRICT_REFERENCE = Behaviour(strict=True)


@dataclass(frozen=True, slots=True)
class Fault:
    name: str
    description: str
    breaks: tuple[str, ...]
    behaviour: Behaviour
    profile: str = "baseline"  # the certification profile that must catch it


def _strict(name: str, description: str, breaks: str, **switches: Any) -> Fault:
    return Fault(name, description, (breaks,), replace(STRICT_REFERENCE, **switches), "strict")


_STRICT_FAULTS = (
    _strict(
        "accepts-tls-1.1",
        "still completes TLS 1.0 and 1.1 handshakes",
        "SEC-TLS-VERSION@1",
        modern_tls_only=False,
    ),
    _strict(
        "accepts-no-client-certificate",
        "makes the client certificate optional and then takes the token as a plain bearer",
        "SEC-MTLS@1",
        require_client_certificate=False,
    ),
    _strict(
        "ignores-token-binding",
        "accepts tokens bound to another certificate, or to none",
        "SEC-TOKEN-BINDING@1",
        enforce_token_binding=False,
    ),
    _strict(
        "accepts-unsigned-requests",
        "verifies a message signature when there is one, but lets unsigned requests through",
        "SEC-SIG-REQUIRED@1",
        require_signatures=False,
    ),
    _strict(
        "ignores-body-digest",
        "verifies the signature over Content-Digest but never compares it with the body",
        "SEC-SIG-TAMPER@1",
        check_content_digest=False,
    ),
    _strict(
        "accepts-stale-signatures",
        "accepts signatures however long ago they were created",
        "SEC-SIG-STALE@1",
        check_signature_age=False,
    ),
    _strict(
        "accepts-replayed-nonces",
        "never remembers nonces, so a captured request can be sent again",
        "SEC-SIG-REPLAY@1",
        reject_replayed_nonces=False,
    ),
)


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
            "accepts-missing-token",
            "treats a request without an Authorization header as coming from the trusted "
            "government network, with the portal's rights",
            ("SEC-TOKEN-MISSING@1",),
            _skips("presence"),
        ),
        Fault(
            "accepts-forged-signatures",
            "checks the token's algorithm against its allow-list, then reads the claims "
            "without verifying the signature",
            ("SEC-TOKEN-SIGNATURE@1",),
            _skips("signature"),
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
            "utc-timestamps",
            "writes NgayCapNhat from a server clock on UTC: seven hours behind Vietnam time",
            ("SYNC-TIMESTAMPS@1",),
            Behaviour(vn_timestamps=False),
        ),
        Fault(
            "calendar-day-deadlines",
            "counts NgayHenTra in calendar days with the day of filing as day one, ignoring "
            "weekends, holidays and the 15:00 cut-off",
            ("SYNC-DUE-DATE@1",),
            Behaviour(working_day_deadlines=False),
        ),
        Fault(
            "result-without-documents",
            "finishes and delivers dossiers (9, 10) without listing the result documents",
            ("SYNC-RESULT@1",),
            Behaviour(result_documents=False),
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
            # Nor does it retry a call cut off by its time limit while the database hangs.
            ("RES-TRANSIENT-RETRY@1", "RES-SLOW-DEPENDENCY@1"),
            Behaviour(retry_transient=False),
        ),
        Fault(
            "drops-syncs-on-portal-outage",
            "sends each status sync once and drops it when the portal answers 503",
            # A 429 the same: it sends the next status at once and never the refused one;
            # and a sync cut off by its time limit while the portal hangs is not retried.
            ("RES-PORTAL-RETRY@1", "RES-RETRY-AFTER@1", "RES-SLOW-PORTAL@1"),
            Behaviour(retry_portal_transient=False),
        ),
        Fault(
            "ignores-retry-after",
            "retries 429 and 503 on its own schedule (0.5, 1, 2 s), sooner than Retry-After asks",
            ("RES-RETRY-AFTER@1",),
            Behaviour(honour_retry_after=False),
        ),
        Fault(
            "waits-forever-on-population",
            "puts no time limit on population-database calls, so a hung call holds the dossier",
            ("RES-SLOW-DEPENDENCY@1",),
            Behaviour(time_limit_population=False),
        ),
        Fault(
            "waits-forever-on-portal",
            "puts no time limit on status syncs, so a portal that hangs holds the dossier's syncs",
            ("RES-SLOW-PORTAL@1",),
            Behaviour(time_limit_portal=False),
        ),
        Fault(
            "accepts-payment-after-withdrawal",
            "takes a payment on a withdrawn dossier and moves it back to processing (7 → 4)",
            ("AGY-LIFECYCLE@1",),
            Behaviour(lock_withdrawn=False),
        ),
        Fault(
            "never-rate-limits",
            "serves one client however fast it sends, until the agency slows for everyone",
            ("SEC-RATE-LIMIT@1",),
            Behaviour(limit_rate=False),
        ),
        Fault(
            "sheds-load-with-503",
            "answers a client over its rate with 503 (a server error) instead of 429",
            ("SEC-RATE-LIMIT@1",),
            Behaviour(limit_with_429=False),
        ),
        Fault(
            "reads-without-purpose",
            "reads the applicant's record without declaring a purpose or legal basis",
            ("POP-LOOKUP-PURPOSE@1",),
            Behaviour(declare_purpose=False),
        ),
        Fault(
            "over-asks-fields",
            "asks for the applicant's parents and household beyond what its purpose allows",
            ("POP-LOOKUP-MINIMAL@1",),
            Behaviour(minimal_lookup=False),
        ),
        Fault(
            "uses-withdrawn-consent",
            "keeps reading under a VNeID consent after the citizen withdrew it",
            ("POP-CONSENT-WITHDRAWN@1",),
            Behaviour(honour_withdrawn_consent=False),
        ),
        Fault(
            "desk-fees-beyond-temporary-residence",
            "asks for the online payment on temporary residence only, and leaves every other "
            "procedure's fee (e.g. a birth group's residence registration) for the desk",
            ("AGY-SCENARIOS@1",),
            Behaviour(online_payment_every_procedure=False),
        ),
        Fault(
            "verbose-errors",
            "puts debug details, the server version and the caller's data in error answers",
            ("SEC-ERROR-DISCLOSURE@1",),
            Behaviour(discreet_errors=False),
        ),
        Fault(
            "crashes-on-one-word-names",
            "splits the applicant's name into family and given name and fails with a server "
            "error when HoVaTen is a single word",
            ("AGY-NO-SERVER-ERROR@1",),
            Behaviour(any_applicant_name=False),
        ),
        Fault(
            "undocumented-answers",
            "answers an unknown dossier with its framework's default 404, plain JSON "
            "{detail: Not Found}, instead of the documented problem+json",
            ("AGY-CONTRACT@1",),
            Behaviour(problem_not_found=False),
        ),
        Fault(
            "accepts-invalid-dossiers",
            "checks by hand only the submission fields it reads, so a dossier with a malformed "
            "PIN, an unknown channel, unknown fields or a malformed Idempotency-Key is accepted",
            ("AGY-REJECT-INVALID@1",),
            Behaviour(validate_submissions=False),
        ),
        *_STRICT_FAULTS,
    )
}


def fault_named(name: str) -> Fault:
    try:
        return FAULTS[name]
    except KeyError:
        known = ", ".join(sorted(FAULTS))
        raise ValueError(f"unknown fault {name!r}; the catalogue has: {known}") from None
