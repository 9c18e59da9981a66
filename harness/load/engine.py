"""`run_load`: prepare credentials and applicants, run locust in child processes, grade.

The parent never imports locust or gevent; it talks to its children through files in the
output folder (the run configuration in, `timeline.json` and CSVs out).
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.context import SandboxEndpoints, TlsCredentials
from harness.errors import ConfigError, EnvironmentProblem
from harness.load.auth import signed_spec
from harness.load.config import RunConfig
from harness.load.prepare import mint_token, probe_target, sample_applicants
from harness.load.processes import Children
from harness.load.profiles import Profile
from harness.load.result import LoadResult, build_result
from harness.load.shape import Plan
from harness.tls import certificate_thumbprint

__all__ = ["LoadOptions", "Progress", "run_load"]

_AGENCY_SCOPES = "dossier.submit dossier.read"
_STARTUP_GRACE_S = 30.0
_CONFIG_FILE = "run-config.json"
_TIMELINE = "timeline.json"


@dataclass(frozen=True, slots=True)
class LoadOptions:
    target_url: str
    profile: Profile
    scale: float
    compress: float
    agency_id: str
    out_dir: Path
    sandbox: SandboxEndpoints
    workers: int = 0  # local worker processes; 0 runs one local process
    procedure_code: str = "1.004194"
    request_timeout_s: float = 10.0
    max_run_s: float | None = None
    master_bind: str | None = None  # serve as master for remote workers on this address
    master_port: int = 5557
    expect_workers: int = 0  # remote workers to wait for when master_bind is set
    connect_timeout_s: float = 60.0
    abort_after_s: float = 5.0  # stop early once every request failed for this long
    # The strict security profile (DOMAIN.md §8): mutual TLS with these files, a token
    # bound to the client certificate, every request signed. None: baseline (bearer).
    tls: TlsCredentials | None = None

    @property
    def security_profile(self) -> str:
        return "baseline" if self.tls is None else "strict"


@dataclass(frozen=True, slots=True)
class Progress:
    elapsed_s: float
    duration_s: float
    requests: int
    failures: int
    users: int
    status: str


def _plan(options: LoadOptions) -> Plan:
    if not 0 < options.scale <= 1:
        raise ConfigError(f"--scale {options.scale} is outside (0, 1]; use e.g. 0.1 for 10%")
    if options.compress <= 0:
        raise ConfigError(f"--compress {options.compress} must be > 0; e.g. 3600 (1 h → 1 s)")
    return Plan(options.profile, options.scale, options.compress)


def _check_security(options: LoadOptions) -> None:
    """The strict profile is an agency API's: over HTTPS, never the portal's status sync."""
    if options.tls is None:
        return
    if options.profile.target != "agency":
        raise ConfigError(
            f"load profile {options.profile.name!r} loads the portal, which the strict "
            "security profile does not cover; use --security-profile baseline for it"
        )
    if not options.target_url.startswith("https://"):
        raise ConfigError(
            f"--target {options.target_url!r}: the strict profile connects with mutual TLS; "
            "use the agency's https:// URL, e.g. https://127.0.0.1:8710"
        )


def _config(options: LoadOptions, plan: Plan) -> RunConfig:
    run_s = min(plan.duration_s, options.max_run_s or plan.duration_s)
    lifetime = int(run_s + _STARTUP_GRACE_S + options.connect_timeout_s + 600)
    agency = options.agency_id
    if options.profile.target == "agency":
        audience, scope, subject = f"urn:lienthong:agency:{agency}", _AGENCY_SCOPES, "lienthong"
        applicants = sample_applicants(options.sandbox, plan.applicants)
    else:
        audience, scope, subject, applicants = "urn:lienthong:portal", "portal.sync", agency, []
    tls = options.tls
    token = mint_token(
        options.sandbox,
        audience=audience,
        scope=scope,
        lifetime_s=lifetime,
        subject=subject,
        agency_id=agency if options.profile.target != "agency" else None,
        bound_to=None if tls is None else certificate_thumbprint(tls.cert_file),
    )
    auth = {"kind": "bearer", "token": token} if tls is None else signed_spec(token, tls)
    return RunConfig(
        target_url=options.target_url,
        profile=options.profile.raw,
        scale=options.scale,
        compress=options.compress,
        agency_id=agency,
        procedure_code=options.procedure_code,
        auth=auth,
        applicants=applicants,
        out_dir=str(options.out_dir),
        request_timeout_s=options.request_timeout_s,
        max_run_s=options.max_run_s,
        abort_after_s=options.abort_after_s,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _spawn(children: Children, options: LoadOptions, config_path: Path) -> None:
    config = ["--config", str(config_path)]
    timeout = ["--connect-timeout", str(options.connect_timeout_s)]
    if options.master_bind is not None:
        bind, port, expected = options.master_bind, options.master_port, options.expect_workers
        args = ["--bind", bind, "--port", str(port), "--expect-workers", str(expected)]
        children.spawn("master", ["master", *config, *args, *timeout])
        return
    if options.workers <= 0:
        children.spawn("local", ["local", *config])
        return
    port = _free_port()
    master = ["--bind", "127.0.0.1", "--port", str(port), "--expect-workers", str(options.workers)]
    children.spawn("master", ["master", *config, *master, *timeout])
    for n in range(options.workers):
        children.spawn(f"worker-{n + 1}", ["worker", "--port", str(port), *timeout])


def read_timeline(out_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((out_dir / _TIMELINE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _progress(timeline: dict[str, Any] | None, started: float, plan: Plan) -> Progress:
    totals = (timeline or {}).get("totals", {})
    users = (timeline or {}).get("users", {})
    return Progress(
        elapsed_s=time.monotonic() - started,
        duration_s=plan.duration_s,
        requests=int(totals.get("requests", 0)),
        failures=int(totals.get("failures", 0)),
        users=int(users[max(users, key=int)]) if users else 0,
        status=str((timeline or {}).get("status", "starting")),
    )


def _supervise(
    children: Children,
    options: LoadOptions,
    plan: Plan,
    listener: Callable[[Progress], None] | None,
) -> str:
    """Wait for the master/local process; returns how the run ended."""
    started = time.monotonic()
    run_s = min(plan.duration_s, options.max_run_s or plan.duration_s)
    deadline = started + run_s + _STARTUP_GRACE_S + options.connect_timeout_s
    lead = children.procs[0]
    while lead.poll() is None:
        if time.monotonic() > deadline:
            return "timeout"
        if listener is not None:
            listener(_progress(read_timeline(options.out_dir), started, plan))
        time.sleep(0.5)
    return "exited" if lead.returncode == 0 else f"exit code {lead.returncode}"


def run_load(
    options: LoadOptions, *, listener: Callable[[Progress], None] | None = None
) -> LoadResult:
    """Run one profile against the target and grade it; never leaves a child behind."""
    plan = _plan(options)
    _check_security(options)
    probe_target(options.target_url, tls=options.tls)
    options.out_dir.mkdir(parents=True, exist_ok=True)
    (options.out_dir / _TIMELINE).unlink(missing_ok=True)
    config_path = options.out_dir / _CONFIG_FILE
    _config(options, plan).write(config_path)
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    ending = "interrupted"
    try:
        with Children(options.out_dir) as children:
            _spawn(children, options, config_path)
            try:
                ending = _supervise(children, options, plan, listener)
            except KeyboardInterrupt:
                ending = "interrupted"  # report what was measured, then exit 3
    finally:
        config_path.unlink(missing_ok=True)  # it holds a bearer token
    timeline = read_timeline(options.out_dir)
    if timeline is None:
        raise EnvironmentProblem(
            f"the locust process ended ({ending}) without measuring anything; "
            f"see {options.out_dir}/locust-*.log"
        )
    return build_result(options, plan, timeline, ending=ending, started_at=started_at)
