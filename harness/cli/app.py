"""Typer wiring: one small function per command, options grouped by purpose."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from harness.errors import ConfigError

__all__ = ["app", "console", "console_error"]

# Piped output (CI logs) gets a wide fixed width, so tables are not cut at 80 columns.
console = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)
_stderr = Console(stderr=True, highlight=False)

app = typer.Typer(
    name="lienthong",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Certify agency systems against Vietnam's National Public Service Portal and "
    "National Population Database (reference simulators, conformance suites, reports).",
)
credentials_app = typer.Typer(no_args_is_help=True, help="Manage agency client credentials.")
agency_app = typer.Typer(no_args_is_help=True, help="Run the bundled reference or faulty agency.")
app.add_typer(credentials_app, name="credentials")
app.add_typer(agency_app, name="agency")

StateDir = Annotated[
    Path,
    typer.Option("--state-dir", help="Where the sandbox keeps keys, clients, population and logs."),
]


def console_error(message: str) -> None:
    _stderr.print(f"[bold red]error:[/] {message}", markup=True, soft_wrap=True)


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for both reports.")] = Path("reports/demo"),
    state_dir: StateDir = Path(".lienthong/demo"),
    fault: Annotated[
        str,
        typer.Option(
            help="Catalogue fault to certify beside the reference (see `lienthong agency faults`)."
        ),
    ] = "accepts-wrong-audience",
    examples: Annotated[
        int, typer.Option(min=1, max=1000, help="Generated cases per operation and mode.")
    ] = 10,
) -> None:
    """Certify the reference agency (must pass) and one faulty agency (must fail)."""
    from harness.cli.demo import run_demo

    raise typer.Exit(run_demo(out=out, state_dir=state_dir, fault=fault, examples=examples))


@app.command()
def certify(
    target: Annotated[
        str, typer.Option(help="Base URL of the agency API, e.g. http://127.0.0.1:8710")
    ],
    agency_id: Annotated[str, typer.Option(help="Agency ID, e.g. 000.00.01.H29")],
    out: Annotated[Path, typer.Option(help="Folder for the reports.")] = Path("reports/latest"),
    state_dir: StateDir = Path(".lienthong"),
    examples: Annotated[
        int, typer.Option(min=1, max=1000, help="Generated cases per operation and mode.")
    ] = 20,
    sync_timeout: Annotated[
        float, typer.Option(min=1, max=3600, help="Seconds a status sync may take.")
    ] = 30.0,
    seed: Annotated[int, typer.Option(help="Seed for generated data.")] = 0,
    time_budget: Annotated[
        float, typer.Option(min=10, max=86400, help="Seconds the whole run may take.")
    ] = 900.0,
    build_digest: Annotated[
        str | None, typer.Option(help="Digest of the build under test, sha256:<64 hex>.")
    ] = None,
    signing_key: Annotated[
        Path | None, typer.Option(help="Ed25519 key for the certificate [<state-dir>/keys/].")
    ] = None,
    issuer: Annotated[str, typer.Option(help="Who issues the certificate.")] = "lienthong",
    valid_days: Annotated[
        int, typer.Option(min=1, max=3650, help="Certificate validity in days.")
    ] = 180,
    with_load: Annotated[
        bool, typer.Option(help="Also run a load profile; its SLOs join the verdict.")
    ] = False,
    load_profile: Annotated[str, typer.Option(help="Load profile for --with-load.")] = (
        "admission-2025"
    ),
    load_scale: Annotated[float, typer.Option(help="Fraction of the real people.")] = 0.0001,
    load_compress: Annotated[float, typer.Option(help="Time factor of the replay.")] = 3600.0,
    load_max_run: Annotated[
        float, typer.Option(min=5, help="Seconds the load run may take.")
    ] = 120.0,
    profile: Annotated[
        str,
        typer.Option(
            help="Security profile: baseline, or strict (adds TLS ≥ 1.2, mutual TLS, "
            "certificate-bound tokens and RFC 9421 signatures; needs an https:// target)."
        ),
    ] = "baseline",
    target_ca: Annotated[
        Path | None,
        typer.Option(help="strict: CA of the target's server certificate [sandbox CA]."),
    ] = None,
    procedures: Annotated[
        str | None,
        typer.Option(
            help="Procedure codes whose scenarios run, e.g. 1.004194,1.001193 "
            "[those the agency declares at GET /procedures]."
        ),
    ] = None,
    allow_remote_burst: Annotated[
        bool,
        typer.Option(
            help="Let SEC-RATE-LIMIT send its bounded burst (at most 1,500 requests in 5 s) "
            "to a target that is not on this machine; only for systems you operate."
        ),
    ] = False,
) -> None:
    """Certify an agency system; exit 0 pass, 1 fail, 3 could not judge.

    On a pass, writes a signed certificate (certificate.jws) beside the reports.
    """
    from harness.cli.certify import CertificateOptions, LoadChoice, run_certify

    certificate = CertificateOptions(
        signing_key or state_dir / "keys" / "signing-key.json", issuer, build_digest, valid_days
    )
    raise typer.Exit(
        run_certify(
            target=target,
            agency_id=agency_id,
            out=out,
            state_dir=state_dir,
            examples=examples,
            sync_timeout_s=sync_timeout,
            seed=seed,
            time_budget_s=time_budget,
            certificate=certificate,
            load=LoadChoice(load_profile, load_scale, load_compress, load_max_run)
            if with_load
            else None,
            profile=profile,
            target_ca=target_ca,
            procedures=procedures,
            allow_remote_burst=allow_remote_burst,
        )
    )


@app.command()
def load(
    target: Annotated[
        str, typer.Option(help="Agency API base URL (the portal's for status-sync).")
    ] = "",
    profile: Annotated[
        str, typer.Option(help="Profile name in scenarios/load/ or a profile .yaml path.")
    ] = "admission-2025",
    scale: Annotated[float, typer.Option(help="Fraction of the real people, in (0, 1].")] = 0.01,
    compress: Annotated[
        float, typer.Option(help="Time factor: 3600 replays one real hour per second.")
    ] = 3600.0,
    agency_id: Annotated[str, typer.Option(help="Agency ID of the target.")] = "000.00.01.H29",
    out: Annotated[Path, typer.Option(help="Folder for load.json, CSVs, HTML.")] = Path(
        "reports/load"
    ),
    state_dir: StateDir = Path(".lienthong"),
    workers: Annotated[int, typer.Option(min=0, max=256, help="Local worker processes.")] = 0,
    master: Annotated[bool, typer.Option(help="Be the master for remote workers.")] = False,
    master_bind: Annotated[str, typer.Option(help="Address a --master listens on.")] = "0.0.0.0",
    master_port: Annotated[int, typer.Option(min=1, max=65535)] = 5557,
    expect_workers: Annotated[
        int, typer.Option(min=0, help="Remote workers a --master awaits.")
    ] = 0,
    worker: Annotated[
        str | None, typer.Option(help="Join the master at HOST[:PORT] as a worker.")
    ] = None,
    procedure: Annotated[str, typer.Option(help="MaTTHC the target handles.")] = "1.004194",
    max_run_s: Annotated[
        float | None, typer.Option(min=1, help="Stop after this many seconds.")
    ] = None,
    request_timeout: Annotated[float, typer.Option(min=0.1, max=600)] = 10.0,
    security_profile: Annotated[
        str,
        typer.Option(
            help="baseline (bearer tokens), or strict (mutual TLS with the harness's client "
            "certificate, certificate-bound token, RFC 9421 signature on every request; "
            "needs an https:// target)."
        ),
    ] = "baseline",
    target_ca: Annotated[
        Path | None,
        typer.Option(help="strict: CA of the target's server certificate [sandbox CA]."),
    ] = None,
) -> None:
    """Replay a national peak (admission rush, flash crowd…) and grade it; exit 0 pass, 1 fail."""
    from harness.cli.load import LoadCommand, run_load_command, run_worker_command

    if worker is not None:
        raise typer.Exit(run_worker_command(worker, out))
    if not target:
        raise ConfigError("--target is required, e.g. --target http://127.0.0.1:8710")
    command = LoadCommand(
        target, profile, scale, compress, agency_id, out, state_dir, workers, master,
        master_bind, master_port, expect_workers, procedure, max_run_s, request_timeout,
        security_profile, target_ca,
    )  # fmt: skip
    raise typer.Exit(run_load_command(command))


@app.command()
def sandbox(
    state_dir: StateDir = Path(".lienthong"),
    population: Annotated[
        int, typer.Option(min=10, max=1_000_000, help="Citizens to generate on first start.")
    ] = 2000,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic population.")] = 0,
    port_base: Annotated[
        int, typer.Option(min=0, max=65533, help="First of three ports; 0 picks free ones.")
    ] = 8701,
) -> None:
    """Run the identity provider, population database and portal on ports 8701–8703.

    URLs and the admin token are written to <state-dir>/sandbox.json, where `certify`,
    `agency run` and `load` find them.
    """
    from harness.cli.sandbox import run_sandbox

    run_sandbox(state_dir=state_dir, population=population, seed=seed, port_base=port_base)


@credentials_app.command("issue")
def credentials_issue(
    agency_id: Annotated[str, typer.Option(help="Agency ID, e.g. 000.00.01.H29")],
    state_dir: StateDir = Path(".lienthong"),
) -> None:
    """Write a key pair for an agency and register it with the sandbox identity provider."""
    from simulators.identity.credentials import issue_credentials

    try:
        issued = issue_credentials(state_dir, agency_id)
    except ValueError as exc:
        raise ConfigError(f"--agency-id: {exc}") from None
    console.print(
        f"client id   {issued.client_id}\nscopes      {' '.join(issued.scopes)}\n"
        f"private key {issued.directory / 'private-key.pem'}\n"
        f"client file {issued.directory / 'client.json'}"
    )


@agency_app.command("faults")
def agency_faults() -> None:
    """List the faulty-agency catalogue."""
    from simulators.agencies.catalogue import FAULTS

    for fault in FAULTS.values():
        console.print(f"{fault.name:32} breaks {', '.join(fault.breaks):26} {fault.description}")


@agency_app.command("run")
def agency_run(
    agency_id: Annotated[str, typer.Option(help="Agency ID, e.g. 000.00.01.H29")],
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8710,
    fault: Annotated[str | None, typer.Option(help="Run a faulty variant instead.")] = None,
    state_dir: StateDir = Path(".lienthong"),
    profile: Annotated[
        str, typer.Option(help="baseline (HTTP) or strict (HTTPS, mutual TLS, signatures).")
    ] = "baseline",
) -> None:
    """Serve the reference agency (or a faulty one) against a running `lienthong sandbox`."""
    from harness.cli.sandbox import run_agency

    run_agency(agency_id=agency_id, port=port, fault=fault, state_dir=state_dir, profile=profile)


keys_app = typer.Typer(no_args_is_help=True, help="Manage the certificate signing key.")
app.add_typer(keys_app, name="keys")
KeyPath = Annotated[Path, typer.Option("--key", help="The Ed25519 private key (JWK).")]
_DEFAULT_KEY = Path(".lienthong/keys/signing-key.json")
_DEFAULT_REVOCATIONS = Path(".lienthong/keys/revocations.json")


@keys_app.command("generate")
def keys_generate(
    key: KeyPath = _DEFAULT_KEY,
    force: Annotated[bool, typer.Option(help="Replace an existing key.")] = False,
) -> None:
    """Create the signing key (and its public half beside it, *.pub.json)."""
    from harness.cli.keys import generate_key

    generate_key(key, force=force)


@keys_app.command("show")
def keys_show(key: KeyPath = _DEFAULT_KEY) -> None:
    """Print the key id and the public key to hand to verifiers."""
    from harness.cli.keys import show_key

    show_key(key)


@keys_app.command("revoke")
def keys_revoke(
    serial: Annotated[str, typer.Argument(help="The certificate's serial (its jti).")],
    reason: Annotated[str, typer.Option(help="Why it is revoked.")],
    revocations: Annotated[Path, typer.Option(help="The revocation list.")] = _DEFAULT_REVOCATIONS,
) -> None:
    """Add a certificate to the revocation list that `lienthong verify` reads."""
    from harness.cli.keys import revoke

    revoke(serial, reason=reason, revocations=revocations)


@app.command()
def verify(
    certificate: Annotated[Path, typer.Argument(help="A certificate.jws from `certify`.")],
    public_key: Annotated[Path, typer.Option(help="The issuer's public key (*.pub.json).")] = Path(
        ".lienthong/keys/signing-key.pub.json"
    ),
    revocations: Annotated[Path, typer.Option(help="Revocation list.")] = _DEFAULT_REVOCATIONS,
    evidence_dir: Annotated[
        Path | None, typer.Option(help="Also check the evidence files in this folder.")
    ] = None,
) -> None:
    """Check a certificate offline: signature, validity, revocation, evidence digests."""
    from harness.cli.keys import verify_command

    raise typer.Exit(verify_command(certificate, public_key, revocations, evidence_dir))


# Imported last: harness.cli.population imports `console` from this module.
from harness.cli.population import population_app  # noqa: E402

app.add_typer(population_app, name="population")


@app.command()
def catalogue(
    out: Annotated[Path, typer.Option(help="Folder for each run's reports.")] = Path(
        "reports/catalogue"
    ),
    examples: Annotated[int, typer.Option(min=1, max=1000)] = 5,
    sync_timeout: Annotated[float, typer.Option(min=1, max=600)] = 5.0,
) -> None:
    """Certify the reference and every catalogue fault; exit 0 only if all are caught."""
    from harness.cli.catalogue import run_catalogue

    raise typer.Exit(run_catalogue(out=out, examples=examples, sync_timeout_s=sync_timeout))
