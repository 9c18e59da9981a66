"""The runner: preflight, run every registered check, roll outcomes up, write results.json.

It emits events to whoever listens (the CLI's progress display) and never imports the
report writers: reports are built afterwards from the files it leaves.
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from harness import __version__
from harness.checks import CheckSpec, registered_checks
from harness.context import CheckContext, RunSettings
from harness.errors import (
    ConfigError,
    EnvironmentProblem,
    Failure,
    HarnessError,
    Skip,
    TargetUnreachable,
)
from harness.evidence import EvidenceLog
from harness.outcomes import Outcome, roll_up
from harness.records import CheckResult, Finding, RequirementResult, RunResult
from harness.requirements import RequirementCatalogue, load_requirements
from harness.transport import Transport, TransportFailure

__all__ = ["RESULTS_FILE", "CheckFinished", "CheckStarted", "certify", "decide_verdict"]

RESULTS_FILE = "results.json"


@dataclass(frozen=True, slots=True)
class CheckStarted:
    check: str
    description: str


@dataclass(frozen=True, slots=True)
class CheckFinished:
    result: CheckResult


Event = CheckStarted | CheckFinished
Listener = Callable[[Event], None]


def _run_check(spec: CheckSpec, ctx: CheckContext) -> CheckResult:
    started = time.monotonic()

    def result(outcome: Outcome, summary: str, findings: tuple[Finding, ...] = ()) -> CheckResult:
        return CheckResult(
            spec.name, spec.requirements, outcome, summary, findings, time.monotonic() - started
        )

    try:
        return result(Outcome.PASS, spec.func(ctx))
    except Failure as failure:
        return result(Outcome.FAIL, failure.findings[0].title, failure.findings)
    except Skip as skip:
        return result(Outcome.SKIP, str(skip))
    except HarnessError as error:
        return result(Outcome.ERROR, f"could not judge: {error}")
    except Exception as error:  # a bug in a check must not cost the whole run
        return result(Outcome.ERROR, f"internal error in check: {type(error).__name__}: {error}")


def _requirement_results(
    catalogue: RequirementCatalogue, checks: Sequence[CheckResult]
) -> tuple[RequirementResult, ...]:
    results = []
    for requirement in catalogue.requirements:
        mine = [c for c in checks if requirement.key in c.requirement_ids]
        results.append(
            RequirementResult(
                requirement, roll_up(c.outcome for c in mine), tuple(c.check for c in mine)
            )
        )
    return tuple(results)


def decide_verdict(results: Sequence[RequirementResult]) -> Outcome:
    """fail if a mandatory requirement failed; error if one could not be judged or was not
    run (a certificate cannot rest on it); otherwise pass. Recommended ones inform only."""
    mandatory = [r.outcome for r in results if r.requirement.severity == "mandatory"]
    if Outcome.FAIL in mandatory:
        return Outcome.FAIL
    if Outcome.ERROR in mandatory or Outcome.SKIP in mandatory:
        return Outcome.ERROR
    return Outcome.PASS


def _preflight(transport: Transport, settings: RunSettings) -> None:
    try:
        transport.request(
            "preflight", "GET", settings.sandbox.identity_url + "/.well-known/jwks.json"
        )
    except TransportFailure as exc:
        raise EnvironmentProblem(f"the sandbox is not reachable: {exc}") from None
    try:
        transport.request("preflight", "GET", settings.target.base_url.rstrip("/") + "/dossiers")
    except TransportFailure as exc:
        # Only "nothing listens" stops the run: a target that hangs, cuts off or speaks
        # garbage is judged check by check, and its report says what it did.
        if exc.kind == "refused":
            raise TargetUnreachable(
                f"target {settings.target.base_url} is unreachable: {exc}"
            ) from None


def _check_registry(catalogue: RequirementCatalogue, specs: Sequence[CheckSpec]) -> None:
    covered = {key for spec in specs for key in spec.requirements}
    unknown = covered - set(catalogue.keys())
    if unknown:
        raise ConfigError(f"checks name requirements the catalogue lacks: {sorted(unknown)}")


def _profile_checks(
    catalogue: RequirementCatalogue, specs: Sequence[CheckSpec]
) -> tuple[CheckSpec, ...]:
    """The checks that judge at least one requirement of the run's profile."""
    keys = set(catalogue.keys())
    return tuple(spec for spec in specs if keys & set(spec.requirements))


def _client(settings: RunSettings) -> httpx.Client:
    """Plain for baseline; for strict, mutual TLS and a signature on every target request."""
    if not settings.strict:
        return httpx.Client(follow_redirects=False)
    if settings.tls is None:
        raise ConfigError(
            "the strict profile needs TLS credentials (CA file, client certificate and key); "
            "`lienthong certify --profile strict` takes them from the sandbox PKI"
        )
    from harness.signing import RequestSigner, SigningAuth
    from harness.tls import client_context

    tls = settings.tls
    try:
        context = client_context(tls, present=(tls.cert_file, tls.key_file))
        signer = RequestSigner.from_files(tls.cert_file, tls.key_file)
    except (OSError, ValueError, ssl.SSLError) as exc:
        raise ConfigError(f"the strict profile's TLS credentials cannot be used: {exc}") from None
    url = httpx.URL(settings.target.base_url)
    origin = f"{url.scheme}://{url.netloc.decode('ascii')}"
    return httpx.Client(follow_redirects=False, verify=context, auth=SigningAuth(signer, origin))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def certify(
    settings: RunSettings, *, client: httpx.Client | None = None, listener: Listener | None = None
) -> RunResult:
    """Run the whole suite against `settings.target`; results.json lands in out_dir."""
    full = load_requirements()
    _check_registry(full, registered_checks())
    catalogue = full.for_profile(settings.profile)
    specs = _profile_checks(catalogue, registered_checks())
    started_at, started = _now(), time.monotonic()
    evidence = EvidenceLog(settings.out_dir)
    memos: dict[str, object] = {}
    try:
        with client or _client(settings) as http:
            transport = Transport(
                http,
                evidence,
                timeout_s=settings.request_timeout_s,
                deadline=time.monotonic() + settings.time_budget_s,
            )
            _preflight(transport, settings)
            checks = []
            for spec in specs:
                if listener:
                    listener(CheckStarted(spec.name, spec.description))
                checks.append(_run_check(spec, CheckContext(settings, transport, memos, spec.name)))
                if listener:
                    listener(CheckFinished(checks[-1]))
    finally:
        evidence.close()
    requirements = _requirement_results(catalogue, checks)
    run = RunResult(
        settings.target,
        catalogue.suite_version,
        __version__,
        settings.profile,
        settings.seed,
        started_at,
        _now(),
        time.monotonic() - started,
        decide_verdict(requirements),
        requirements,
        tuple(checks),
    )
    (settings.out_dir / RESULTS_FILE).write_text(
        json.dumps(run.as_dict(), indent=2, ensure_ascii=False), encoding="utf-8"
    )
    return run
