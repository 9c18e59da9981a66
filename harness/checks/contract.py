"""Contract checks: schemathesis generates valid and invalid requests from
specs/agency.yaml, sends them through our transport (bounded, timed, recorded) and
validates each answer with schemathesis's own checks.

One run per certification is shared by three checks, one per requirement: server errors,
contract conformance, rejection of invalid data. It has three parts:

- **generated**, per operation, positive and negative cases from hypothesis (the run's
  seed, no shrinking, `examples` per operation and mode);
- **coverage**, per operation, schemathesis's deterministic cases: boundary values, and
  invalid requests that break one constraint each with the rest valid (one case per
  scenario, ≈ 140 for specs/agency.yaml), so an agency that lets one kind of invalid data
  through is found whatever the seed and however few the examples;
- **stateful**, schemathesis's state machine over the spec's OpenAPI links: a submitted
  dossier's `MaHoSo` feeds getDossier, recordPayment, supplementDossier and
  withdrawDossier, so those operations answer about a real dossier (200, 202, 409) and
  not only 404. `STATEFUL_SEQUENCES` sequences of at most `STATEFUL_STEPS` steps, seeded
  (schemathesis draws whether a step follows its link from true randomness, so the
  sequences are not exactly repeatable); its answers are judged the same way.

The bearer token is never fuzzed (the SEC-TOKEN-* checks judge it), and methods a path
does not document are not probed.

Random data stops at the agency's semantic checks (a timestamp that is no real date, a
procedure the agency does not handle), so a submission rarely gets past them. Every
negative case, half the positive ones, every coverage and every stateful one therefore
carry realistic values in those fields — a code of this run, a handled procedure, real
dates — but only where the generated value was already valid for its own schema: a
negative case stays exactly as invalid as schemathesis made it, and an agency that lets
it through is seen.

**One defect, one requirement.** A 5xx answer is judged by AGY-NO-SERVER-ERROR alone: its
undocumented status, content type or body are not held against AGY-CONTRACT as well, and
schemathesis itself does not count a 5xx to invalid data as accepting it.
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from hypothesis.reporting import with_reporter
from hypothesis.stateful import run_state_machine_as_test
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.core.transport import Response
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from harness._resources import data_dir
from harness.checks.registry import check
from harness.context import CheckContext
from harness.errors import EnvironmentProblem, Failure
from harness.records import Finding
from harness.samples import TEMPORARY_RESIDENCE, next_dossier_code
from harness.sandbox_api import agency_token
from harness.transport import Reply, TransportFailure

__all__ = ["contract_conformance", "invalid_data_rejected", "no_server_errors"]

_MAX_FINDINGS = 5
# Coverage cases read per operation at most (specs/agency.yaml yields 10 to 90 each), a
# bound against a contract that would yield thousands.
_MAX_COVERAGE_CASES = 200
# The stateful part: sequences × steps bounds its requests (≈ 30, well under 1 s on the
# reference agency).
STATEFUL_SEQUENCES = 6
STATEFUL_STEPS = 5
_VN = timezone(timedelta(hours=7))

# schemathesis check → the requirement family it decides.
_CHECKS: dict[str, tuple[Callable[..., Any], ...]] = {
    "server-error": (not_a_server_error,),
    "conformance": (
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
        response_headers_conformance,
    ),
    "negative": (negative_data_rejection,),
}


@dataclass
class FuzzReport:
    cases: int = 0
    linked: int = 0  # of which sent by the stateful part
    failures: dict[str, list[Finding]] = field(default_factory=dict)
    transport_error: TransportFailure | None = None

    def add(self, family: str, finding: Finding) -> None:
        found = self.failures.setdefault(family, [])
        if len(found) < _MAX_FINDINGS and all(f.title != finding.title for f in found):
            found.append(finding)


def _send(ctx: CheckContext, case: Any, token: str) -> Reply:
    # A request on a connection the server closed after crashing is resent by Transport.
    kwargs = case.as_transport_kwargs(
        base_url=ctx.target.base_url, headers={"Authorization": f"Bearer {token}"}
    )
    body = {k: kwargs[k] for k in ("json", "data", "content") if k in kwargs}
    if "data" in body and not isinstance(body["data"], dict):
        body = {"content": body.pop("data")}
    return ctx.request(
        kwargs["method"],
        kwargs["url"],
        headers=kwargs.get("headers"),
        params=kwargs.get("params") or None,
        **body,
    )


def _judge(case: Any, reply: Reply, report: FuzzReport) -> None:
    # A server error is AGY-NO-SERVER-ERROR's alone: one defect, one failed requirement.
    families = ("server-error",) if reply.status >= 500 else tuple(_CHECKS)
    for family in families:
        for one_check in _CHECKS[family]:
            try:
                case.validate_response(reply.response, checks=[one_check])
            except FailureGroup as group:
                for failure in group.exceptions:
                    report.add(
                        family,
                        Finding(
                            title=f"{case.operation.label}: {failure.title}",
                            observed=str(failure.message)[:1000],
                            expected=f"{one_check.__name__} holds",
                            exchange_ids=(reply.exchange_id,),
                        ),
                    )


def _now_dvc() -> str:
    return datetime.now(_VN).strftime("%Y%m%d%H%M%S")


# Body fields whose random values the agency's semantic checks refuse whatever the
# contract says: (path, the field's own schema as a full-match pattern, realistic value).
# Patterns are the spec's without anchors, used with re.fullmatch (Python's `$` would also
# match before a trailing newline, which JSON Schema's does not).
_REALISTIC: tuple[tuple[tuple[str, ...], re.Pattern[str], Callable[[CheckContext], str]], ...] = (
    (("MaHoSo",), re.compile(r"[0-9A-Z.]{3,30}-[0-9]{6}-[0-9]{4}"), next_dossier_code),
    (("MaTTHC",), re.compile(r"[0-9]\.[0-9]{6}"), lambda _: TEMPORARY_RESIDENCE),
    (("NgayNopHoSo",), re.compile(r"[0-9]{14}"), lambda _: _now_dvc()),
    (("ChuHoSo", "NgaySinh"), re.compile(r"[0-9]{8}"), lambda _: "19900131"),
    (("NgayThanhToan",), re.compile(r"[0-9]{14}"), lambda _: _now_dvc()),
    (("NgayBoSung",), re.compile(r"[0-9]{14}"), lambda _: _now_dvc()),
)


def _make_realistic(ctx: CheckContext, case: Any) -> None:
    """Put realistic values in the fields listed above, where the generated value is
    already valid for that field's schema (so the case stays as valid or invalid as it
    was): a submission can then get past the agency's semantic checks."""
    if not isinstance(case.body, dict):
        return
    body = copy.deepcopy(case.body)
    for path, valid, realistic in _REALISTIC:
        parent = _parent(body, path)
        value = parent.get(path[-1]) if parent is not None else None
        if parent is not None and isinstance(value, str) and valid.fullmatch(value):
            parent[path[-1]] = realistic(ctx)
    case.body = body


