"""Typer wiring: one small function per command, options grouped by purpose."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from harness.errors import ConfigError

__all__ = ["app", "console", "console_error"]

console = Console(highlight=False, soft_wrap=True)
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
) -> None:
    """Certify an agency system; exit 0 pass, 1 fail, 3 could not judge."""
    from harness.cli.certify import run_certify

    raise typer.Exit(
        run_certify(
            target=target,
            agency_id=agency_id,
            out=out,
            state_dir=state_dir,
            examples=examples,
            sync_timeout_s=sync_timeout,
            seed=seed,
        )
    )


@app.command()
def sandbox(
    state_dir: StateDir = Path(".lienthong"),
    population: Annotated[
        int, typer.Option(min=10, max=1_000_000, help="Citizens to generate on first start.")
    ] = 2000,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic population.")] = 0,
) -> None:
    """Run the identity provider, population database and portal on ports 8701–8703."""
    from harness.cli.sandbox import run_sandbox

    run_sandbox(state_dir=state_dir, population=population, seed=seed)


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
) -> None:
    """Serve the reference agency (or a faulty one) against a running `lienthong sandbox`."""
    from harness.cli.sandbox import run_agency

    run_agency(agency_id=agency_id, port=port, fault=fault, state_dir=state_dir)
