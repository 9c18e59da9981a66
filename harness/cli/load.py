"""`lienthong load`: replay a national peak against a target and grade it against SLOs."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from harness.cli.app import console
from harness.cli.certify import check_agency_id, check_target_url, sandbox_for, tls_credentials
from harness.context import PROFILES, SandboxEndpoints, TlsCredentials
from harness.errors import ConfigError, EnvironmentProblem
from harness.load.engine import LoadOptions, run_load
from harness.load.engine import Progress as LoadProgress
from harness.load.processes import Children
from harness.load.profiles import load_profile
from harness.load.report import write_load_report
from harness.load.result import LoadResult

__all__ = [
    "LoadCommand",
    "check_security_profile",
    "run_load_command",
    "run_worker_command",
]

_STYLE = {"pass": "green", "fail": "red", "error": "yellow"}


@dataclass(frozen=True, slots=True)
class LoadCommand:
    target: str
    profile: str
    scale: float
    compress: float
    agency_id: str
    out: Path
    state_dir: Path
    workers: int
    master: bool
    master_bind: str
    master_port: int
    expect_workers: int
    procedure: str
    max_run_s: float | None
    request_timeout_s: float
    security_profile: str = "baseline"
    target_ca: Path | None = None


def check_scale(scale: float) -> float:
    if not (math.isfinite(scale) and 0 < scale <= 1):
        raise ConfigError(
            f"--scale {scale} is outside (0, 1]; it is the fraction of the real people, "
            "e.g. --scale 0.1 for 10%"
        )
    return scale


def check_compress(compress: float) -> float:
    if not (math.isfinite(compress) and compress > 0):
        raise ConfigError(
            f"--compress {compress} must be a positive time factor, e.g. --compress 3600 "
            "(one real hour per second)"
        )
    return compress


def check_security_profile(profile: str, target_url: str, target_ca: Path | None) -> str:
    """Known, and fit for the target: strict connects with mutual TLS, so https only."""
    if profile not in PROFILES:
        raise ConfigError(
            f"--security-profile {profile!r} is not a security profile; use one of "
            f"{', '.join(PROFILES)} (DOMAIN.md §8), e.g. --security-profile strict"
        )
    if profile == "strict" and urlsplit(target_url).scheme != "https":
        raise ConfigError(
            f"--target {target_url!r}: the strict profile connects with mutual TLS; use the "
            "agency's https:// URL, e.g. https://127.0.0.1:8710"
        )
    if profile != "strict" and target_ca is not None:
        raise ConfigError(
            f"--target-ca {str(target_ca)!r} only applies to --security-profile strict; "
            "add --security-profile strict or leave --target-ca out"
        )
    return profile


def _strict_needs_an_agency(cmd: LoadCommand) -> None:
    if cmd.security_profile == "strict" and load_profile(cmd.profile).target != "agency":
        raise ConfigError(
            f"--profile {cmd.profile!r} loads the portal, which the strict security profile "
            "does not cover; use --security-profile baseline for it"
        )


def _tls(cmd: LoadCommand) -> TlsCredentials | None:
    if cmd.security_profile != "strict":
        return None
    return tls_credentials(cmd.state_dir, cmd.target_ca)


@contextmanager
def _progress_display() -> Iterator[Progress]:
    columns = (
        TextColumn("[bold]load[/]"),
        BarColumn(),
        TextColumn("{task.fields[line]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        yield progress


def _options(
    cmd: LoadCommand, sandbox: SandboxEndpoints, tls: TlsCredentials | None
) -> LoadOptions:
    return LoadOptions(
        target_url=check_target_url(cmd.target),
        profile=load_profile(cmd.profile),
        scale=check_scale(cmd.scale),
        compress=check_compress(cmd.compress),
        agency_id=check_agency_id(cmd.agency_id),
        out_dir=cmd.out,
        sandbox=sandbox,
        workers=0 if cmd.master else cmd.workers,
        procedure_code=cmd.procedure,
        request_timeout_s=cmd.request_timeout_s,
        max_run_s=cmd.max_run_s,
        master_bind=cmd.master_bind if cmd.master else None,
        master_port=cmd.master_port,
        expect_workers=cmd.expect_workers if cmd.master else 0,
        tls=tls,
    )


def _summary(result: LoadResult, out: Path) -> None:
    for slo in result.slos:
        mark = {True: "[green]PASS [/]", False: "[red]FAIL [/]", None: "[yellow]N/A  [/]"}
        shown = "—" if slo.measured is None else f"{slo.measured:.3g}"
        console.print(
            f"  {mark[slo.passed]} {slo.name:32} {shown:>10} {slo.unit:3} "
            f"(limit {slo.limit:g}) [dim]{escape(slo.note)}[/]"
        )
    reason = f" — {escape(result.reason)}" if result.reason else ""
    totals = result.totals
    strict = " (strict profile)" if result.security_profile == "strict" else ""
    console.print(
        f"verdict: [{_STYLE[result.verdict]}]{result.verdict.upper()}[/] {result.profile}{strict} "
        f"against {escape(result.target_url)}: {totals.completed} requests, "
        f"{totals.failed} failed, run {result.status}{reason}"
    )
    for name in ("load.json", "load.html", "timeline.csv", "locust_stats.csv"):
        console.print(f"  {out / name}")


def run_load_command(cmd: LoadCommand) -> int:
    # Validate everything the user typed before any sandbox or process starts.
    load_profile(cmd.profile)
    check_scale(cmd.scale), check_compress(cmd.compress), check_target_url(cmd.target)
    check_agency_id(cmd.agency_id)
    check_security_profile(cmd.security_profile, check_target_url(cmd.target), cmd.target_ca)
    _strict_needs_an_agency(cmd)
    if cmd.master and cmd.expect_workers < 1:
        raise ConfigError("--master needs --expect-workers N (N ≥ 1 remote workers)")
    tls = _tls(cmd)  # checks --target-ca, makes the client certificate on first use
    with sandbox_for(cmd.state_dir) as sandbox, _progress_display() as progress:
        options = _options(cmd, sandbox, tls)
        bar = progress.add_task("load", total=min(options.max_run_s or math.inf, 1e12), line="")

        def show(p: LoadProgress) -> None:
            line = f"{p.status} · {p.users} users · {p.requests} requests · {p.failures} failed"
            progress.update(bar, completed=p.elapsed_s, total=p.duration_s, line=line)

        result = run_load(options, listener=show)
    write_load_report(result, cmd.out)
    _summary(result, cmd.out)
    return result.exit_code


def run_worker_command(master: str, out: Path) -> int:
    """Join a master on another machine; the run's settings come from the master."""
    host, _, port = master.partition(":")
    if not host or (port and not port.isdigit()):
        raise ConfigError(f"--worker {master!r} is not HOST or HOST:PORT, e.g. 10.0.0.5:5557")
    out.mkdir(parents=True, exist_ok=True)
    with Children(out) as children:
        proc = children.spawn("worker", ["worker", "--master-host", host, "--port", port or "5557"])
        console.print(f"worker joined master {escape(master)}; log in {out}/locust-worker.log")
        code = proc.wait()
    if code != 0:
        raise EnvironmentProblem(f"the worker ended with exit code {code}; see {out}")
    return 0
