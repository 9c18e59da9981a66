"""AGY-SCENARIOS: every declared procedure follows its declarative scenario (scenarios/).

The procedures in scope are `--procedures`, or what the agency declares at GET
/procedures (temporary residence alone when it answers 404). Each scenario's dossiers are
submitted as the portal would route them; after each citizen step the agency's status
must settle in the golden one, and at the end the portal's sync log must hold the golden
sequence. Walks run in a small thread pool, paced together below the contract's
guaranteed rate (x-rate-limit), so the check costs about the slowest walk.

What counts as the same outcome ([ours], scenarios/README.md): a golden 4 (in process)
also matches a dossier the agency has already finished (9, 10) — its pace is its own; at
the portal, repeats of one status count once, a first sync of 1 (received) before the
golden sequence is allowed, and syncs the portal refused still count as received
(SYNC-STATUS-VALID judges them). An agency that syncs nothing at all is left to
SYNC-STATUS-TIMELY: the portal part is then not judged.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from harness.checks.journey import status_of
from harness.checks.ratelimit import load_policy, retry_after_seconds
from harness.checks.registry import check
from harness.context import CheckContext
from harness.errors import EnvironmentProblem, Failure, Skip
from harness.records import Finding
from harness.samples import next_dossier_code
from harness.sandbox_api import agency_token, sample_citizens, sync_records
from harness.scenarios import (
    FALLBACK_PROCEDURE,
    Plan,
    Rules,
    Step,
    Walk,
    load_rules,
    load_scenarios,
)
from harness.transport import Reply

__all__ = ["scenarios_followed"]

_WORKERS = 8  # walks at once: enough to overlap the agency's background work
_RATE_SHARE = 0.8  # of the guaranteed rate: the pace of all walks together …
_BURST_SHARE = 0.5  # … and of its burst, as earlier checks may have drawn on the bucket
_RETRY_AFTER_MAX_S = 5.0
_POLL_S = 0.1
_MAX_FINDINGS = 10
_MAX_DECLARED = 1000
_CODE_RETRIES, _CODE_SKIP = 3, 250  # dossier codes an earlier run of today already used
_IN_PROCESS = 4
_RECEIVED = 1
# Statuses an agency does not leave on its own: waiting for the citizen, or closed.
_STILL = frozenset({3, 5, 6, 7, 10})
_PATHS = {"pay": "payments", "supplement": "supplements", "withdraw": "withdrawal"}
_VN = timezone(timedelta(hours=7))


class _Pacer:
    """A token bucket all threads draw from, so together they stay under a rate."""

    def __init__(self, per_s: float, burst: float) -> None:
        self._rate = per_s
        self._burst = burst
        self._tokens = burst
        self._at = time.monotonic()
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
            self._at = now
            self._tokens -= 1  # below zero: a place in the queue, served as tokens refill
            delay = max(0.0, -self._tokens / self._rate)
        time.sleep(delay)


@dataclass
class _Session:
    """What every walk of one run shares; safe to use from the pool's threads."""

    ctx: CheckContext
    token: str
    rules: Rules
    pacer: _Pacer
    settle_s: float
    nonce: str = field(default_factory=lambda: f"{random.SystemRandom().randrange(16**6):06x}")
    _codes: threading.Lock = field(default_factory=threading.Lock)

    def next_code(self) -> str:
        with self._codes:  # the run's code generator is shared and not thread-safe
            return next_dossier_code(self.ctx)

    def call(self, method: str, path: str, *, key: str = "", **kwargs: Any) -> Reply:
        headers = {"Authorization": f"Bearer {self.token}"}
        if key:
            headers["Idempotency-Key"] = key
        reply = self._send(method, path, headers, kwargs)
        if reply.status == 429:  # the bucket was low when we began: wait once as asked
            time.sleep(_retry_after(reply))
            reply = self._send(method, path, headers, kwargs)
        if reply.status in (401, 403):
            raise EnvironmentProblem(f"the agency refused the harness's token ({reply.status})")
        if reply.status == 429:
            raise EnvironmentProblem(
                "the agency rate-limited the scenarios, which stay below the guaranteed "
                "rate of specs/agency.yaml; see SEC-RATE-LIMIT"
            )
        return reply

    def _send(
        self, method: str, path: str, headers: dict[str, str], kwargs: dict[str, Any]
    ) -> Reply:
        self.pacer.wait()
        return self.ctx.request(method, self.ctx.target_url(path), headers=headers, **kwargs)


