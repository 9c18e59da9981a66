"""The harness's own trustworthiness: the reference agency passes everything, and every
fault of the catalogue fails exactly the requirement(s) it was built to break."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.cli.certify import tls_credentials
from harness.context import RunSettings, SandboxEndpoints
from harness.outcomes import Outcome
from harness.records import RunResult, Target
from harness.runner import certify
from simulators.agencies.catalogue import FAULTS, REFERENCE, STRICT_REFERENCE, Behaviour
from simulators.identity.credentials import issue_credentials
from simulators.sandbox import Sandbox

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox(tmp_path_factory.mktemp("sandbox"), population_size=300) as running:
        yield running


def _certify(
    sandbox: Sandbox,
    tmp_path: Path,
    agency_id: str,
    behaviour: Behaviour,
    profile: str = "baseline",
) -> RunResult:
    agency = sandbox.start_agency(
        issue_credentials(sandbox.state_dir, agency_id), behaviour=behaviour, name=agency_id
    )
    info = sandbox.info
    settings = RunSettings(
        target=Target(agency.url, agency_id),
        sandbox=SandboxEndpoints(
            info.identity_url, info.population_url, info.portal_url, info.admin_token
        ),
        out_dir=tmp_path,
        examples=5,
        sync_timeout_s=4.0,
        profile=profile,
        tls=tls_credentials(sandbox.state_dir) if profile == "strict" else None,
    )
    return certify(settings)


def _failed(run: RunResult) -> set[str]:
    return {r.requirement.key for r in run.requirements if r.outcome is Outcome.FAIL}


def test_the_reference_agency_passes_every_requirement(sandbox: Sandbox, tmp_path: Path) -> None:
    run = _certify(sandbox, tmp_path, "000.00.10.H29", REFERENCE)
    assert run.verdict is Outcome.PASS, _explain(run)
    assert {r.outcome for r in run.requirements} == {Outcome.PASS}
    assert (tmp_path / "results.json").exists() and (tmp_path / "evidence.jsonl").exists()


def test_the_strict_reference_agency_passes_every_strict_requirement(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    run = _certify(sandbox, tmp_path, "000.00.11.H29", STRICT_REFERENCE, "strict")
    assert run.verdict is Outcome.PASS, _explain(run)
    assert {r.outcome for r in run.requirements} == {Outcome.PASS}
    assert {r.requirement.id for r in run.requirements} >= {"SEC-MTLS", "SEC-SIG-REPLAY"}


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_each_fault_fails_exactly_its_intended_requirements(
    sandbox: Sandbox, tmp_path: Path, name: str
) -> None:
    fault = FAULTS[name]
    agency_id = f"000.00.{20 + sorted(FAULTS).index(name)}.H29"
    run = _certify(sandbox, tmp_path, agency_id, fault.behaviour, fault.profile)
    assert run.verdict is Outcome.FAIL, _explain(run)
    assert _failed(run) == set(fault.breaks), _explain(run)
    assert not [r for r in run.requirements if r.outcome is Outcome.ERROR], _explain(run)


def _explain(run: RunResult) -> str:
    """What went other than pass, with each check's summary, for the failure message."""
    return "\n".join(
        f"{c.check} ({', '.join(c.requirement_ids)}): {c.outcome.value} — {c.summary[:300]}"
        for c in run.checks
        if c.outcome is not Outcome.PASS
    )


def test_an_earlier_runs_audit_history_is_not_evidence(sandbox: Sandbox, tmp_path: Path) -> None:
    """Same client, verified last time, skips verification now: this run must fail."""
    agency_id = "000.00.99.H29"  # apart from the faults' 000.00.20… and up
    credentials = issue_credentials(sandbox.state_dir, agency_id)
    info = sandbox.info
    endpoints = SandboxEndpoints(
        info.identity_url, info.population_url, info.portal_url, info.admin_token
    )
    outcomes, titles = [], []
    for run, behaviour in enumerate((REFERENCE, FAULTS["skips-applicant-verification"].behaviour)):
        agency = sandbox.start_agency(credentials, behaviour=behaviour, name=f"history-{run}")
        settings = RunSettings(
            target=Target(agency.url, agency_id),
            sandbox=endpoints,
            out_dir=tmp_path / str(run),
            examples=3,
            sync_timeout_s=4.0,
        )
        result = certify(settings)
        outcomes.append(_failed(result))
        titles += [f.title for c in result.checks for f in c.findings]
    assert outcomes == [set(), {"POP-VERIFY-APPLICANT@1"}]
    # The verification the first run made must not stand in for the one the second skipped.
    assert "The applicant was never verified at the population database" in titles
