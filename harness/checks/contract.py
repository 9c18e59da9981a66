"""Contract checks: schemathesis generates valid and invalid requests from
specs/agency.yaml, sends them through our transport (bounded, timed, recorded) and
validates each answer with schemathesis's own checks.

One fuzzing run per certification is shared by three checks, one per requirement: server
errors, contract conformance, rejection of invalid data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
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
from harness.sandbox_api import agency_token
from harness.transport import TransportFailure

__all__ = ["contract_conformance", "invalid_data_rejected", "no_server_errors"]

_MAX_FINDINGS = 5

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
    failures: dict[str, list[Finding]] = field(default_factory=dict)
    transport_error: TransportFailure | None = None

    def add(self, family: str, finding: Finding) -> None:
        found = self.failures.setdefault(family, [])
        if len(found) < _MAX_FINDINGS and all(f.title != finding.title for f in found):
            found.append(finding)


def _send(ctx: CheckContext, case: Any, token: str) -> Any:
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


def _judge(case: Any, reply: Any, report: FuzzReport) -> None:
    for family, checks in _CHECKS.items():
        for one_check in checks:
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


def _fuzz_operation(
    ctx: CheckContext, operation: Any, mode: GenerationMode, token: str, report: FuzzReport
) -> None:
    @seed(ctx.settings.seed)
    @settings(
        max_examples=ctx.settings.examples,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        if report.transport_error is not None:
            return  # the target stopped answering; the rest would only time out
        try:
            reply = _send(ctx, case, token)
        except TransportFailure as exc:
            report.transport_error = exc
            return
        report.cases += 1
        _judge(case, reply, report)

    run()


def _fuzz(ctx: CheckContext) -> FuzzReport:
    schema = schemathesis.openapi.from_path(str(data_dir("specs") / "agency.yaml"))
    token = agency_token(ctx)
    report = FuzzReport()
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            raise EnvironmentProblem(f"specs/agency.yaml has an unusable operation: {result.err()}")
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz_operation(ctx, operation, mode, token, report)
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
    return f"{report.cases} generated requests, {what}"


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
