"""Status sync, judged beyond arrival and acceptance: timestamps in Vietnam time and in
order (SYNC-TIMESTAMPS), due dates in working days (SYNC-DUE-DATE), results delivered
(SYNC-RESULT).

The first two judge the journey's syncs (journey.py) and need no dossier of their own;
the due date is compared with the portal's own calculator (GET /v1/calendar/due-date),
since the harness may not import the simulators. SYNC-RESULT submits one dossier with the
sandbox form flag `DuLieuHoSo.XuLyNgay` ([ours], specs/agency.yaml) and follows it to
status 10.

The judging functions are pure over the portal's sync records (`SyncRecord` of
specs/portal.yaml). Everything in a record's payload came from the system under test,
so they read it defensively: a value of the wrong type or shape is "absent", never a
crash.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from itertools import pairwise
from typing import Any

from harness.checks.journey import Journey, follow, journeys, status_of
from harness.checks.registry import check
from harness.context import CheckContext
from harness.errors import EnvironmentProblem, Failure, Skip
from harness.records import Finding
from harness.samples import dossier_for
from harness.sandbox_api import sample_citizens

__all__ = [
    "FINISH_FLAG",
    "TIMESTAMP_TOLERANCE",
    "DueDateClaim",
    "Issue",
    "due_date_claims",
    "due_date_issues",
    "due_dates_in_working_days",
    "order_issues",
    "parse_stamp",
    "result_documents",
    "result_issues",
    "results_delivered",
    "timestamps_in_vietnam_time",
    "zone_issues",
]

# Wide enough for a loaded machine and an agency's retries with backoff, narrow enough
# for any wrong zone: UTC is 7 h off, the nearest other zones (UTC+6:30, UTC+8) 30 min.
TIMESTAMP_TOLERANCE = timedelta(minutes=10)
FINISH_FLAG = "XuLyNgay"  # DuLieuHoSo flag: finish the dossier at once (specs/agency.yaml)

_VN = timezone(timedelta(hours=7))
_DVC_FORMAT = "%Y%m%d%H%M%S"
_EVENT_STAMPS = ("NgayTiepNhan", "NgayKetThucXuLy", "NgayTra")  # moments already past
_PAUSED = frozenset({5, 6, 8})  # a pause may move the due date later
_READY, _DELIVERED = 9, 10
# The result dossier is watched until the agency can move no further on its own: closed,
# delivered, or waiting on the citizen (which fails: nothing asked it to wait).
_RESULT_SETTLED = frozenset({3, 5, 6, 7, 8, _DELIVERED})
_MAX_ISSUES = 10  # per dossier: a hostile agency may send 1,000 syncs
_MAX_CALCULATIONS = 10  # distinct (NgayTiepNhan, MaTTHC) pairs asked of the calculator


@dataclass(frozen=True, slots=True)
class Issue:
    """What a judging function found; the check adds the evidence to make a Finding."""

    title: str
    observed: str
    expected: str


@dataclass(frozen=True, slots=True)
class DueDateClaim:
    """One accepted sync's due date, and what it must be computed from."""

    received: str  # NgayTiepNhan
    procedure: str  # MaTTHC
    due: str  # NgayHenTra
    status: int | None

    @property
    def key(self) -> tuple[str, str]:
        return self.received, self.procedure


# -- reading records -------------------------------------------------------------------------


def parse_stamp(value: Any) -> datetime | None:
    """A `yyyyMMddHHmmss` Vietnam-time stamp, or None for anything else."""
    if not isinstance(value, str) or len(value) != 14 or not value.isdigit():
        return None
    try:
        return datetime.strptime(value, _DVC_FORMAT).replace(tzinfo=_VN)
    except ValueError:
        return None


def _payload(record: dict[str, Any]) -> dict[str, Any]:
    payload = record.get("payload")
    return payload if isinstance(payload, dict) else {}


def _received_at(record: dict[str, Any]) -> datetime | None:
    """When the portal received the sync (its own clock, ISO 8601 with offset)."""
    try:
        moment = datetime.fromisoformat(str(record.get("received_at")))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# -- SYNC-TIMESTAMPS -------------------------------------------------------------------------


def order_issues(records: Sequence[dict[str, Any]]) -> list[Issue]:
    """Across one dossier's accepted syncs, in the order the portal received them:
    NgayTiepNhan never changes, NgayCapNhat never goes backwards nor before NgayTiepNhan."""
    return (_reception_changes(records) + _update_order(records))[:_MAX_ISSUES]


