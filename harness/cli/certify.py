"""`lienthong certify`: judge an agency system against the sandbox it is configured for."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from harness.cli.app import console
from harness.cli.output import EXIT_CODES, print_event, print_summary
from harness.context import PROFILES, RunSettings, SandboxEndpoints, TlsCredentials
from harness.errors import ConfigError, EnvironmentProblem, TargetUnreachable
from harness.outcomes import Outcome, roll_up
from harness.records import RunResult, Target
from harness.reporting import ReportError, ReportFiles, write_reports
from harness.reporting.certificate import (
    CertificateError,
    issue_certificate,
    load_or_create_signing_key,
    public_key_path,
)
from harness.runner import certify

_BUILD_DIGEST = re.compile(r"[a-z0-9]+:[0-9a-f]{32,128}")
# The name of the harness's client certificate in the sandbox PKI (<state dir>/pki/clients/).
HARNESS_CERTIFICATE = "lienthong-harness"

__all__ = [
    "CertificateOptions",
    "LoadChoice",
    "certify_and_report",
    "check_agency_id",
    "check_procedures",
    "check_profile",
    "check_target_url",
    "issue_if_passed",
    "run_certify",
    "tls_credentials",
]


def check_target_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"--target {url!r} is not an HTTP URL; use the form "
            "http://127.0.0.1:8710 or https://agency.example.gov.vn/api"
        )
    return url.rstrip("/")


def check_profile(profile: str, target_url: str) -> str:
    """The profile, known and fit for the target: strict connects over TLS only."""
    if profile not in PROFILES:
        raise ConfigError(
            f"--profile {profile!r} is not a security profile; use one of {', '.join(PROFILES)} "
            "(DOMAIN.md §8), e.g. --profile strict"
        )
    if profile == "strict" and urlsplit(target_url).scheme != "https":
        raise ConfigError(
            f"--target {target_url!r}: the strict profile connects with mutual TLS; use the "
            "agency's https:// URL, e.g. https://127.0.0.1:8710"
        )
    return profile


def tls_credentials(state_dir: Path, target_ca: Path | None = None) -> TlsCredentials:
    """The strict profile's TLS identity: the harness's client certificate from the sandbox
    PKI (made on first use) and the CA to verify the target with (the sandbox's unless
    `target_ca` names the one that issued the agency's server certificate)."""
    from simulators.common.pki import SandboxPki

    if target_ca is not None and not target_ca.is_file():
        raise ConfigError(
            f"--target-ca {str(target_ca)!r} is not a file; give the PEM file of the CA "
            "that issued the agency's server certificate"
        )
    pki = SandboxPki(state_dir / "pki")
    try:
        harness = pki.client(HARNESS_CERTIFICATE)
    except OSError as exc:
        raise EnvironmentProblem(
            f"the sandbox PKI under {pki.directory} is unusable: {exc}"
        ) from None
    return TlsCredentials(target_ca or pki.ca_file, harness.cert_file, harness.key_file)


def check_procedures(
    procedures: str | None, option: str = "--procedures"
) -> tuple[str, ...] | None:
    """`--procedures 1.004194,1.001193`: the codes whose scenarios run; None, all declared."""
    from harness.scenarios import parse_procedures

    return None if procedures is None else parse_procedures(procedures, option)


def check_agency_id(agency_id: str) -> str:
    from simulators.identity.credentials import AGENCY_ID_PATTERN

    if not AGENCY_ID_PATTERN.fullmatch(agency_id):
        raise ConfigError(
            f"--agency-id {agency_id!r} is not an agency ID; use the form "
            "000.00.01.H29 (digits, capital letters and dots)"
        )
    return agency_id


@dataclass(frozen=True, slots=True)
class CertificateOptions:
    signing_key: Path
    issuer: str
    build_digest: str | None
    valid_days: int

    def check(self) -> None:
        """Refuse a malformed build digest before anything runs."""
        if self.build_digest is not None and not _BUILD_DIGEST.fullmatch(self.build_digest):
            raise ConfigError(
                f"--build-digest {self.build_digest!r} is not a digest; use the "
                "form sha256:<64 hex digits>, e.g. the image digest of the build"
            )


@dataclass(frozen=True, slots=True)
class LoadChoice:
    """`certify --with-load`: a load profile run after the conformance checks."""

    profile: str
    scale: float
    compress: float
    max_run_s: float | None

    def check(self) -> None:
        from harness.cli.load import check_compress, check_scale
        from harness.load.profiles import load_profile

        load_profile(self.profile), check_scale(self.scale), check_compress(self.compress)


def _run_load(settings: RunSettings, choice: LoadChoice) -> Outcome:
    """Run the load profile against the target; its files go to <out>/load/."""
    from harness.load.engine import LoadOptions, run_load
    from harness.load.profiles import load_profile
    from harness.load.report import write_load_report

    options = LoadOptions(
        target_url=settings.target.base_url, profile=load_profile(choice.profile),
        scale=choice.scale, compress=choice.compress, agency_id=settings.target.agency_id,
        out_dir=settings.out_dir / "load", sandbox=settings.sandbox, max_run_s=choice.max_run_s,
        tls=settings.tls,  # strict: the load run talks to the agency as certification does
    )  # fmt: skip
    console.print(
        f"[bold]load[/] {choice.profile} at scale {choice.scale:g}, compressed {choice.compress:g}×"
    )
    result = run_load(options)
    write_load_report(result, options.out_dir)
    console.print(
        f"  load verdict {result.verdict}: "
        + ", ".join(f"{s.name} {_slo_word(s.passed)}" for s in result.slos)
    )
    return Outcome(result.verdict)


def _slo_word(passed: bool | None) -> str:
    return "ok" if passed else "not measured" if passed is None else "NOT met"


def issue_if_passed(verdict: Outcome, out_dir: Path, options: CertificateOptions) -> Path | None:
    """On a pass, sign a certificate for the run; the key is created on first use."""
    if verdict is not Outcome.PASS:
        return None
    try:
        key, created = load_or_create_signing_key(options.signing_key)
        path = issue_certificate(
            out_dir,
            key,
            issuer=options.issuer,
            build_digest=options.build_digest,
            valid_days=options.valid_days,
        )
    except CertificateError as exc:
        raise EnvironmentProblem(f"the certificate could not be issued: {exc}") from None
    if created:
        console.print(f"[dim]created signing key {options.signing_key} (key id {key.key_id})[/]")
    console.print(
        f"  cert  {path}  (check: lienthong verify {path} --public-key "
        f"{public_key_path(options.signing_key)})"
    )
    return path


def certify_and_report(
    settings: RunSettings, *, load: LoadChoice | None = None
) -> tuple[RunResult, Outcome, ReportFiles]:
    """Certify, optionally load-test, write the reports; the run and the overall verdict."""
    profile = " (strict profile)" if settings.strict else ""
    console.print(
        f"[bold]certifying[/] {settings.target.agency_id} at {settings.target.base_url}{profile}"
    )
    run = certify(settings, listener=print_event)
    verdict = run.verdict
    if load is not None:
        verdict = roll_up([verdict, _run_load(settings, load)])
    try:
        files = write_reports(settings.out_dir)
    except ReportError as exc:
        raise EnvironmentProblem(f"the reports could not be written: {exc}") from None
    print_summary(run, files, verdict=verdict)
    return run, verdict, files


def _running_sandbox(state_dir: Path) -> SandboxEndpoints | None:
    """The sandbox `lienthong sandbox` left a record of, if it still answers."""
    record = state_dir / "sandbox.json"
    if not record.exists():
        return None
    try:
        info = json.loads(record.read_text(encoding="utf-8"))
        endpoints = SandboxEndpoints(
            info["identity_url"], info["population_url"], info["portal_url"], info["admin_token"]
        )
        httpx.get(f"{endpoints.identity_url}/.well-known/jwks.json", timeout=2).raise_for_status()
    except (OSError, ValueError, KeyError, TypeError, httpx.HTTPError):
        return None
    return endpoints


@contextmanager
def sandbox_for(state_dir: Path) -> Iterator[SandboxEndpoints]:
    """The running sandbox, or an embedded one on the default ports for this run only."""
    running = _running_sandbox(state_dir)
    if running is not None:
        yield running
        return
    from simulators.sandbox import DEFAULT_PORTS, Sandbox

    sandbox = Sandbox(state_dir, ports=DEFAULT_PORTS)
    try:
        info = sandbox.start()
    except OSError as exc:
        raise EnvironmentProblem(
            f"no sandbox answers for {state_dir} and ports 8701–8703 "
            f"cannot be used to start one: {exc}"
        ) from None
    console.print(
        f"[dim]started an embedded sandbox at {info.identity_url}, "
        f"{info.population_url}, {info.portal_url}[/]"
    )
    try:
        yield SandboxEndpoints(
            info.identity_url, info.population_url, info.portal_url, info.admin_token
        )
    finally:
        sandbox.stop()


def _probe_target(url: str) -> None:
    """Fail fast, before any sandbox starts, when nothing listens at the target.

    Only the TCP connection is tried: a target that accepts and then hangs, cuts off or
    answers garbage is certified (and fails or errors check by check, with a report).
    """
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname or "", port), timeout=5.0).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise TargetUnreachable(
            f"nothing answers at --target {url} ({reason.lower()}); start the "
            "agency system or correct the URL"
        ) from None


