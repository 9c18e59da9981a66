"""AGY-LIFECYCLE: whatever a citizen does, in whatever order, a dossier follows the lifecycle.

A hypothesis state machine (`RuleBasedStateMachine`) submits dossiers, then reads, pays,
supplements and withdraws them in sequences it generates, through the harness transport
(every call time-limited and size-bounded). It keeps a model per dossier — the last
status seen and what specs/dossier-lifecycle.yaml can reach from it (lifecycle_model.py) —
and its invariants hold every answer to it: statuses move only along the lifecycle, a
refused operation is a 409 problem+json naming TrangThaiHoSo, a withdrawn, refused or
finished dossier accepts nothing.

Bounded and reproducible: a few short sequences, seeded with the run's seed; on a
violation hypothesis shrinks (within a budget) towards the shortest sequence, which goes
into the evidence with the seed.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cache
from itertools import pairwise
from typing import Any

import yaml
from hypothesis import HealthCheck, Phase, Verbosity, seed, settings
from hypothesis import strategies as st
from hypothesis.reporting import with_reporter
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from harness._resources import data_dir
from harness.checks.lifecycle_model import (
    Answer,
    Lifecycle,
    Violation,
    judge_action,
    judge_transition,
    load_lifecycle,
)
from harness.checks.registry import check
from harness.context import CheckContext
from harness.errors import EnvironmentProblem, Failure, HarnessError
from harness.records import Finding
from harness.samples import TEMPORARY_RESIDENCE, dossier_for, next_dossier_code
from harness.sandbox_api import agency_token, sample_citizens
from harness.transport import Reply, TransportFailure

__all__ = ["lifecycle_respected"]

EXAMPLES = 20  # sequences per certification
STEPS = 8  # operations per sequence
_DOSSIERS = 2  # per sequence, so that most steps act on dossiers rather than make new ones
_SETTLE_S = 3.0  # how long a submission may stay undecided (1, 2) before the machine moves on
_POLL_S = 0.03
_RUN_CAP_S = 30.0  # past it the remaining steps do nothing: a slow agency is explored less
_SHRINK_RUNS = 100  # replays spent looking for a shorter counterexample …
_SHRINK_S = 10.0  # … and the time they may take
_UNDECIDED = frozenset({1, 2})
_CODE_RETRIES, _CODE_SKIP = 3, 250  # dossier codes already used by an earlier run
_OPERATIONS = ("withdraw", "pay", "supplement", "status")
_MISMATCHED_NAME = "Trần Thị Mạo Danh"
_VN = timezone(timedelta(hours=7))

_FORMS = st.fixed_dictionaries(
    {
        "applicant": st.sampled_from(("genuine", "mismatched")),
        "asks_supplement": st.booleans(),
        "asks_payment": st.booleans(),
        "wait": st.sampled_from((True, False)),  # shrinks towards waiting: fewer races
    }
)


class _Stop(BaseException):
    """Ends the hypothesis run at once, with no shrinking: we could not judge, or the
    shrinking budget is spent. Not an Exception, so hypothesis does not call it a failure."""

    def __init__(self, problem: HarnessError | None = None) -> None:
        super().__init__(str(problem or "shrinking budget spent"))
        self.problem = problem


class _Violated(Exception):
    """An invariant does not hold; hypothesis shrinks the sequence that led here."""


@dataclass(frozen=True, slots=True)
class Step:
    call: str  # e.g. "withdraw(d1)"
    answer: str  # e.g. "HTTP 202, TrangThaiHoSo 7"
    exchange_id: str

    def as_dict(self) -> dict[str, str]:
        return {"call": self.call, "answer": self.answer, "exchange": self.exchange_id}


@dataclass(frozen=True, slots=True)
class Action:
    operation: str
    before: int
    answer: Answer
    exchange_id: str


@dataclass
class Tracked:
    """The model of one dossier: every status seen, and every operation sent."""

    name: str
    code: str
    seen: list[tuple[int, str, str]] = field(default_factory=list)  # status, via, exchange
    actions: list[Action] = field(default_factory=list)

    @property
    def last(self) -> int:
        return self.seen[-1][0]

    def __repr__(self) -> str:  # how hypothesis prints a step's argument
        return self.name


@dataclass
class Counterexample:
    steps: tuple[Step, ...]
    violation: Violation
    exchange_ids: tuple[str, ...]


@dataclass
class Run:
    """What every machine of one certification shares: target, budget, findings."""

    ctx: CheckContext
    lifecycle: Lifecycle
    token: str
    citizen: dict[str, Any]
    fee_vnd: int
    nonce: str = field(default_factory=lambda: secrets.token_hex(4))
    started: float = field(default_factory=time.monotonic)
    machines: int = 0
    requests: int = 0
    dossiers: int = 0
    answers: dict[str, int] = field(default_factory=dict)  # "pay 409" → count
    slow_agency: bool = False
    capped: bool = False
    counterexample: Counterexample | None = None
    first_failure: tuple[int, float] | None = None  # (machine number, monotonic time)

    def new_machine(self) -> None:
        self.machines += 1
        if self.first_failure is not None:
            number, at = self.first_failure
            if self.machines - number > _SHRINK_RUNS or time.monotonic() - at > _SHRINK_S:
                raise _Stop()
        elif time.monotonic() - self.started > _RUN_CAP_S:
            self.capped = True

    def record_failure(self, steps: list[Step], violation: Violation, ids: tuple[str, ...]) -> None:
        if self.first_failure is None:
            self.first_failure = (self.machines, time.monotonic())
        best = self.counterexample
        if best is None or len(steps) <= len(best.steps):  # ties: the later, more shrunk one
            self.counterexample = Counterexample(tuple(steps), violation, ids)


class LifecycleMachine(RuleBasedStateMachine):
    dossiers = Bundle("dossiers")

    def __init__(self, run: Run) -> None:
        super().__init__()
        run.new_machine()
        self.run = run
        self.trace: list[Step] = []
        self.tracked: list[Tracked] = []
        self.serial = 0

    # -- rules ---------------------------------------------------------------------------

    @initialize(target=dossiers, form=_FORMS)
    def first_dossier(self, form: dict[str, Any]) -> Tracked | None:
        return self._submit(form)

    @precondition(lambda self: len(self.tracked) < _DOSSIERS)
    @rule(target=dossiers, form=_FORMS)
    def submit(self, form: dict[str, Any]) -> Tracked | None:
        return self._submit(form)

    # One rule draws the operation, rather than one rule each: hypothesis's swarm testing
    # switches whole rules off per sequence, and a sequence without both "withdraw" and
    # "pay" cannot find a payment taken on a withdrawn dossier.
    @rule(dossier=dossiers, operation=st.sampled_from(_OPERATIONS))
    def operate(self, dossier: Tracked | None, operation: str) -> None:
        if dossier is None or self.run.capped:
            return
        if operation == "status":
            self._read(dossier, f"status({dossier.name})")
        else:
            getattr(self, operation)(dossier)

    def pay(self, dossier: Tracked) -> None:
        self.serial += 1
        transaction = f"LT-{self.run.nonce}-{self.run.machines}-{self.serial}"
        body = {
            "MaGiaoDich": transaction,
            "SoTien": self.run.fee_vnd,
            "NgayThanhToan": _now_dvc(),
            "HinhThucThu": 2,
        }
        self._act(dossier, "pay", "payments", body, f"payment:{transaction}")

    def supplement(self, dossier: Tracked) -> None:
        self.serial += 1
        body = {"NgayBoSung": _now_dvc(), "TaiLieuNop": [{"TenTepDinhKem": "bo-sung.pdf"}]}
        key = f"supplement:{dossier.code}:{self.run.nonce}-{self.serial}"
        self._act(dossier, "supplement", "supplements", body, key)

    def withdraw(self, dossier: Tracked) -> None:
        body = {"LyDo": "Công dân không còn nhu cầu"}
        self._act(dossier, "withdraw", "withdrawal", body, f"withdrawal:{dossier.code}")

    # -- invariants ----------------------------------------------------------------------

    @invariant()
    def statuses_follow_the_lifecycle(self) -> None:
        for dossier in self.tracked:
            for (before, _, _), (after, via, exchange) in pairwise(dossier.seen):
                found = judge_transition(self.run.lifecycle, before, after, via)
                if found:
                    self._violated(found, exchange)

    @invariant()
    def closed_dossiers_accept_nothing(self) -> None:
        self._judge_actions(lambda a: a.before in self.run.lifecycle.closed)

    @invariant()
    def operations_are_accepted_or_refused_as_the_lifecycle_says(self) -> None:
        self._judge_actions(lambda a: a.before not in self.run.lifecycle.closed)

    # -- the calls -----------------------------------------------------------------------

    def _submit(self, form: dict[str, Any]) -> Tracked | None:
        if self.run.capped:
            return None
        name = f"d{len(self.tracked) + 1}"
        body = self._dossier(form)
        reply = self._call("POST", "/dossiers", json=body)
        for _ in range(_CODE_RETRIES):
            if reply.status != 409:
                break
            # The code belongs to a dossier of an earlier run today (the format leaves
            # 10,000 a day): move past that run's range and try again.
            for _ in range(_CODE_SKIP):
                body["MaHoSo"] = next_dossier_code(self.run.ctx)
            reply = self._call("POST", "/dossiers", json=body)
        if reply.status not in (200, 202):
            raise _Stop(
                EnvironmentProblem(f"the agency answered {reply.status} to a valid dossier")
            )
        dossier = Tracked(name, body["MaHoSo"])
        self.tracked.append(dossier)
        self.run.dossiers += 1
        call = f"{name} = submit({_describe_form(form)})"
        status = Answer(reply.status, _content_type(reply), reply.json()).status
        if status is None:
            self._read(dossier, call)
        else:
            self._observe(dossier, status, call, reply)
        if form["wait"] and not self.run.slow_agency:
            self._wait_for_decision(dossier)
        return dossier

    def _wait_for_decision(self, dossier: Tracked) -> None:
        deadline = time.monotonic() + min(_SETTLE_S, self.run.ctx.settings.sync_timeout_s)
        while dossier.last in _UNDECIDED:
            if time.monotonic() >= deadline:
                self.run.slow_agency = True  # later submissions do not wait for it
                return
            self._read(dossier, f"wait for the agency to decide on {dossier.name}")
            if dossier.last in _UNDECIDED:
                time.sleep(_POLL_S)

    def _read(self, dossier: Tracked, call: str) -> None:
        reply = self._call("GET", f"/dossiers/{dossier.code}")
        answer = Answer(reply.status, _content_type(reply), reply.json())
        if reply.status == 200 and answer.status is not None:
            self._observe(dossier, answer.status, call, reply)
            return
        self.trace.append(Step(call, answer.describe(), reply.exchange_id))
        if reply.status == 404:
            self._violated(
                Violation(
                    "A dossier the agency had acknowledged was unknown to it",
                    f"GET /dossiers/{{code}} answered {answer.describe()}",
                    "200 with the dossier's TrangThaiHoSo",
                ),
                reply.exchange_id,
            )
        # A 5xx or an unreadable body is AGY-NO-SERVER-ERROR's and AGY-CONTRACT's to judge;
        # without a status there is no lifecycle to hold the agency to.
        raise _Stop(
            EnvironmentProblem(
                f"the agency did not say a dossier's status (GET answered {answer.describe()}"
                f", {_content_type(reply) or 'no content type'}); the lifecycle cannot be judged"
            )
        )

    def _act(
        self, dossier: Tracked, operation: str, path: str, body: dict[str, Any], key: str
    ) -> None:
        before = dossier.last
        reply = self._call("POST", f"/dossiers/{dossier.code}/{path}", json=body, key=key)
        answer = Answer(reply.status, _content_type(reply), reply.json())
        dossier.actions.append(Action(operation, before, answer, reply.exchange_id))
        self.run.answers[f"{operation} {reply.status}"] = (
            self.run.answers.get(f"{operation} {reply.status}", 0) + 1
        )
        call = f"{operation}({dossier.name})"
        if answer.status is not None and reply.status < 500:
            self._observe(dossier, answer.status, call, reply)
        else:
            self.trace.append(Step(call, answer.describe(), reply.exchange_id))

    def _call(self, method: str, path: str, *, key: str = "", **kwargs: Any) -> Reply:
        headers = {"Authorization": f"Bearer {self.run.token}"}
        if key:
            headers["Idempotency-Key"] = key
        ctx = self.run.ctx
        try:
            reply = ctx.request(method, ctx.target_url(path), headers=headers, **kwargs)
        except TransportFailure as exc:
            raise _Stop(EnvironmentProblem(f"the lifecycle run stopped: {exc}")) from None
        self.run.requests += 1
        if reply.status in (401, 403):
            raise _Stop(
                EnvironmentProblem(f"the agency refused the harness's token ({reply.status})")
            )
        if reply.status == 429:
            raise _Stop(
                EnvironmentProblem(
                    "the agency rate-limited the lifecycle run, which stays far below the "
                    "guaranteed rate of specs/agency.yaml; see SEC-RATE-LIMIT"
                )
            )
        return reply

    def _observe(self, dossier: Tracked, status: int, call: str, reply: Reply) -> None:
        last = dossier.seen[-1][0] if dossier.seen else None
        dossier.seen.append((status, call, reply.exchange_id))
        merged = self.trace and self.trace[-1].call == call and call.startswith("wait")
        if status != last or not merged:
            answer = f"HTTP {reply.status}, TrangThaiHoSo {status}"
            self.trace.append(Step(call, answer, reply.exchange_id))

    def _judge_actions(self, which: Callable[[Action], bool]) -> None:
        for dossier in self.tracked:
            for action in dossier.actions:
                if not which(action):
                    continue
                found = judge_action(
                    self.run.lifecycle, action.operation, action.before, action.answer
                )
                if found:
                    self._violated(found, action.exchange_id)

    def _violated(self, violation: Violation, exchange_id: str) -> None:
        self.run.record_failure(self.trace, violation, (exchange_id,))
        raise _Violated(violation.title)

    def _dossier(self, form: dict[str, Any]) -> dict[str, Any]:
        mismatched = form["applicant"] == "mismatched"
        body = dossier_for(
            self.run.ctx, self.run.citizen, full_name=_MISMATCHED_NAME if mismatched else None
        )
        body["DuLieuHoSo"] = {
            **body.get("DuLieuHoSo", {}),
            "ThieuGiayTo": form["asks_supplement"],
            "ThanhToanTrucTuyen": form["asks_payment"],
        }
        return body


def _describe_form(form: dict[str, Any]) -> str:
    parts = [form["applicant"]]
    parts += [n for n in ("asks_supplement", "asks_payment") if form[n]]
    if not form["wait"]:
        parts.append("without waiting")
    return ", ".join(parts)


def _content_type(reply: Reply) -> str:
    return str(reply.response.headers.get("content-type", ""))


def _now_dvc() -> str:
    return datetime.now(_VN).strftime("%Y%m%d%H%M%S")


@cache
def _fee_vnd(procedure: str) -> int:
    """What the procedure's online payment must be (specs/procedures.yaml)."""
    catalogue = yaml.safe_load((data_dir("specs") / "procedures.yaml").read_text(encoding="utf-8"))
    for entry in catalogue.get("procedures", []):
        if entry.get("code") == procedure:
            return sum(int(fee["amount_vnd"]) for fee in entry.get("fees", [])) or 1
    return 1


