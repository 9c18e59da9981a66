"""The dossier journey: submit dossiers as the portal would, then judge from the sandbox's
own logs what the agency did — whom it asked at the population database, what it synced.

Two dossiers per run: one for a real citizen with their true details (must be accepted,
verified and synced) and one with the same PIN under another name (must be refused).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from harness.checks.registry import check
from harness.context import CheckContext
from harness.errors import EnvironmentProblem, Failure, Skip
from harness.records import Finding
from harness.samples import dossier_for, next_dossier_code
from harness.sandbox_api import (
    agency_token,
    audit_entries,
    last_audit_id,
    sample_citizens,
    sync_records,
)
from harness.transport import Reply

__all__ = [
    "Journey",
    "applicant_verified_before_acceptance",
    "follow",
    "status_of",
    "status_sync_timeliness",
    "status_sync_validity",
    "submit_dossier",
]

_POLL_INTERVAL_S = 0.25
_SETTLED = frozenset({3, 4, 5, 6, 7, 8, 9, 10})  # past reception: the agency has decided


@dataclass(frozen=True, slots=True)
class Journey:
    """What happened to one submitted dossier, as the harness observed it."""

    label: str
    citizen_pin: str
    dossier_code: str
    submit_exchange: str
    agency_status: int | None
    syncs: tuple[dict[str, Any], ...]
    waited_s: float
    evidence_ids: tuple[str, ...]

    @property
    def accepted_syncs(self) -> list[dict[str, Any]]:
        return [s for s in self.syncs if s.get("accepted")]

    @property
    def latest_synced_status(self) -> int | None:
        accepted = self.accepted_syncs
        return status_of(accepted[-1]) if accepted else None


@dataclass(frozen=True, slots=True)
class Journeys:
    genuine: Journey
    impostor: Journey
    audit: tuple[dict[str, Any], ...]
    audit_evidence: str


def status_of(record: dict[str, Any]) -> int | None:
    value = record.get("payload", {}).get("TrangThaiHoSo")
    return value if isinstance(value, int) else None


def _agency_status(ctx: CheckContext, code: str, token: str) -> int | None:
    reply = ctx.request(
        "GET", ctx.target_url(f"/dossiers/{code}"), headers={"Authorization": f"Bearer {token}"}
    )
    body = reply.json()
    status = body.get("TrangThaiHoSo") if reply.status == 200 and isinstance(body, dict) else None
    return status if isinstance(status, int) else None


_CODE_RETRIES = 3
_CODE_SKIP = 250


def submit_dossier(ctx: CheckContext, dossier: dict[str, Any], token: str) -> Reply:
    """Submit; a 409 means the code belongs to a dossier of an earlier run today (the
    format leaves 10,000 a day), so move past that run's range and try again."""
    headers = {"Authorization": f"Bearer {token}"}
    reply = ctx.request("POST", ctx.target_url("/dossiers"), json=dossier, headers=headers)
    for _ in range(_CODE_RETRIES):
        if reply.status != 409:
            break
        for _ in range(_CODE_SKIP):
            dossier["MaHoSo"] = next_dossier_code(ctx)
        reply = ctx.request("POST", ctx.target_url("/dossiers"), json=dossier, headers=headers)
    return reply


def follow(
    ctx: CheckContext,
    label: str,
    citizen_pin: str,
    dossier: dict[str, Any],
    *,
    settled: frozenset[int] = _SETTLED,
) -> Journey:
    """Submit `dossier` and watch it until its current status, once in `settled`, has
    reached the portal (or the time limit passes)."""
    token = agency_token(ctx)
    submitted = submit_dossier(ctx, dossier, token)
    if submitted.status not in (200, 202):
        raise EnvironmentProblem(
            f"the agency answered {submitted.status} to a valid dossier "
            f"({label}); the journey could not start"
        )
    code = dossier["MaHoSo"]
    started = time.monotonic()
    deadline = started + ctx.settings.sync_timeout_s
    while True:
        status = _agency_status(ctx, code, token)
        syncs = tuple(sync_records(ctx, code))
        # Refused syncs count as arrived here: validity is judged by its own check.
        synced = [status_of(s) for s in syncs]
        if status in settled and synced and synced[-1] == status:
            break
        if time.monotonic() >= deadline:
            break
        time.sleep(_POLL_INTERVAL_S)
    observed = ctx.observe("portal-sync-log", {"dossier": code, "records": list(syncs)})
    return Journey(
        label,
        citizen_pin,
        code,
        submitted.exchange_id,
        status,
        syncs,
        time.monotonic() - started,
        (submitted.exchange_id, observed),
    )