def _parent(body: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any] | None:
    """The object holding `path`'s last key, if every step on the way is an object."""
    parent = body
    for key in path[:-1]:
        child = parent.get(key)
        if not isinstance(child, dict):
            return None
        parent = child
    return parent


def _fuzz_operation(
    ctx: CheckContext, operation: Any, mode: GenerationMode, token: str, report: FuzzReport
) -> None:
    # Every negative case and half the positive ones get realistic values (module doc).
    realistic = st.just(True) if mode is GenerationMode.NEGATIVE else st.booleans()

    @seed(ctx.settings.seed)
    @settings(
        max_examples=ctx.settings.examples,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(case=operation.as_strategy(generation_mode=mode), realistic=realistic)
    def run(case: Any, realistic: bool) -> None:
        if realistic:
            _make_realistic(ctx, case)
        _exercise(ctx, case, token, report)

    try:
        run()
    except Unsatisfiable:
        # No invalid request exists for an operation without parameters or body (the
        # token is not fuzzed); a positive run cannot be unsatisfiable.
        if mode is not GenerationMode.NEGATIVE:
            raise


def _exercise(ctx: CheckContext, case: Any, token: str, report: FuzzReport) -> None:
    """Send one generated case and judge the answer; nothing once the target stopped."""
    if report.transport_error is not None:
        return  # the target stopped answering; the rest would only time out
    try:
        reply = _send(ctx, case, token)
    except TransportFailure as exc:
        report.transport_error = exc
        return
    except UnicodeEncodeError:
        return  # a non-ASCII header value (coverage cases) httpx will not send: no request
    report.cases += 1
    _judge(case, reply, report)


def _coverage_cases(schema: Any, operation: Any) -> list[Any]:
    """schemathesis's coverage phase for one operation: boundary values, and invalid
    requests that break one constraint each (a pattern, a type, a length, a required
    field) with the rest valid — deterministic, so an agency that lets one kind of invalid
    data through is found on every seed. Empty where the installed schemathesis has no
    such API (it is not part of its documented Python API)."""
    try:
        config = schema.config.generation_for(operation=operation, phase="coverage")
        cases = schema.iter_coverage_cases(
            operation,
            generation_modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
            generation_config=config,
        )
        return _one_per_scenario(itertools.islice(cases, _MAX_COVERAGE_CASES))
    except (AttributeError, TypeError):
        return []


def _one_per_scenario(cases: Iterable[Any]) -> list[Any]:
    """The first case of each scenario ("HoVaTen: Incorrect type" comes as null, number,
    array…): the variants cost requests and seldom find more."""
    seen: set[tuple[Any, str]] = set()
    kept = []
    for case in cases:
        meta = case.meta
        key = (
            (meta.generation.mode, str(getattr(meta.phase.data, "description", "")))
            if meta
            else None
        )
        if key is None or key not in seen:
            kept.append(case)
        if key is not None:
            seen.add(key)
    return kept


def _cover_operation(
    ctx: CheckContext, schema: Any, operation: Any, token: str, report: FuzzReport
) -> None:
    for case in _coverage_cases(schema, operation):
        _make_realistic(ctx, case)  # only where the value was valid: see the module doc
        _exercise(ctx, case, token, report)


class _TargetStopped(BaseException):
    """Ends the stateful part at once when the target stops answering: a BaseException,
    so hypothesis neither shrinks nor replays it."""


def _linked_machine(ctx: CheckContext, schema: Any, token: str, report: FuzzReport) -> type:
    """schemathesis's state machine for the spec's links, sending through our transport and
    judging each answer like the per-operation cases (never raising, so no shrinking)."""
    base: type = schema.as_state_machine()

    class LinkedOperations(base):  # type: ignore[misc, valid-type]
        reply: Reply | None = None

        def before_call(self, case: Any) -> None:
            _make_realistic(ctx, case)  # a submission must be accepted to feed the links

        def call(self, case: Any, **kwargs: Any) -> Response:
            try:
                self.reply = _send(ctx, case, token)
            except TransportFailure as exc:
                report.transport_error = exc
                raise _TargetStopped from None
            report.cases += 1
            report.linked += 1
            return Response.from_any(self.reply.response)

        def validate_response(self, response: Any, case: Any, *args: Any, **kwargs: Any) -> None:
            if self.reply is not None:
                _judge(case, self.reply, report)

    return LinkedOperations


def _explore_links(ctx: CheckContext, schema: Any, token: str, report: FuzzReport) -> None:
    machine = seed(ctx.settings.seed)(_linked_machine(ctx, schema, token, report))
    bounded = settings(
        max_examples=STATEFUL_SEQUENCES,
        stateful_step_count=STATEFUL_STEPS,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
        print_blob=False,
    )
    try:
        with with_reporter(lambda _: None):
            run_state_machine_as_test(machine, settings=bounded)
    except _TargetStopped:
        pass  # report.transport_error says why


# Our own configuration, so a schemathesis.toml in the working directory changes nothing.
# The bearer token is not fuzzed: the SEC-TOKEN-* checks judge it, and a negative case
# that only drops the token would spend the example budget on a 401.
# Methods a path does not document are not probed: the answer to them is no contract's.
_CONFIG = {
    "generation": {"with-security-parameters": False},
    "phases": {"coverage": {"unexpected-methods": []}},
}


def _fuzz(ctx: CheckContext) -> FuzzReport:
    schema = schemathesis.openapi.from_path(
        str(data_dir("specs") / "agency.yaml"), config=SchemathesisConfig.from_dict(_CONFIG)
    )
    token = agency_token(ctx)
    report = FuzzReport()
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            raise EnvironmentProblem(f"specs/agency.yaml has an unusable operation: {result.err()}")
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz_operation(ctx, operation, mode, token, report)
        _cover_operation(ctx, schema, operation, token, report)
    if report.transport_error is None:
        _explore_links(ctx, schema, token, report)
    return report


def _verdict(ctx: CheckContext, family: str, what: str) -> str:
    report: FuzzReport = ctx.memo("contract-fuzz", _fuzz)
    if report.transport_error is not None:
        raise EnvironmentProblem(
            f"fuzzing stopped after {report.cases} cases: {report.transport_error}"
        )
    if report.cases == 0:
        raise EnvironmentProblem("no generated case reached the agency")
    if report.failures.get(family):
        raise Failure(*report.failures[family])
    return f"{report.cases} generated requests ({report.linked} in linked sequences), {what}"


@check("AGY-NO-SERVER-ERROR@1")
def no_server_errors(ctx: CheckContext) -> str:
    """No generated request, valid or invalid, makes the agency answer 5xx."""
    return _verdict(ctx, "server-error", "no server error")


@check("AGY-CONTRACT@1")
def contract_conformance(ctx: CheckContext) -> str:
    """Every answer has a documented status, content type, headers and schema."""
    return _verdict(ctx, "conformance", "every answer conforms to specs/agency.yaml")


@check("AGY-REJECT-INVALID@1")
def invalid_data_rejected(ctx: CheckContext) -> str:
    """Requests that violate the contract are rejected with 4xx."""
    return _verdict(ctx, "negative", "every invalid request was rejected with 4xx")
