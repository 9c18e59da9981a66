"""Resilience: a short outage of the population database, or of the portal, costs the
citizen nothing.

The check switches on the sandbox's fault injection for the agency's own client — every
call answered 503 with Retry-After for a short while — then submits a dossier. An agency
that retries transient failures (honouring Retry-After, with backoff) verifies the
applicant once the outage ends and carries on; one that gives up leaves the dossier stuck,
or worse, refuses a citizen for the database's outage.
"""

from __future__ import annotations

from harness.checks.journey import follow, journeys, status_of
from harness.checks.registry import check
from harness.context import CheckContext
from harness.errors import EnvironmentProblem, Failure, Skip
from harness.records import Finding
from harness.samples import dossier_for
from harness.sandbox_api import sample_citizens

__all__ = ["portal_outage_survived", "transient_outage_survived"]

OUTAGE_S = 1.5


def _start_outage(ctx: CheckContext) -> str:
    url = f"{ctx.sandbox.population_url}/admin/clients/{ctx.target.agency_id}/faults"
    reply = ctx.request(
        "PUT",
        url,
        json={"error_rate": 1.0, "duration_s": OUTAGE_S},
        headers={"Authorization": f"Bearer {ctx.sandbox.admin_token}"},
    )
    if reply.status != 200:
        raise EnvironmentProblem(
            f"the sandbox population database refused to inject a fault "
            f"({reply.status}); is it older than this harness?"
        )
    return reply.exchange_id


@check("RES-TRANSIENT-RETRY@1")
def transient_outage_survived(ctx: CheckContext) -> str:
    """A dossier filed during a short population-database outage still completes."""
    citizen = sample_citizens(ctx, 1)[0]
    outage = _start_outage(ctx)
    journey = follow(ctx, "applicant during an outage", citizen["pin"], dossier_for(ctx, citizen))
    evidence = (outage, *journey.evidence_ids)
    # Judged from the agency's own status: whether it also synced is SYNC-STATUS-*'s business.
    if journey.agency_status == 3:
        raise Failure(
            Finding(
                "The citizen was refused because the population database was briefly down",
                observed=f"status 3 after a {OUTAGE_S:g} s outage (503 with Retry-After: 1)",
                expected="retry after the indicated delay, then verify and accept (status 2)",
                exchange_ids=evidence,
            )
        )
    if journey.agency_status not in (2, 4, 5, 6, 9, 10):
        raise Failure(
            Finding(
                "The dossier did not complete after a short population-database outage",
                observed=f"agency status {journey.agency_status}, portal status "
                f"{journey.latest_synced_status} after {journey.waited_s:.1f} s",
                expected=f"retries honouring Retry-After; the dossier accepted once the "
                f"{OUTAGE_S:g} s outage ended",
                exchange_ids=evidence,
            )
        )
    return (
        f"a {OUTAGE_S:g} s outage (503, Retry-After: 1) was retried through; status "
        f"{journey.latest_synced_status} reached the portal in {journey.waited_s:.1f} s"
    )


def _start_portal_outage(ctx: CheckContext) -> str:
    url = f"{ctx.sandbox.portal_url}/admin/agencies/{ctx.target.agency_id}/outage"
    reply = ctx.request(
        "PUT",
        url,
        json={"duration_s": OUTAGE_S},
        headers={"Authorization": f"Bearer {ctx.sandbox.admin_token}"},
    )
    if reply.status != 200:
        raise EnvironmentProblem(
            f"the sandbox portal refused to start an outage ({reply.status}); "
            "is it older than this harness?"
        )
    return reply.exchange_id


@check("RES-PORTAL-RETRY@1")
def portal_outage_survived(ctx: CheckContext) -> str:
    """Status syncs the portal could not take during a short outage still reach it.

    Judged against the agency's own behaviour without an outage: a sync arrives when the
    portal records it, accepted or refused (validity and timeliness without an outage are
    SYNC-STATUS-VALID's and -TIMELY's business)."""
    if not journeys(ctx).genuine.syncs:
        raise Skip("the agency synced nothing even without an outage; nothing to retry")
    citizen = sample_citizens(ctx, 1)[0]
    outage = _start_portal_outage(ctx)
    journey = follow(
        ctx, "applicant during a portal outage", citizen["pin"], dossier_for(ctx, citizen)
    )
    arrived = [status_of(s) for s in journey.syncs]
    if journey.agency_status is None or journey.agency_status not in arrived:
        raise Failure(
            Finding(
                "A status sync was lost to a short portal outage",
                observed=f"agency status {journey.agency_status}; statuses that reached the "
                f"portal: {arrived or 'none'} after {journey.waited_s:.1f} s",
                expected=f"every status synced once the {OUTAGE_S:g} s outage (503, "
                "Retry-After: 1) ended: retry with backoff, honouring Retry-After",
                exchange_ids=(outage, *journey.evidence_ids),
            )
        )
    return (
        f"a {OUTAGE_S:g} s portal outage (503, Retry-After: 1) was retried through; "
        f"statuses {arrived} reached the portal in {journey.waited_s:.1f} s"
    )
