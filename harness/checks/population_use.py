"""How the agency uses the population database (Decree 13/2023, DOMAIN.md §8): a declared
purpose with its legal basis or the citizen's consent on every read, no field beyond what
the purpose allows, and no use of a consent the citizen has withdrawn.

Judged from the database's own audit log, which records every read the agency made or
tried — allowed or refused — with the fields, purpose, legal basis and consent.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from harness.checks.journey import Journey, follow, journeys
from harness.checks.registry import check
from harness.context import CheckContext
from harness.errors import EnvironmentProblem, Failure, Skip
from harness.records import Finding
from harness.samples import dossier_for
from harness.sandbox_api import (
    agency_token,
    audit_entries,
    grant_consent,
    last_audit_id,
    purpose_catalogue,
    sample_citizens,
    withdraw_consent,
)

__all__ = ["CONSENT_FIELD", "consent_respected", "reads_declare_purpose", "reads_minimal"]

_READS = frozenset({"lookup", "household"})
# Where the dossier carries the citizen's VNeID consent id (specs/agency.yaml) [ours].
CONSENT_FIELD = "MaDongY"
_CONSENT_PURPOSE = "administrative-procedure"
_SUPPLEMENT_REQUESTED = 5


def _reads(entries: Any) -> list[dict[str, Any]]:
    return [e for e in entries if e.get("operation") in _READS]


def _describe(entry: dict[str, Any]) -> str:
    basis = (
        f"consent {str(entry['consent_id'])[:12]}…"
        if entry.get("consent_id")
        else f"purpose {entry.get('purpose')!r}, legal basis {entry.get('legal_basis')!r}"
    )
    return (
        f"{entry.get('operation')} of {entry.get('fields')} under {basis} → {entry.get('result')}"
    )


@check("POP-LOOKUP-PURPOSE@1")
def reads_declare_purpose(ctx: CheckContext) -> str:
    """Every read of a citizen's record declares a purpose and legal basis, or a consent."""
    seen = journeys(ctx)
    reads = _reads(seen.audit)
    if not reads:
        raise Skip("the agency read no citizen record beyond verification; nothing to judge")
    bare = [
        e
        for e in reads
        if not e.get("consent_id") and not (e.get("purpose") and e.get("legal_basis"))
    ]
    if bare:
        raise Failure(
            Finding(
                "The agency read a citizen's record without a purpose and legal basis or consent",
                observed="; ".join(_describe(e) for e in bare[:5]),
                expected="purpose and legal_basis (or consent_id) on every lookup",
                exchange_ids=(seen.audit_evidence, seen.genuine.submit_exchange),
            )
        )
    return f"{len(reads)} read(s) of the applicant's record, each with its purpose or consent"


@check("POP-LOOKUP-MINIMAL@1")
def reads_minimal(ctx: CheckContext) -> str:
    """The agency asks only for the fields its declared purpose allows."""
    seen = journeys(ctx)
    reads = [e for e in _reads(seen.audit) if e.get("purpose") and not e.get("consent_id")]
    if not reads:
        raise Skip("the agency read no citizen record under a declared purpose; nothing to judge")
    catalogue = purpose_catalogue(ctx)
    excess = [
        (e, sorted(set(e.get("fields", [])) - catalogue.get(str(e["purpose"]), frozenset())))
        for e in reads
    ]
    excess = [(e, extra) for e, extra in excess if extra]
    if excess:
        raise Failure(
            Finding(
                "The agency asked for fields its declared purpose does not allow",
                observed="; ".join(
                    f"{_describe(e)}; beyond the purpose: {x}" for e, x in excess[:5]
                ),
                expected="only fields in the purpose's set (GET /v1/purposes)",
                exchange_ids=(seen.audit_evidence, seen.genuine.submit_exchange),
            )
        )
    purposes = sorted({str(e["purpose"]) for e in reads})
    return f"{len(reads)} read(s), every field within the purpose {', '.join(purposes)}"


@dataclass(frozen=True, slots=True)
class ConsentStory:
    """A dossier carrying the citizen's consent, the consent withdrawn mid-way, and what
    the agency read before and after."""

    consent_id: str
    journey: Journey
    before: tuple[dict[str, Any], ...]
    after: tuple[dict[str, Any], ...]
    evidence: str


