"""`lienthong demo`: the whole product in one minute, on embedded defaults.

Starts the sandbox and two agencies on free loopback ports, certifies the reference
agency (it must pass) and one catalogue fault (it must fail on its intended requirement),
and leaves both reports under the output folder.
"""

from __future__ import annotations

from pathlib import Path

from harness.cli.app import console
from harness.cli.certify import CertificateOptions, certify_and_report, issue_if_passed
from harness.context import RunSettings, SandboxEndpoints
from harness.errors import ConfigError
from harness.outcomes import Outcome
from harness.records import RunResult, Target

__all__ = ["REFERENCE_AGENCY_ID", "run_demo"]

REFERENCE_AGENCY_ID = "000.00.01.H29"
FAULTY_AGENCY_ID = "000.00.02.H29"


def _settings(
    endpoints: SandboxEndpoints, url: str, agency_id: str, out: Path, examples: int
) -> RunSettings:
    return RunSettings(
        target=Target(url, agency_id),
        sandbox=endpoints,
        out_dir=out,
        examples=examples,
        sync_timeout_s=30.0,
    )


def _fault_caught(run: RunResult, breaks: tuple[str, ...]) -> bool:
    failed = {r.requirement.key for r in run.requirements if r.outcome is Outcome.FAIL}
    return run.verdict is Outcome.FAIL and set(breaks) <= failed


def run_demo(*, out: Path, state_dir: Path, fault: str, examples: int) -> int:
    from simulators.agencies.catalogue import REFERENCE, fault_named
    from simulators.identity.credentials import issue_credentials
    from simulators.sandbox import Sandbox

    try:
        chosen = fault_named(fault)
    except ValueError as exc:
        raise ConfigError(f"--fault: {exc}") from None
    with Sandbox(state_dir) as sandbox:
        info = sandbox.info
        endpoints = SandboxEndpoints(
            info.identity_url, info.population_url, info.portal_url, info.admin_token
        )
        console.print(
            f"sandbox: identity {info.identity_url} · population "
            f"{info.population_url} · portal {info.portal_url}"
        )
        reference = sandbox.start_agency(
            issue_credentials(state_dir, REFERENCE_AGENCY_ID), behaviour=REFERENCE, name="reference"
        )
        faulty = sandbox.start_agency(
            issue_credentials(state_dir, FAULTY_AGENCY_ID),
            behaviour=chosen.behaviour,
            name=chosen.name,
        )
        good, _, _ = certify_and_report(
            _settings(endpoints, reference.url, REFERENCE_AGENCY_ID, out / "reference", examples)
        )
        key = state_dir / "keys" / "signing-key.json"
        issue_if_passed(
            good.verdict, out / "reference", CertificateOptions(key, "lienthong demo", None, 180)
        )
        console.print(f"\n[bold]faulty agency[/] {chosen.name}: {chosen.description}")
        bad, _, _ = certify_and_report(
            _settings(endpoints, faulty.url, FAULTY_AGENCY_ID, out / chosen.name, examples)
        )
    as_expected = good.verdict is Outcome.PASS and _fault_caught(bad, chosen.breaks)
    console.print(
        f"\n[bold]demo:[/] reference {good.verdict.value}, {chosen.name} "
        f"{bad.verdict.value} (expected to violate {', '.join(chosen.breaks)}) — "
        + ("[green]as expected[/]" if as_expected else "[red]NOT as expected[/]")
    )
    return 0 if as_expected else 1
