"""Resilience: a short outage of the population database, or of the portal, costs the
citizen nothing.

The check switches on the sandbox's fault injection for the agency's own client — every
call answered 503 with Retry-After for a short while — then submits a dossier. An agency
that retries transient failures (honouring Retry-After, with backoff) verifies the
applicant once the outage ends and carries on; one that gives up leaves the dossier stuck,
or worse, refuses a citizen for the database's outage.

Honouring Retry-After is measured, not assumed (RES-RETRY-AFTER): the portal throttles the
agency's syncs with 429 and records when each refused sync of the dossier arrived and when
it came back after the end; the gaps must be at least what Retry-After said. A database
that hangs rather than refuses (RES-SLOW-DEPENDENCY) is the population fault `latency_ms`:
every call arriving in a short window is held 10 s, then answered normally. A portal that
hangs (RES-SLOW-PORTAL) is a portal outage with status 504: each sync arriving in the
window is held 12 s, then answered 504 as a gateway that gave up.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from harness.checks.journey import Journey, follow, journeys, status_of, submit_dossier
from harness.checks.registry import check
from harness.context import CheckContext
from harness.errors import EnvironmentProblem, Failure, Skip
from harness.records import Finding
from harness.samples import dossier_for
from harness.sandbox_api import agency_token, sample_citizens, sync_records
from harness.transport import TransportFailure

__all__ = [
    "portal_outage_survived",
    "retry_after_honoured",
    "slow_population_survived",
    "slow_portal_survived",
    "transient_outage_survived",
]

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


def _admin(ctx: CheckContext) -> dict[str, str]:
    return {"Authorization": f"Bearer {ctx.sandbox.admin_token}"}


def _portal_outage_url(ctx: CheckContext) -> str:
    return f"{ctx.sandbox.portal_url}/admin/agencies/{ctx.target.agency_id}/outage"


def _start_portal_outage(ctx: CheckContext, **settings: Any) -> str:
    reply = ctx.request(
        "PUT",
        _portal_outage_url(ctx),
        json={"duration_s": OUTAGE_S} | settings,
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


# -- RES-RETRY-AFTER: the wait the portal asks for, measured at the portal ------------------

RETRY_AFTER_S = 2
THROTTLE_S = 2.5  # long enough for two refusals of an agency that syncs at once
# The agency's sleep starts after the refusal reached it, so an honest gap is never shorter
# than Retry-After as the portal measures it; the slack is for timer granularity only.
TOLERANCE_S = 0.15


@check("RES-RETRY-AFTER@1")
def retry_after_honoured(ctx: CheckContext) -> str:
    """After a 429 with Retry-After the agency waits at least that long, then delivers."""
    if not journeys(ctx).genuine.syncs:
        raise Skip("the agency synced nothing even without throttling; nothing to retry")
    citizen = sample_citizens(ctx, 1)[0]
    started = time.monotonic()
    throttle = _start_portal_outage(
        ctx, duration_s=THROTTLE_S, status=429, retry_after_s=RETRY_AFTER_S
    )
    journey = follow(
        ctx, "applicant during portal throttling", citizen["pin"], dossier_for(ctx, citizen)
    )
    # The usual sync time limit, counted from the end of the throttling.
    journey = _await_delivery(ctx, journey, started + THROTTLE_S + ctx.settings.sync_timeout_s)
    times, record_id = _attempt_times(ctx, journey.dossier_code)
    evidence = (throttle, record_id, *journey.evidence_ids)
    if not times:
        raise Skip(
            f"no sync of the dossier reached the portal during the {THROTTLE_S:g} s throttling, "
            "so there was no refusal to measure the wait after"
        )
    gaps = [later - earlier for earlier, later in pairwise(times)]
    findings = _early_retries(times, gaps, evidence) + _lost_sync(journey, evidence)
    if findings:
        raise Failure(*findings)
    return (
        f"429 with Retry-After: {RETRY_AFTER_S} for {THROTTLE_S:g} s: attempts at "
        f"{_seconds(times)} s, gaps {_seconds(gaps)} s (none under Retry-After less "
        f"{TOLERANCE_S:g} s); statuses "
        f"{[status_of(s) for s in journey.syncs]} reached the portal in {journey.waited_s:.1f} s"
    )


def _await_delivery(ctx: CheckContext, journey: Journey, deadline: float) -> Journey:
    """Keep watching the sync log until the status `follow` last saw arrives or `deadline`."""
    syncs = journey.syncs
    started = time.monotonic() - journey.waited_s
    while not _delivered(journey.agency_status, syncs) and time.monotonic() < deadline:
        time.sleep(0.25)
        syncs = tuple(sync_records(ctx, journey.dossier_code))
    if syncs == journey.syncs:
        return journey
    observed = ctx.observe("portal-sync-log", {"dossier": journey.dossier_code, "records": syncs})
    return Journey(
        journey.label,
        journey.citizen_pin,
        journey.dossier_code,
        journey.submit_exchange,
        journey.agency_status,
        syncs,
        time.monotonic() - started,
        (*journey.evidence_ids, observed),
    )


def _delivered(status: int | None, syncs: tuple[dict[str, Any], ...]) -> bool:
    return status is not None and status in [status_of(s) for s in syncs]


def _attempt_times(ctx: CheckContext, code: str) -> tuple[list[float], str]:
    """When the portal refused the dossier's syncs, then first let one through: seconds
    from the throttling's start, read from the portal's own record."""
    reply = ctx.request(
        "GET",
        _portal_outage_url(ctx),
        headers=_admin(ctx),
    )
    record = reply.json()
    if reply.status != 200 or not isinstance(record, dict):
        raise EnvironmentProblem(
            f"the sandbox portal did not give its outage record ({reply.status}); "
            "is it older than this harness?"
        )
    refused = sorted(_times_of(record.get("refused"), code))
    through = _times_of(record.get("let_through"), code)[:1]
    return refused + through if refused else [], reply.exchange_id


def _times_of(events: Any, code: str) -> list[float]:
    if not isinstance(events, list):
        return []
    return [
        float(e["at_s"])
        for e in events
        if isinstance(e, dict)
        and e.get("dossier_code") == code
        and isinstance(e.get("at_s"), int | float)
    ]


def _early_retries(
    times: list[float], gaps: list[float], evidence: tuple[str, ...]
) -> list[Finding]:
    early = [gap for gap in gaps if gap < RETRY_AFTER_S - TOLERANCE_S]
    if not early:
        return []
    return [
        Finding(
            "The agency called the portal again sooner than Retry-After asked",
            observed=f"{len(early)} of {len(gaps)} next syncs of the dossier came early: at "
            f"{_seconds(times)} s, gaps {_seconds(gaps)} s after 429 with Retry-After: "
            f"{RETRY_AFTER_S}",
            expected=f"each next sync at least {RETRY_AFTER_S} s after the refusal "
            f"(tolerance {TOLERANCE_S:g} s)",
            exchange_ids=evidence,
        )
    ]


def _lost_sync(journey: Journey, evidence: tuple[str, ...]) -> list[Finding]:
    if _delivered(journey.agency_status, journey.syncs):
        return []
    arrived = [status_of(s) for s in journey.syncs]
    return [
        Finding(
            "A status sync was lost to a short portal throttling",
            observed=f"agency status {journey.agency_status}; statuses that reached the "
            f"portal: {arrived or 'none'} after {journey.waited_s:.1f} s",
            expected=f"429 retried like 503: every status synced once the {THROTTLE_S:g} s "
            "throttling ended",
            exchange_ids=evidence,
        )
    ]


def _seconds(values: list[float]) -> str:
    return "[" + ", ".join(f"{v:.2f}" for v in values) + "]"


# -- RES-SLOW-DEPENDENCY: the population database hangs instead of refusing ----------------

HANG_S = 10.0  # each call arriving in the window is held this long, then answered
HANG_WINDOW_S = 1.5
# A 10 s hang can only be outlasted by a time limit: an agency that waits it out cannot
# have verified before 10 s, one with a limit of a few seconds is done well within 8 s.
VERIFIED_WITHIN_S = 8.0
PROMPT_S = 1.0  # the agency's own API, while its dependency hangs
_POLL_S = 0.25


def _faults_url(ctx: CheckContext) -> str:
    return f"{ctx.sandbox.population_url}/admin/clients/{ctx.target.agency_id}/faults"


def _start_hang(ctx: CheckContext) -> str:
    reply = ctx.request(
        "PUT",
        _faults_url(ctx),
        json={"latency_ms": int(HANG_S * 1000), "duration_s": HANG_WINDOW_S},
        headers=_admin(ctx),
    )
    if reply.status != 200:
        raise EnvironmentProblem(
            f"the sandbox population database refused to inject a hang ({reply.status}); "
            "is it older than this harness?"
        )
    return reply.exchange_id


@check("RES-SLOW-DEPENDENCY@1")
def slow_population_survived(ctx: CheckContext) -> str:
    """A dossier filed while the population database hangs is verified soon after, and
    the agency's API stays prompt meanwhile."""
    citizen = sample_citizens(ctx, 1)[0]
    token = agency_token(ctx)
    dossier = dossier_for(ctx, citizen)
    hang = _start_hang(ctx)
    try:
        submitted = submit_dossier(ctx, dossier, token)  # moves dossier["MaHoSo"] past an old run's
        if submitted.status not in (200, 202):
            raise EnvironmentProblem(
                f"the agency answered {submitted.status} to a valid dossier; "
                "the check could not start"
            )
        watch = _watch(ctx, dossier["MaHoSo"], token)
    finally:
        # Judged: let go any call still held, rather than leave it hanging for the rest of
        # its 10 s (the window is over, so nothing new is held anyway).
        with contextlib.suppress(TransportFailure):
            ctx.request("DELETE", _faults_url(ctx), headers=_admin(ctx))
    filing = _Answer("the filing (POST /dossiers)", submitted.elapsed_s, submitted.exchange_id)
    slowest = max((filing, *watch.answers), key=lambda answer: answer.seconds)
    evidence = (hang, submitted.exchange_id, slowest.exchange_id, watch.last_exchange)
    findings = []
    if slowest.seconds > PROMPT_S:
        findings.append(
            Finding(
                "The agency's API stalled while the population database hung",
                observed=f"{slowest.what} took {slowest.seconds:.2f} s "
                f"(slowest of {len(watch.answers) + 1} answers)",
                expected=f"every answer within {PROMPT_S:g} s: verify in the background and "
                "never make the caller wait on the population database",
                exchange_ids=evidence,
            )
        )
    if watch.status not in _PAST_VERIFICATION:
        findings.append(_not_verified(watch, evidence))
    if findings:
        raise Failure(*findings)
    return (
        f"population calls held {HANG_S:g} s for {HANG_WINDOW_S:g} s: status {watch.status} "
        f"{watch.waited_s:.1f} s after filing; slowest of {len(watch.answers) + 1} API answers "
        f"{slowest.seconds:.2f} s"
    )