def _reception_changes(records: Sequence[dict[str, Any]]) -> list[Issue]:
    stated = [(r, _payload(r).get("NgayTiepNhan")) for r in records]
    stated = [(r, value) for r, value in stated if isinstance(value, str)]
    if not stated:
        return []
    first = stated[0][1]
    return [
        Issue(
            "NgayTiepNhan changed between two syncs of one dossier",
            f"{first}, then {_show(value)} (status {status_of(record)})",
            "the reception time, the same in every sync",
        )
        for record, value in stated
        if value != first
    ]


def _update_order(records: Sequence[dict[str, Any]]) -> list[Issue]:
    issues: list[Issue] = []
    previous: tuple[str, datetime] | None = None
    for record in records:
        payload = _payload(record)
        update = parse_stamp(payload.get("NgayCapNhat"))
        if update is None:
            continue
        stamp, reception = payload["NgayCapNhat"], parse_stamp(payload.get("NgayTiepNhan"))
        if reception is not None and update < reception:
            issues.append(
                Issue(
                    "NgayCapNhat is before the dossier's reception",
                    f"NgayCapNhat {stamp} < NgayTiepNhan {payload['NgayTiepNhan']} "
                    f"(status {status_of(record)})",
                    "an update time on or after NgayTiepNhan",
                )
            )
        if previous is not None and update < previous[1]:
            issues.append(
                Issue(
                    "NgayCapNhat went backwards",
                    f"{previous[0]}, then {stamp} (status {status_of(record)})",
                    "each sync's NgayCapNhat on or after the previous one's",
                )
            )
        previous = (stamp, update)
    return issues


def zone_issues(
    records: Sequence[dict[str, Any]],
    *,
    tolerance: timedelta = TIMESTAMP_TOLERANCE,
    max_age: timedelta = timedelta(0),
) -> list[Issue]:
    """Every timestamp is Vietnam time, judged against the portal's `received_at` of the
    sync: NgayCapNhat (when the status changed) within `tolerance` of it; NgayTiepNhan,
    NgayKetThucXuLy and NgayTra (moments already past) not after it, and not before the
    dossier was submitted — at most `max_age` before the first sync arrived."""
    arrivals = [a for a in map(_received_at, records) if a is not None]
    if not arrivals:
        return []
    earliest = min(arrivals) - max_age - tolerance
    issues: list[Issue] = []
    for record in records:
        arrived = _received_at(record)
        if arrived is None:
            continue
        payload = _payload(record)
        issues += _update_zone(payload, arrived, tolerance)
        for name in _EVENT_STAMPS:
            moment = parse_stamp(payload.get(name))
            if moment is not None and not earliest <= moment <= arrived + tolerance:
                issues.append(_zone_issue(name, payload[name], arrived, tolerance))
    return issues[:_MAX_ISSUES]


def _update_zone(
    payload: Mapping[str, Any], arrived: datetime, tolerance: timedelta
) -> list[Issue]:
    moment = parse_stamp(payload.get("NgayCapNhat"))
    if moment is None or abs(moment - arrived) <= tolerance:
        return []
    return [_zone_issue("NgayCapNhat", payload["NgayCapNhat"], arrived, tolerance)]


def _zone_issue(name: str, value: str, arrived: datetime, tolerance: timedelta) -> Issue:
    expected_stamp = arrived.astimezone(_VN).strftime(_DVC_FORMAT)
    offset = (parse_stamp(value) or arrived) - arrived
    hours = offset.total_seconds() / 3600
    return Issue(
        f"{name} is not Vietnam time",
        f"{name} {value}, {hours:+.1f} h from the portal's receipt of the sync "
        f"({expected_stamp} Vietnam time)",
        f"yyyyMMddHHmmss in Asia/Ho_Chi_Minh (UTC+7), within "
        f"{tolerance.total_seconds() / 60:g} min of the sync",
    )


# -- SYNC-DUE-DATE ---------------------------------------------------------------------------


def due_date_claims(records: Iterable[dict[str, Any]]) -> list[DueDateClaim]:
    """The due dates a dossier's accepted syncs state, up to its first pause (5, 6, 8):
    after one, the due date may rightly move later by the days the clock stood still."""
    claims: list[DueDateClaim] = []
    for record in records:
        if not record.get("accepted"):
            continue
        status = status_of(record)
        if status in _PAUSED:
            break
        payload = _payload(record)
        received, procedure, due = (
            payload.get(k) for k in ("NgayTiepNhan", "MaTTHC", "NgayHenTra")
        )
        if isinstance(received, str) and isinstance(procedure, str) and isinstance(due, str):
            claims.append(DueDateClaim(received, procedure, due, status))
    return claims