def _run_journeys(ctx: CheckContext) -> Journeys:
    citizen = sample_citizens(ctx, 1)[0]
    client = ctx.target.agency_id
    since = last_audit_id(ctx, client, pin=citizen["pin"])
    genuine = follow(ctx, "genuine applicant", citizen["pin"], dossier_for(ctx, citizen))
    impostor_name = "Trần Thị Mạo Danh"
    impostor = follow(
        ctx,
        "mismatched applicant",
        citizen["pin"],
        dossier_for(ctx, citizen, full_name=impostor_name),
    )
    audit = tuple(audit_entries(ctx, client, pin=citizen["pin"], after_id=since))
    audit_id = ctx.observe("population-audit-log", {"client_id": client, "entries": list(audit)})
    return Journeys(genuine, impostor, audit, audit_id)


def journeys(ctx: CheckContext) -> Journeys:
    return ctx.memo("journeys", _run_journeys)


def _first_sync_at(journey: Journey, status: int) -> datetime | None:
    for record in journey.syncs:
        if status_of(record) == status:
            return datetime.fromisoformat(str(record["received_at"]))
    return None


@check("POP-VERIFY-APPLICANT@1")
def applicant_verified_before_acceptance(ctx: CheckContext) -> str:
    """The agency verifies applicants at the population database and refuses mismatches."""
    seen = journeys(ctx)
    findings = []
    verifications = [
        e
        for e in seen.audit
        if e.get("operation") == "verify" and e.get("pin") == seen.genuine.citizen_pin
    ]
    accepted_at = _first_sync_at(seen.genuine, 2)
    if not verifications:
        findings.append(
            Finding(
                "The applicant was never verified at the population database",
                observed="no verify call for the applicant's PIN from this agency in the audit log",
                expected="a verify call before the dossier is accepted (status 2)",
                exchange_ids=(seen.genuine.submit_exchange, seen.audit_evidence),
            )
        )
    elif (
        accepted_at
        and min(datetime.fromisoformat(str(e["at"])) for e in verifications) > accepted_at
    ):
        findings.append(
            Finding(
                "The applicant was verified only after the dossier was accepted",
                observed="first verify call after the status-2 sync",
                expected="verification before acceptance",
                exchange_ids=(seen.audit_evidence, *seen.genuine.evidence_ids),
            )
        )
    if seen.impostor.agency_status in (2, 4) or seen.impostor.latest_synced_status in (2, 4):
        findings.append(
            Finding(
                "A dossier whose applicant does not match the population database was accepted",
                observed=f"agency status {seen.impostor.agency_status}, "
                f"portal status {seen.impostor.latest_synced_status}",
                expected="refusal at reception (status 3)",
                exchange_ids=seen.impostor.evidence_ids,
            )
        )
    if findings:
        raise Failure(*findings)
    return (
        f"{len(verifications)} verification(s) of the applicant before acceptance; "
        "the mismatched applicant was refused"
    )


@check("SYNC-STATUS-TIMELY@1")
def status_sync_timeliness(ctx: CheckContext) -> str:
    """Every status the agency reaches is synced to the portal within the time limit."""
    seen = journeys(ctx)
    limit = ctx.settings.sync_timeout_s
    findings = [
        Finding(
            f"The {j.label}'s dossier status did not reach the portal in time",
            observed=f"agency status {j.agency_status}; statuses at the portal: "
            f"{[status_of(s) for s in j.syncs] or 'none'} after {j.waited_s:.1f} s",
            expected=f"the agency's current status (past 1) synced within {limit:g} s",
            exchange_ids=j.evidence_ids,
        )
        for j in (seen.genuine, seen.impostor)
        if j.agency_status not in _SETTLED | {2}
        or not any(status_of(s) == j.agency_status for s in j.syncs)
    ]
    if findings:
        raise Failure(*findings)
    return (
        f"statuses {[status_of(s) for s in seen.genuine.syncs]} and "
        f"{[status_of(s) for s in seen.impostor.syncs]} reached the portal within {limit:g} s"
    )


@check("SYNC-STATUS-VALID@1")
def status_sync_validity(ctx: CheckContext) -> str:
    """Every status sync the agency sends is accepted by the portal."""
    seen = journeys(ctx)
    syncs = [(j, s) for j in (seen.genuine, seen.impostor) for s in j.syncs]
    if not syncs:
        raise Skip("the agency sent no status sync to judge")
    findings = [
        Finding(
            f"The portal refused a status sync for the {j.label}'s dossier",
            observed=_refusal(s),
            expected="a sync the portal accepts (specs/portal.yaml)",
            exchange_ids=j.evidence_ids,
        )
        for j, s in syncs
        if not s.get("accepted")
    ]
    if findings:
        raise Failure(*findings)
    return f"all {len(syncs)} syncs accepted by the portal"


def _refusal(record: dict[str, Any]) -> str:
    problem = record.get("problem") or {}
    fields = "; ".join(f"{e.get('field')}: {e.get('message')}" for e in problem.get("errors", []))
    return f"{problem.get('status')} {problem.get('title')}: {fields or problem.get('detail')}"