def _settings() -> settings:
    return settings(
        max_examples=EXAMPLES,
        stateful_step_count=STEPS,
        deadline=None,
        database=None,
        phases=(Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
        verbosity=Verbosity.quiet,
        print_blob=False,
    )


def _explore(run: Run) -> HarnessError | None:
    """Run the machine; the problem that stopped it, if any (violations are in `run`)."""
    factory = seed(run.ctx.settings.seed)(lambda: LifecycleMachine(run))
    try:
        with with_reporter(lambda _: None):
            # Any callable making a machine will do (hypothesis's docs); the stub says type.
            run_state_machine_as_test(factory, settings=_settings())  # type: ignore[arg-type]
    except _Stop as stop:
        return stop.problem
    except Exception:  # _Violated, or hypothesis's Flaky when a replay did not fail again
        if run.counterexample is None:
            raise
    return None


def _record(run: Run) -> str:
    example = run.counterexample
    return run.ctx.observe(
        "lifecycle-state-machine",
        {
            "seed": run.ctx.settings.seed,
            "max_examples": EXAMPLES,
            "stateful_step_count": STEPS,
            "sequences_run": run.machines,
            "requests": run.requests,
            "dossiers": run.dossiers,
            "answers": dict(sorted(run.answers.items())),
            "stopped_early": run.capped,
            "counterexample": None
            if example is None
            else {
                "violation": example.violation.title,
                "steps": [s.as_dict() for s in example.steps],
            },
        },
    )


@check("AGY-LIFECYCLE@1")
def lifecycle_respected(ctx: CheckContext) -> str:
    """Under any sequence of operations, statuses follow the lifecycle and refusals are 409."""
    run = Run(
        ctx,
        load_lifecycle(),
        agency_token(ctx),
        sample_citizens(ctx, 1)[0],
        _fee_vnd(TEMPORARY_RESIDENCE),
    )
    problem = _explore(run)
    evidence = _record(run)
    example = run.counterexample
    if example is not None:
        sequence = "; ".join(f"{s.call} → {s.answer}" for s in example.steps)
        raise Failure(
            Finding(
                example.violation.title,
                observed=f"{example.violation.observed}. Shortest sequence found (seed "
                f"{ctx.settings.seed}, {len(example.steps)} steps): {sequence}"[:2000],
                expected=example.violation.expected,
                exchange_ids=(evidence, *example.exchange_ids),
            )
        )
    if problem is not None:
        raise problem
    accepted = sum(n for k, n in run.answers.items() if k.split()[1].startswith("2"))
    refused = sum(n for k, n in run.answers.items() if k.endswith(" 409"))
    capped = " (stopped early: the agency is slow)" if run.capped else ""
    return (
        f"{run.machines} generated sequences (seed {ctx.settings.seed}){capped}: "
        f"{run.dossiers} dossiers, {accepted} operations accepted and {refused} refused "
        "with 409, every status along the lifecycle"
    )