def run_certify(
    *,
    target: str,
    agency_id: str,
    out: Path,
    state_dir: Path,
    examples: int,
    sync_timeout_s: float,
    seed: int,
    certificate: CertificateOptions,
    time_budget_s: float = 900.0,
    load: LoadChoice | None = None,
    profile: str = "baseline",
    target_ca: Path | None = None,
    procedures: str | None = None,
    allow_remote_burst: bool = False,
) -> int:
    target_url, agency = check_target_url(target), check_agency_id(agency_id)
    check_profile(profile, target_url)
    if target_ca is not None and profile != "strict":
        raise ConfigError(
            f"--target-ca {str(target_ca)!r} is used only by the strict profile; add "
            "--profile strict or drop it"
        )
    scope = check_procedures(procedures)
    tls = tls_credentials(state_dir, target_ca) if profile == "strict" else None
    certificate.check()
    if load is not None:
        load.check()
    _probe_target(target_url)
    with sandbox_for(state_dir) as endpoints:
        settings = RunSettings(
            target=Target(target_url, agency),
            sandbox=endpoints,
            out_dir=out,
            seed=seed,
            examples=examples,
            sync_timeout_s=sync_timeout_s,
            time_budget_s=time_budget_s,
            profile=profile,
            tls=tls,
            procedures=scope,
            allow_remote_burst=allow_remote_burst,
        )
        _, verdict, _ = certify_and_report(settings, load=load)
    issue_if_passed(verdict, out, certificate)
    return EXIT_CODES[verdict]