def _retry_after(reply: Reply) -> float:
    seconds = retry_after_seconds(reply.response.headers.get("retry-after"))
    return min(seconds if seconds is not None else 1.0, _RETRY_AFTER_MAX_S)


@dataclass
class _Result:
    """What one walk showed: its dossier, the first divergence, the portal's statuses."""

    walk: Walk
    code: str = ""
    seen: list[int | None] = field(default_factory=list)  # agency status after each step
    divergence: Finding | None = None
    exchanges: list[str] = field(default_factory=list)
    portal: tuple[int, ...] = ()
    synced: bool = False  # the portal has any sync record of the dossier


def _status(reply: Reply) -> int | None:
    body = reply.json()
    value = body.get("TrangThaiHoSo") if isinstance(body, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _settled(expected: int, observed: int | None, rules: Rules) -> bool:
    """The golden status, or past a golden 4 to finished (the agency's own pace)."""
    return observed == expected or (expected == _IN_PROCESS and observed in rules.finished)


def _now_dvc() -> str:
    return datetime.now(_VN).strftime("%Y%m%d%H%M%S")


def _dossier(walk: Walk, code: str, citizen: dict[str, Any], group_code: str) -> dict[str, Any]:
    """The DossierSubmission the portal would send (simulators/portal/citizen.py, groups.py)."""
    summary = walk.procedure_name + (f" (nhóm {group_code})" if walk.group else "")
    return {
        "MaHoSo": code,
        "MaTTHC": walk.procedure,
        "NgayNopHoSo": _now_dvc(),
        "KenhNop": 2,
        "ChuHoSo": {
            "SoDinhDanh": citizen["pin"],
            "HoVaTen": citizen["full_name"],
            "NgaySinh": str(citizen["date_of_birth"]).replace("-", ""),
        },
        "TrichYeuHoSo": summary[:500],
        "DuLieuHoSo": dict(walk.form),
    }


def _action_body(session: _Session, walk: Walk, action: str) -> dict[str, Any]:
    if action == "pay":
        return {
            "MaGiaoDich": f"LT-SC-{session.nonce}-{random.SystemRandom().randrange(10**9)}",
            "SoTien": walk.fee_vnd,
            "NgayThanhToan": _now_dvc(),
            "HinhThucThu": 2,
        }
    if action == "supplement":
        return {"NgayBoSung": _now_dvc(), "TaiLieuNop": [{"TenTepDinhKem": "bo-sung.pdf"}]}
    return {"LyDo": "Công dân không còn nhu cầu"}


def _submit(session: _Session, body: dict[str, Any]) -> Reply:
    reply = session.call("POST", "/dossiers", json=body)
    for _ in range(_CODE_RETRIES):
        if reply.status != 409:
            break
        for _ in range(_CODE_SKIP):  # move past the range an earlier run of today used
            body["MaHoSo"] = session.next_code()
        reply = session.call("POST", "/dossiers", json=body)
    return reply


def _act(session: _Session, result: _Result, step: Step) -> Reply:
    path = f"/dossiers/{result.code}/{_PATHS[step.action]}"
    key = f"{step.action}:{result.code}:{session.nonce}-{len(result.seen)}"
    return session.call("POST", path, json=_action_body(session, result.walk, step.action), key=key)


@dataclass(frozen=True, slots=True)
class _Seen:
    status: int | None
    exchange: str = ""  # the last read, if any
    answer: str = ""  # the last read's answer when it gave no status


def _settle(session: _Session, code: str, expected: int, status: int | None) -> _Seen:
    """Read the dossier until it shows `expected`, stops where the agency cannot move it
    on its own, or the time is up."""
    deadline = time.monotonic() + session.settle_s
    seen = _Seen(status)
    while not _settled(expected, seen.status, session.rules) and seen.status not in _STILL:
        if time.monotonic() >= deadline:
            break
        time.sleep(_POLL_S)
        reply = session.call("GET", f"/dossiers/{code}")
        status = _status(reply) if reply.status == 200 else None
        seen = _Seen(status, reply.exchange_id, "" if status else _answer(reply))
    return seen


def _diverged(result: _Result, index: int, observed: str, expected: str) -> None:
    step = result.walk.steps[index]
    result.divergence = Finding(
        f"Scenario {result.walk.label} diverged at step {index + 1} ({step.action})",
        observed=f"dossier {result.code or '(not created)'}: {observed}"[:1000],
        expected=f"{expected} (scenarios/{result.walk.file})",
        exchange_ids=tuple(e for e in result.exchanges if e),
    )


def _answer(reply: Reply) -> str:
    body = reply.json()
    detail = body.get("detail") if isinstance(body, dict) else None
    return f"HTTP {reply.status}" + (f": {str(detail)[:300]}" if detail else "")


def _walk(session: _Session, walk: Walk, citizen: dict[str, Any], group_code: str) -> _Result:
    """Submit the dossier and do each step, stopping at the first divergence."""
    result = _Result(walk)
    body = _dossier(walk, session.next_code(), citizen, group_code)
    for index, step in enumerate(walk.steps):
        reply = _submit(session, body) if index == 0 else _act(session, result, step)
        result.code = body["MaHoSo"]
        result.exchanges.append(reply.exchange_id)
        if not 200 <= reply.status < 300:
            what = "the dossier" if index == 0 else f"the {step.action}"
            _diverged(
                result,
                index,
                f"the agency answered {_answer(reply)}",
                f"{what} accepted (2xx), then status {step.agency}",
            )
            return result
        seen = _settle(session, result.code, step.agency, _status(reply))
        result.exchanges.append(seen.exchange)
        result.seen.append(seen.status)
        if not _settled(step.agency, seen.status, session.rules):
            shown = f"agency status {seen.status}" if seen.status else f"GET {seen.answer}"
            waited = "" if seen.status in _STILL else f" after {session.settle_s:g} s"
            _diverged(result, index, shown + waited, f"agency status {step.agency}")
            return result
    return result


# -- the portal's side --------------------------------------------------------------------


def _portal_statuses(records: list[dict[str, Any]]) -> tuple[int, ...]:
    """Statuses in the order received, repeats collapsed (refused syncs count: received)."""
    statuses: list[int] = []
    for record in records:
        status = status_of(record)
        if status is not None and (not statuses or statuses[-1] != status):
            statuses.append(status)
    return tuple(statuses)


def _portal_match(observed: tuple[int, ...], golden: tuple[int, ...], rules: Rules) -> str:
    """'match', 'waiting' (a prefix of the golden sequence so far) or 'diverged'."""
    if observed[:1] == (_RECEIVED,) and golden[:1] != (_RECEIVED,):
        observed = observed[1:]  # the agency told the portal it received the dossier first
    head, tail = observed[: len(golden)], observed[len(golden) :]
    if head == golden and all(s in rules.finished for s in tail):
        return "match" if golden[-1] == _IN_PROCESS or not tail else "diverged"
    return "waiting" if golden[: len(observed)] == observed else "diverged"


def _watch_portal(session: _Session, results: list[_Result]) -> None:
    """Read the sync logs of the walks that went as golden until each holds its golden
    sequence, diverges, or the sync time limit passes (one limit for all)."""
    pending = [r for r in results if r.divergence is None]
    deadline = time.monotonic() + session.ctx.settings.sync_timeout_s
    while pending:
        for result in list(pending):
            records = sync_records(session.ctx, result.code)
            result.synced = bool(records)
            result.portal = _portal_statuses(records)
            if _portal_match(result.portal, result.walk.portal, session.rules) != "waiting":
                pending.remove(result)
        if not pending or time.monotonic() >= deadline:
            return
        time.sleep(_POLL_S)


def _portal_findings(session: _Session, results: list[_Result]) -> list[Finding]:
    findings = []
    for result in results:
        if result.divergence is not None:
            continue
        if _portal_match(result.portal, result.walk.portal, session.rules) == "match":
            continue
        observed = _observe(session, result)
        findings.append(
            Finding(
                f"Scenario {result.walk.label}: the portal did not receive the golden statuses",
                observed=f"dossier {result.code}: statuses at the portal "
                f"{list(result.portal) or 'none'} within {session.ctx.settings.sync_timeout_s:g} s",
                expected=f"{list(result.walk.portal)} (scenarios/{result.walk.file})",
                exchange_ids=(observed, *(e for e in result.exchanges if e)),
            )
        )
    return findings


def _observe(session: _Session, result: _Result) -> str:
    return session.ctx.observe(
        "portal-sync-log", {"dossier": result.code, "statuses": list(result.portal)}
    )


# -- scope ---------------------------------------------------------------------------------


def _declared(session: _Session) -> tuple[frozenset[str], str]:
    """The procedures the agency declares, and a note for the summary when it did not."""
    reply = session.call("GET", "/procedures")
    body = reply.json()
    codes = body.get("DanhSachMaTTHC") if isinstance(body, dict) else None
    if reply.status == 200 and isinstance(codes, list):
        return frozenset(c for c in codes[:_MAX_DECLARED] if isinstance(c, str)), ""
    if reply.status == 404:
        note = "GET /procedures answered 404, so only 1.004194 (temporary residence) ran"
    else:  # the optional operation's shape is AGY-CONTRACT's to judge, not this check's
        note = f"GET /procedures answered {reply.status} without a list: only 1.004194 ran"
    return frozenset({FALLBACK_PROCEDURE}), note


def _plan(session: _Session) -> tuple[Plan, str]:
    declared, note = _declared(session)
    plan = load_scenarios().plan(session.ctx.settings.procedures, declared)
    notes = [note] if note else []
    if plan.undeclared:
        notes.append(f"not declared by the agency, skipped: {', '.join(plan.undeclared)}")
    return plan, "; ".join(notes)


def _citizens(ctx: CheckContext, plan: Plan) -> Iterator[dict[str, Any]]:
    """A different sample citizen per scenario where the sandbox has enough."""
    people = sample_citizens(ctx, min(len(plan.scenarios), 1000))
    while True:
        yield from people


def _run(session: _Session, plan: Plan) -> list[_Result]:
    citizens = _citizens(session.ctx, plan)
    by_file = {file: next(citizens) for file in plan.scenarios}
    today = datetime.now(_VN).strftime("%y%m%d")
    group_codes = {
        file: f"NHOM.{file.split('/')[-1].removesuffix('.yaml').upper()}-{today}-"
        f"{random.SystemRandom().randrange(10000):04d}"
        for file in plan.scenarios
    }
    with ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="scenario") as pool:
        futures = [
            pool.submit(_walk, session, w, by_file[w.file], group_codes[w.file]) for w in plan.walks
        ]
        results = [f.result() for f in futures]  # a could-not-judge in any walk ends here
    _watch_portal(session, results)
    return results