def due_date_issues(
    claims: Iterable[DueDateClaim], expected: Mapping[tuple[str, str], str]
) -> list[Issue]:
    """Claims whose due day differs from the calculator's (`expected`, by claim key).
    The day is judged, not the time: 17:00 is the sandbox's convention, not a rule."""
    issues = []
    for claim in claims:
        want = expected.get(claim.key)
        if want is None or claim.due[:8] == want[:8]:
            continue
        issues.append(
            Issue(
                "NgayHenTra is not the working-day due date",
                f"NgayHenTra {claim.due} for NgayTiepNhan {claim.received}, "
                f"procedure {claim.procedure} (status {claim.status})",
                f"the due day {want[:8]} (portal calculator: {want}) — working days, "
                "holidays skipped, after 15:00 counted from the next working day",
            )
        )
    return issues[:_MAX_ISSUES]


# -- SYNC-RESULT -----------------------------------------------------------------------------


def result_documents(payload: Mapping[str, Any]) -> list[str]:
    """Names of the result documents a payload lists (DanhSachGiayToKetQua entries with a
    non-empty TenGiayTo)."""
    documents = payload.get("DanhSachGiayToKetQua")
    if not isinstance(documents, list):
        return []
    names = [d.get("TenGiayTo") for d in documents[:50] if isinstance(d, dict)]
    return [n for n in names if isinstance(n, str) and n.strip()]


def result_issues(records: Sequence[dict[str, Any]], agency_status: int | None) -> list[Issue]:
    """A dossier that must end delivered: status 10 reached the portal, the 9 or 10 sync
    lists the result documents, and NgayTra ≥ NgayKetThucXuLy ≥ NgayTiepNhan.

    Refused syncs count as arrived (as for SYNC-STATUS-TIMELY), and a date that is not
    yyyyMMddHHmmss is left unjudged: acceptance and format are SYNC-STATUS-VALID's."""
    statuses = [status_of(r) for r in records]
    if _DELIVERED not in statuses:
        return [
            Issue(
                "The result was never delivered to the portal",
                f"agency status {agency_status}; statuses at the portal: {statuses or 'none'}",
                "4 → 9 (processed) → 10 (result delivered) synced within the time limit, "
                f"as DuLieuHoSo.{FINISH_FLAG} asks",
            )
        ]
    finals = [_payload(r) for r in records if status_of(r) in (_READY, _DELIVERED)]
    issues = []
    if not any(result_documents(p) for p in finals):
        issues.append(
            Issue(
                "The result documents were not synced",
                "no DanhSachGiayToKetQua entry with a TenGiayTo in the 9 and 10 syncs",
                "DanhSachGiayToKetQua listing each result document (TenGiayTo, its number "
                "and date) in the 9 or the 10 sync",
            )
        )
    return issues + _result_date_issues(records, finals)


def _result_date_issues(
    records: Sequence[dict[str, Any]], finals: Sequence[dict[str, Any]]
) -> list[Issue]:
    delivered = [_payload(r) for r in records if status_of(r) == _DELIVERED]
    if not any("NgayTra" in p for p in delivered):
        return [
            Issue(
                "The delivery sync does not say when the result was delivered",
                "no NgayTra in the status-10 sync",
                "NgayTra (yyyyMMddHHmmss, Vietnam time) in the status-10 sync",
            )
        ]
    if not any("NgayKetThucXuLy" in p for p in finals):
        return [
            Issue(
                "No sync says when handling ended",
                "no NgayKetThucXuLy in the 9 and 10 syncs",
                "NgayKetThucXuLy (yyyyMMddHHmmss, Vietnam time) in the 9 or the 10 sync",
            )
        ]
    chain = (
        ("NgayTiepNhan", _first_stamp(_payload(r) for r in records)["NgayTiepNhan"]),
        ("NgayKetThucXuLy", _first_stamp(finals)["NgayKetThucXuLy"]),
        ("NgayTra", _first_stamp(delivered)["NgayTra"]),
    )
    return [
        Issue(
            f"{later[0]} is before {earlier[0]}",
            f"{later[0]} {later[1]:%Y%m%d%H%M%S} < {earlier[0]} {earlier[1]:%Y%m%d%H%M%S}",
            "NgayTra ≥ NgayKetThucXuLy ≥ NgayTiepNhan",
        )
        for earlier, later in pairwise(chain)
        if earlier[1] is not None and later[1] is not None and later[1] < earlier[1]
    ]