# Accepted (2) or beyond, but not refused (3): the applicant was verified.
_PAST_VERIFICATION = frozenset({2, 4, 5, 6, 7, 8, 9, 10})


@dataclass(frozen=True, slots=True)
class _Answer:
    what: str
    seconds: float
    exchange_id: str


@dataclass(frozen=True, slots=True)
class _Watch:
    status: int | None
    waited_s: float
    answers: tuple[_Answer, ...]
    last_exchange: str


def _watch(ctx: CheckContext, code: str, token: str) -> _Watch:
    """Read the dossier's status until it is past verification or the time is up, timing
    every answer; a read that gets no answer at all counts as the time it was given."""
    started = time.monotonic()
    answers: list[_Answer] = []
    status: int | None = None
    last = ""
    while time.monotonic() - started < VERIFIED_WITHIN_S:
        try:
            reply = ctx.request(
                "GET",
                ctx.target_url(f"/dossiers/{code}"),
                headers={"Authorization": f"Bearer {token}"},
                timeout_s=HANG_S / 2,
            )
        except TransportFailure as failure:  # no answer in time: as slow as it was allowed
            what = f"GET /dossiers/{code} ({failure})"
            answers.append(_Answer(what, HANG_S / 2, failure.exchange_id))
            last = failure.exchange_id
        else:
            answers.append(_Answer(f"GET /dossiers/{code}", reply.elapsed_s, reply.exchange_id))
            last = reply.exchange_id
            status = _status_in(reply.json()) if reply.status == 200 else None
            if status in _PAST_VERIFICATION or status == 3:
                break
        time.sleep(_POLL_S)
    return _Watch(status, time.monotonic() - started, tuple(answers), last)