def _record(session: _Session, results: list[_Result]) -> str:
    return session.ctx.observe(
        "scenarios",
        {
            "walks": [
                {
                    "scenario": r.walk.label,
                    "dossier": r.code,
                    "golden": {"agency": [s.agency for s in r.walk.steps], "portal": r.walk.portal},
                    "observed": {"agency": r.seen, "portal": list(r.portal)},
                    "diverged": r.divergence is not None,
                }
                for r in results
            ]
        },
    )


@check("AGY-SCENARIOS@1")
def scenarios_followed(ctx: CheckContext) -> str:
    """Every declared procedure, alone and in its group, follows its golden scenario."""
    guaranteed = load_policy().guaranteed
    pacer = _Pacer(guaranteed.per_s * _RATE_SHARE, max(1.0, guaranteed.burst * _BURST_SHARE))
    session = _Session(ctx, agency_token(ctx), load_rules(), pacer, ctx.settings.sync_timeout_s)
    plan, note = _plan(session)
    if not plan.walks:
        raise Skip(f"no scenario in scope: {note or 'the agency declares no procedure'}")
    results = _run(session, plan)
    evidence = _record(session, results)
    findings = [r.divergence for r in results if r.divergence is not None]
    judged_portal = any(r.synced for r in results)
    if judged_portal:
        findings += _portal_findings(session, results)
    if findings:
        raise Failure(*_bounded([_with(f, evidence) for f in findings], evidence))
    portal = "" if judged_portal else " (no sync reached the portal: SYNC-STATUS-TIMELY's)"
    return (
        f"{_count(len(plan.walks), 'dossier')} of {_count(len(plan.scenarios), 'scenario')} "
        f"reached their golden statuses{portal}" + (f"; {note}" if note else "")
    )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _bounded(findings: list[Finding], evidence: str) -> list[Finding]:
    """At most _MAX_FINDINGS, and one more that says how many were left out."""
    if len(findings) <= _MAX_FINDINGS:
        return findings
    left = len(findings) - _MAX_FINDINGS
    more = Finding(
        f"{left} more scenario dossier(s) diverged",
        observed="listed in the scenarios observation",
        expected="every dossier on its golden path",
        exchange_ids=(evidence,),
    )
    return [*findings[:_MAX_FINDINGS], more]


def _with(finding: Finding, evidence: str) -> Finding:
    return Finding(
        finding.title, finding.observed, finding.expected, (*finding.exchange_ids, evidence)
    )