def _first_stamp(payloads: Iterable[dict[str, Any]]) -> dict[str, datetime | None]:
    """The first readable value of each result date across `payloads`."""
    found: dict[str, datetime | None] = dict.fromkeys(_EVENT_STAMPS)
    for payload in payloads:
        for name in _EVENT_STAMPS:
            found[name] = found[name] or parse_stamp(payload.get(name))
    return found


# -- the checks ------------------------------------------------------------------------------


def _findings(journey: Journey, issues: Iterable[Issue], *extra: str) -> list[Finding]:
    return [
        Finding(
            f"{issue.title} ({journey.label}'s dossier)",
            issue.observed,
            issue.expected,
            (*journey.evidence_ids, *extra),
        )
        for issue in issues
    ]


@check("SYNC-TIMESTAMPS@1")
def timestamps_in_vietnam_time(ctx: CheckContext) -> str:
    """Sync timestamps are Vietnam time, and a dossier's NgayCapNhat only moves forward."""
    seen = journeys(ctx)
    findings: list[Finding] = []
    judged = 0
    for journey in (seen.genuine, seen.impostor):
        accepted = journey.accepted_syncs
        judged += len(accepted)
        max_age = timedelta(seconds=journey.waited_s)
        issues = order_issues(accepted) + zone_issues(accepted, max_age=max_age)
        findings += _findings(journey, issues)
    if not judged:
        raise Skip("the portal accepted no status sync to judge (see SYNC-STATUS-VALID)")
    if findings:
        raise Failure(*findings)
    return (
        f"{judged} accepted syncs: timestamps in Vietnam time within "
        f"{TIMESTAMP_TOLERANCE.total_seconds() / 60:g} min of the portal's clock, "
        "NgayCapNhat in order"
    )


def _calculated_due(ctx: CheckContext, received: str, procedure: str) -> tuple[str, str]:
    """The portal calculator's NgayHenTra, and the exchange that gave it."""
    reply = ctx.request(
        "GET",
        f"{ctx.sandbox.portal_url}/v1/calendar/due-date",
        params={"received": received, "procedure": procedure},
    )
    body = reply.json() if reply.status == 200 else None
    due = body.get("NgayHenTra") if isinstance(body, dict) else None
    if parse_stamp(due) is None:
        raise EnvironmentProblem(
            f"the sandbox portal answered {reply.status} to GET /v1/calendar/due-date "
            f"for {received}, {procedure}; is it older than this harness?"
        )
    return str(due), reply.exchange_id


@check("SYNC-DUE-DATE@1")
def due_dates_in_working_days(ctx: CheckContext) -> str:
    """The due date synced is the working-day due date of the procedure's deadline."""
    seen = journeys(ctx)
    claimed = [(j, due_date_claims(j.syncs)) for j in (seen.genuine, seen.impostor)]
    keys = list(dict.fromkeys(c.key for _, claims in claimed for c in claims))
    if not keys:
        raise Skip("no accepted status sync carries NgayHenTra (the field is optional)")
    answers = {key: _calculated_due(ctx, *key) for key in keys[:_MAX_CALCULATIONS]}
    expected = {key: due for key, (due, _) in answers.items()}
    exchanges = tuple(exchange for _, exchange in answers.values())
    findings = [
        finding
        for journey, claims in claimed
        for finding in _findings(journey, due_date_issues(claims, expected), *exchanges)
    ]
    if findings:
        raise Failure(*findings)
    judged = sum(len(claims) for _, claims in claimed)
    return f"{judged} synced due dates match the portal's working-day calculator"


@check("SYNC-RESULT@1")
def results_delivered(ctx: CheckContext) -> str:
    """A dossier the sandbox asks to finish at once is finished, and its result delivered."""
    citizen = sample_citizens(ctx, 1)[0]
    dossier = dossier_for(ctx, citizen, data={FINISH_FLAG: True})
    journey = follow(
        ctx,
        "applicant whose dossier is finished at once",
        citizen["pin"],
        dossier,
        settled=_RESULT_SETTLED,
    )
    if not journey.syncs:
        raise Skip("the agency sent no status sync at all (see SYNC-STATUS-TIMELY)")
    findings = _findings(journey, result_issues(journey.syncs, journey.agency_status))
    if findings:
        raise Failure(*findings)
    names = sorted({n for r in journey.syncs for n in result_documents(_payload(r))})
    return (
        f"statuses {[status_of(s) for s in journey.syncs]} reached the portal in "
        f"{journey.waited_s:.1f} s; result: {'; '.join(names)[:200]}"
    )