def _status_in(body: Any) -> int | None:
    value = body.get("TrangThaiHoSo") if isinstance(body, dict) else None
    return value if isinstance(value, int) else None


def _not_verified(watch: _Watch, evidence: tuple[str, ...]) -> Finding:
    if watch.status == 3:
        return Finding(
            "The citizen was refused because the population database was slow",
            observed=f"status 3 {watch.waited_s:.1f} s after filing, during a "
            f"{HANG_WINDOW_S:g} s hang ({HANG_S:g} s per call)",
            expected="time-limit the call, retry, then verify and accept (status 2)",
            exchange_ids=evidence,
        )
    return Finding(
        "A dossier filed while the population database hung was not verified in time",
        observed=f"status {watch.status} {watch.waited_s:.1f} s after filing; the database "
        f"held calls {HANG_S:g} s for the first {HANG_WINDOW_S:g} s only",
        expected=f"calls time-limited to a few seconds and retried: accepted (status 2 or "
        f"later) within {VERIFIED_WITHIN_S:g} s",
        exchange_ids=evidence,
    )


# -- RES-SLOW-PORTAL: the portal hangs on the agency's status syncs ------------------------

PORTAL_HOLD_S = 12.0  # each sync arriving in the window is held this long, then 504
# Only a time limit outlasts a 12 s hang: an agency that waits it out cannot have synced
# before 12 s; one that gives up after a few seconds and retries is through well within 9.
SYNCED_WITHIN_S = 9.0


