"""Idempotent intake: a dossier the portal sends twice is one dossier, processed once.

The portal retries deliveries (at-least-once); an agency that treats a retry as a new
dossier duplicates work and sends the portal a second, contradictory round of statuses.
"""

from __future__ import annotations

import time

from harness.checks.journey import follow
from harness.checks.registry import check
from harness.context import CheckContext
from harness.errors import EnvironmentProblem, Failure
from harness.records import Finding
from harness.samples import dossier_for
from harness.sandbox_api import agency_token, sample_citizens, sync_records

__all__ = ["resubmission_is_idempotent"]

# How long a repeated delivery is watched for side effects after the agency answers.
_SETTLE_S = 1.5


@check("AGY-IDEMPOTENT-SUBMIT@1")
def resubmission_is_idempotent(ctx: CheckContext) -> str:
    """Resubmitting an identical dossier answers 200 and starts no second processing."""
    citizen = sample_citizens(ctx, 1)[0]
    dossier = dossier_for(ctx, citizen)
    first = follow(ctx, "resubmitted applicant", citizen["pin"], dossier)
    before = len(first.syncs)
    again = ctx.request(
        "POST",
        ctx.target_url("/dossiers"),
        json=dossier,
        headers={"Authorization": f"Bearer {agency_token(ctx)}"},
    )
    time.sleep(_SETTLE_S)
    after = sync_records(ctx, dossier["MaHoSo"])
    evidence = ctx.observe("portal-sync-log", {"dossier": dossier["MaHoSo"], "records": after})
    findings = _findings(
        again.status,
        again.json(),
        dossier["MaHoSo"],
        before,
        len(after),
        (again.exchange_id, evidence),
    )
    if findings:
        raise Failure(*findings)
    return f"the resubmission answered 200 with {dossier['MaHoSo']} and caused no new sync"


def _findings(
    status: int, body: object, code: str, before: int, after: int, evidence: tuple[str, str]
) -> list[Finding]:
    if status >= 500 or status in (401, 403):
        raise EnvironmentProblem(f"the resubmission could not be judged: HTTP {status}")
    findings = []
    answered = body.get("MaHoSo") if isinstance(body, dict) else None
    if status != 200 or answered != code:
        findings.append(
            Finding(
                "An identical resubmission was not recognised as the same dossier",
                observed=f"HTTP {status}, MaHoSo {answered}",
                expected=f"HTTP 200 with the existing dossier {code}",
                exchange_ids=evidence,
            )
        )
    if after > before:
        findings.append(
            Finding(
                "An identical resubmission was processed again",
                observed=f"{after - before} new status sync(s) at the portal after resubmitting",
                expected="no new sync: the dossier was already being processed",
                exchange_ids=evidence,
            )
        )
    return findings
