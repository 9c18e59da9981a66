"""`pytest --lienthong-target URL`: certification as a pytest run, one test per requirement.

Registered as a pytest11 entry point, so installing lienthong is enough; without
`--lienthong-target` it adds nothing and imports nothing heavy. With it, the session
certifies the target once (against the running sandbox of `--lienthong-state-dir`, or an
embedded one on the default ports, exactly like `lienthong certify`) and adds one test per
requirement: passed, failed (with what was observed and how to fix it), skipped, or an
error when the harness could not judge. Reports land in `--lienthong-out`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

__all__ = ["RequirementItem"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lienthong", "certification of an agency system")
    group.addoption("--lienthong-target", help="Base URL of the agency API to certify.")
    group.addoption(
        "--lienthong-agency-id", default="000.00.01.H29", help="Agency ID, e.g. 000.00.01.H29."
    )
    group.addoption("--lienthong-out", default="reports/pytest", help="Folder for the reports.")
    group.addoption("--lienthong-state-dir", default=".lienthong", help="Sandbox state dir.")
    group.addoption(
        "--lienthong-examples", type=int, default=20, help="Generated cases per operation and mode."
    )
    group.addoption(
        "--lienthong-profile",
        default="baseline",
        help="Security profile: baseline or strict (mutual TLS, bound tokens, signatures).",
    )
    group.addoption(
        "--lienthong-target-ca",
        help="strict: PEM file of the CA that issued the target's server certificate "
        "[the sandbox CA].",
    )
    group.addoption(
        "--lienthong-allow-remote-burst",
        action="store_true",
        help="Let SEC-RATE-LIMIT send its bounded burst to a target beyond this machine.",
    )
    group.addoption(
        "--lienthong-procedures",
        help="Procedure codes whose scenarios run, e.g. 1.004194,1.001193 "
        "[those the agency declares at GET /procedures].",
    )


class RequirementItem(pytest.Item):
    """One requirement of the catalogue, judged from the session's single certification."""

    def __init__(self, *, requirement: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.requirement = requirement

    def runtest(self) -> None:
        result = _run(self.config)
        outcome = next(r for r in result["requirements"] if r["id"] == self.requirement)
        if outcome["outcome"] == "skip":
            pytest.skip(f"{self.requirement} was not judged")
        if outcome["outcome"] != "pass":
            raise RequirementFailed(outcome, result["checks"])

    def repr_failure(self, excinfo: Any, style: Any = None) -> str:
        if isinstance(excinfo.value, RequirementFailed):
            return excinfo.value.explain()
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return Path("specs/requirements.yaml"), 0, f"requirement {self.requirement}"


class RequirementFailed(Exception):
    def __init__(self, requirement: dict[str, Any], checks: list[dict[str, Any]]) -> None:
        super().__init__(requirement["id"])
        self.requirement = requirement
        self.checks = [c for c in checks if c["name"] in requirement["checks"]]

    def explain(self) -> str:
        req = self.requirement
        lines = [f"{req['id']} {req['outcome'].upper()}: {req['text']['en']}"]
        for check in self.checks:
            lines.append(f"  {check['name']}: {check['summary']}")
            for finding in check["findings"]:
                lines.append(f"    observed: {finding['observed']}")
                lines.append(f"    expected: {finding['expected']}")
        lines.append(f"  fix: {req['remediation']['en']}")
        return "\n".join(lines)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    if not config.getoption("lienthong_target"):
        return
    from harness.errors import ConfigError
    from harness.requirements import load_requirements

    try:
        catalogue = load_requirements().for_profile(str(config.getoption("lienthong_profile")))
    except ConfigError as exc:
        raise pytest.UsageError(f"--lienthong-profile: {exc}") from None
    _procedures(config)  # a bad code is a usage error before anything is collected or run
    _target_ca(config)
    for requirement in catalogue.requirements:
        key = requirement.key
        items.append(RequirementItem.from_parent(session, name=key, requirement=key))


_RESULTS = pytest.StashKey[dict[str, Any]]()


def _procedures(config: pytest.Config) -> tuple[str, ...] | None:
    from harness.cli.certify import check_procedures
    from harness.errors import ConfigError

    value = config.getoption("lienthong_procedures")
    try:
        return check_procedures(None if value is None else str(value), "--lienthong-procedures")
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None


def _target_ca(config: pytest.Config) -> Path | None:
    value = config.getoption("lienthong_target_ca")
    if value is None:
        return None
    path = Path(str(value))
    if config.getoption("lienthong_profile") != "strict":
        raise pytest.UsageError(
            f"--lienthong-target-ca {str(path)!r} is used only by the strict profile; "
            "add --lienthong-profile strict or drop it"
        )
    if not path.is_file():
        raise pytest.UsageError(
            f"--lienthong-target-ca {str(path)!r} is not a file; give the PEM file of the CA "
            "that issued the agency's server certificate"
        )
    return path


def _run(config: pytest.Config) -> dict[str, Any]:
    """Certify once per session; every RequirementItem reads the same results."""
    if _RESULTS not in config.stash:
        config.stash[_RESULTS] = _certify(config)
    return config.stash[_RESULTS]


def _certify(config: pytest.Config) -> dict[str, Any]:
    from harness.cli.certify import (
        check_agency_id,
        check_profile,
        check_target_url,
        sandbox_for,
        tls_credentials,
    )
    from harness.context import RunSettings
    from harness.records import Target
    from harness.reporting import write_reports
    from harness.runner import certify

    target = check_target_url(str(config.getoption("lienthong_target")))
    agency = check_agency_id(str(config.getoption("lienthong_agency_id")))
    out = Path(str(config.getoption("lienthong_out")))
    profile = check_profile(str(config.getoption("lienthong_profile")), target)
    state_dir = Path(str(config.getoption("lienthong_state_dir")))
    with sandbox_for(state_dir) as endpoints:
        settings = RunSettings(
            target=Target(target, agency),
            sandbox=endpoints,
            out_dir=out,
            examples=int(config.getoption("lienthong_examples")),
            profile=profile,
            tls=tls_credentials(state_dir, _target_ca(config)) if profile == "strict" else None,
            procedures=_procedures(config),
            allow_remote_burst=bool(config.getoption("lienthong_allow_remote_burst")),
        )
        run = certify(settings)
    write_reports(out)
    return run.as_dict()