@check("RES-SLOW-PORTAL@1")
def slow_portal_survived(ctx: CheckContext) -> str:
    """Status syncs the portal hung on are time-limited and retried, and reach it soon
    after; the agency's API stays prompt meanwhile."""
    if not journeys(ctx).genuine.syncs:
        raise Skip("the agency synced nothing even without a hang; nothing to time-limit")
    citizen = sample_citizens(ctx, 1)[0]
    token = agency_token(ctx)
    dossier = dossier_for(ctx, citizen)
    hang = _start_portal_outage(ctx, status=504, hold_s=PORTAL_HOLD_S)
    try:
        submitted = submit_dossier(ctx, dossier, token)
        if submitted.status not in (200, 202):
            raise EnvironmentProblem(
                f"the agency answered {submitted.status} to a valid dossier; "
                "the check could not start"
            )
        seen = _watch_syncs(ctx, dossier["MaHoSo"], token)
    finally:
        # Judged: let go the syncs still held rather than leave them hanging.
        with contextlib.suppress(TransportFailure):
            ctx.request("DELETE", _portal_outage_url(ctx), headers=_admin(ctx))
    filing = _Answer("the filing (POST /dossiers)", submitted.elapsed_s, submitted.exchange_id)
    slowest = max((filing, *seen.answers), key=lambda answer: answer.seconds)
    evidence = (hang, submitted.exchange_id, slowest.exchange_id, seen.log_exchange)
    findings = []
    if slowest.seconds > PROMPT_S:
        findings.append(
            Finding(
                "The agency's API stalled while the portal hung",
                observed=f"{slowest.what} took {slowest.seconds:.2f} s "
                f"(slowest of {len(seen.answers) + 1} answers)",
                expected=f"every answer within {PROMPT_S:g} s: sync in the background",
                exchange_ids=evidence,
            )
        )
    if not seen.arrived:
        findings.append(
            Finding(
                "A status sync the portal hung on did not reach it in time",
                observed=f"agency status {seen.status}; statuses at the portal "
                f"{seen.at_portal or 'none'} {seen.waited_s:.1f} s after filing; the portal "
                f"held syncs {PORTAL_HOLD_S:g} s (then 504) for the first {OUTAGE_S:g} s only",
                expected=f"syncs time-limited to a few seconds and retried: the agency's "
                f"status at the portal within {SYNCED_WITHIN_S:g} s",
                exchange_ids=evidence,
            )
        )
    if findings:
        raise Failure(*findings)
    return (
        f"syncs held {PORTAL_HOLD_S:g} s for {OUTAGE_S:g} s: statuses {seen.at_portal} at the "
        f"portal {seen.waited_s:.1f} s after filing; slowest of {len(seen.answers) + 1} API "
        f"answers {slowest.seconds:.2f} s"
    )


@dataclass(frozen=True, slots=True)
class _SyncWatch:
    status: int | None  # the agency's own, last read
    at_portal: list[int | None]
    arrived: bool  # the agency's current status (past reception) reached the portal
    waited_s: float
    answers: tuple[_Answer, ...]
    log_exchange: str


def _watch_syncs(ctx: CheckContext, code: str, token: str) -> _SyncWatch:
    """Until the agency's current status is at the portal or the time is up, read both,
    timing every answer of the agency."""
    started = time.monotonic()
    answers: list[_Answer] = []
    status: int | None = None
    at_portal: list[int | None] = []
    arrived = False
    while not arrived and time.monotonic() - started < SYNCED_WITHIN_S:
        try:
            reply = ctx.request(
                "GET",
                ctx.target_url(f"/dossiers/{code}"),
                headers={"Authorization": f"Bearer {token}"},
                timeout_s=PORTAL_HOLD_S / 2,
            )
        except TransportFailure as failure:  # no answer in time: as slow as it was allowed
            answers.append(
                _Answer(f"GET /dossiers/{code} ({failure})", PORTAL_HOLD_S / 2, failure.exchange_id)
            )
        else:
            answers.append(_Answer(f"GET /dossiers/{code}", reply.elapsed_s, reply.exchange_id))
            status = _status_in(reply.json()) if reply.status == 200 else None
        # Refused syncs count as arrived here: validity is SYNC-STATUS-VALID's business.
        at_portal = [status_of(s) for s in sync_records(ctx, code)]
        arrived = status is not None and status >= 2 and status in at_portal
        if not arrived:
            time.sleep(_POLL_S)
    log = ctx.observe("portal-sync-log", {"dossier": code, "statuses": at_portal})
    return _SyncWatch(status, at_portal, arrived, time.monotonic() - started, tuple(answers), log)