def _consent_story(ctx: CheckContext) -> ConsentStory:
    citizens = sample_citizens(ctx, 2)
    citizen = citizens[-1]  # not the applicant of the other journeys
    client = ctx.target.agency_id
    fields = sorted(purpose_catalogue(ctx).get(_CONSENT_PURPOSE, frozenset()))
    consent_id = grant_consent(ctx, citizen["pin"], purpose=_CONSENT_PURPOSE, fields=fields)
    since = last_audit_id(ctx, client, pin=citizen["pin"])
    # ThieuGiayTo pauses the dossier at 5, so there is a "later" in which to withdraw.
    data = {CONSENT_FIELD: consent_id, "ThieuGiayTo": True}
    journey = follow(
        ctx, "consenting applicant", citizen["pin"], dossier_for(ctx, citizen, data=data)
    )
    if journey.agency_status != _SUPPLEMENT_REQUESTED:
        raise Skip(
            f"the dossier reached status {journey.agency_status}, not 5 (supplementation "
            "requested); the withdrawal scenario needs the sandbox's reference form data"
        )
    before = audit_entries(ctx, client, pin=citizen["pin"], after_id=since)
    withdraw_consent(ctx, consent_id)
    mark = last_audit_id(ctx, client, pin=citizen["pin"])
    _supplement_and_wait(ctx, journey)
    after = audit_entries(ctx, client, pin=citizen["pin"], after_id=mark)
    evidence = ctx.observe(
        "population-audit-log",
        {"client_id": client, "consent_id": consent_id, "before": before, "after": after},
    )
    return ConsentStory(consent_id, journey, tuple(before), tuple(after), evidence)


def _supplement_and_wait(ctx: CheckContext, journey: Journey) -> None:
    """Answer the supplementation request; wait until the agency has moved on from 5."""
    token = agency_token(ctx)
    reply = ctx.request(
        "POST",
        ctx.target_url(f"/dossiers/{journey.dossier_code}/supplements"),
        json={
            "NgayBoSung": time.strftime("%Y%m%d%H%M%S", time.gmtime(time.time() + 7 * 3600)),
            "TaiLieuNop": [{"TenTepDinhKem": "giay-to-bo-sung.pdf"}],
        },
        headers={"Authorization": f"Bearer {token}"},
    )
    if reply.status not in (200, 202):
        raise EnvironmentProblem(
            f"the agency answered {reply.status} to a supplement for a dossier at status 5"
        )
    deadline = time.monotonic() + ctx.settings.sync_timeout_s
    while time.monotonic() < deadline:
        status = ctx.request(
            "GET",
            ctx.target_url(f"/dossiers/{journey.dossier_code}"),
            headers={"Authorization": f"Bearer {token}"},
        )
        body = status.json() if status.status == 200 else None
        if isinstance(body, dict) and body.get("TrangThaiHoSo") not in (None, 5):
            time.sleep(1.0)  # let any read that follows the resumption land in the log
            return
        time.sleep(0.25)


@check("POP-CONSENT-WITHDRAWN@1")
def consent_respected(ctx: CheckContext) -> str:
    """Once the citizen withdraws a consent, the agency reads nothing more under it."""
    story = ctx.memo("consent-story", _consent_story)
    used = [e for e in _reads(story.before) if e.get("consent_id") == story.consent_id]
    if not used:
        raise Skip(
            "the agency never read the record under the citizen's consent "
            f"(DuLieuHoSo.{CONSENT_FIELD}); withdrawal cannot be judged"
        )
    reused = [e for e in _reads(story.after) if e.get("consent_id") == story.consent_id]
    if reused:
        raise Failure(
            Finding(
                "The agency used a consent the citizen had withdrawn",
                observed="; ".join(_describe(e) for e in reused[:5]),
                expected="no read under the consent after its withdrawal "
                "(check GET /v1/consents/{id} before each use)",
                exchange_ids=(story.evidence, *story.journey.evidence_ids),
            )
        )
    return (
        f"{len(used)} read(s) under the consent before its withdrawal, none after "
        f"({len(_reads(story.after))} read(s) of other kinds after)"
    )
