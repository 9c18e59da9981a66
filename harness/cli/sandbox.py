"""`lienthong sandbox` and `lienthong agency run`: long-running simulators on fixed ports."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from harness.cli.app import console
from harness.errors import ConfigError, EnvironmentProblem

if TYPE_CHECKING:
    from simulators.agencies.catalogue import Behaviour

__all__ = ["run_agency", "run_sandbox"]


def _wait_forever() -> None:
    console.print("[dim]Ctrl-C stops it.[/]")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        console.print("stopping")


def run_sandbox(*, state_dir: Path, population: int, seed: int, port_base: int) -> None:
    from simulators.sandbox import Sandbox, SandboxPorts

    ports = SandboxPorts(*(port_base + i if port_base else 0 for i in range(3)))
    sandbox = Sandbox(state_dir, ports=ports, population_size=population, seed=seed)
    try:
        info = sandbox.start()
    except OSError as exc:
        raise EnvironmentProblem(
            f"cannot listen on ports {port_base}–{port_base + 2} ({exc}); is another sandbox "
            "already running? Pick other ports with --port-base"
        ) from None
    console.print(
        f"identity provider    {info.identity_url}  (token: /oauth2/token)\n"
        f"population database  {info.population_url}\n"
        f"portal               {info.portal_url}\n"
        f"admin token          {state_dir / 'admin-token'}\n"
        f"issue agency credentials with: lienthong credentials issue "
        f"--agency-id ID --state-dir {state_dir}"
    )
    try:
        _wait_forever()
    finally:
        sandbox.stop()


def _register_route(info: dict[str, str], agency_id: str, url: str) -> None:
    """Tell the sandbox portal where this agency is, so citizens' dossiers reach it."""
    import httpx

    try:
        httpx.post(
            f"{info['portal_url']}/admin/routes",
            timeout=5.0,
            json={"agency_id": agency_id, "base_url": url},
            headers={"Authorization": f"Bearer {info['admin_token']}"},
        ).raise_for_status()
    except httpx.HTTPError as exc:
        console.print(
            f"[yellow]the portal did not take the route ({exc}); citizens' "
            "dossiers will not reach this agency[/]"
        )


def _behaviour(fault: str | None, profile: str) -> Behaviour:
    """The fault's switches (a strict fault is served strict), else the profile's reference."""
    from simulators.agencies.catalogue import REFERENCE, STRICT_REFERENCE, fault_named

    if profile not in ("baseline", "strict"):
        raise ConfigError(f"--profile {profile!r} is not a profile; use baseline or strict")
    try:
        chosen = fault_named(fault).behaviour if fault else None
    except ValueError as exc:
        raise ConfigError(f"--fault: {exc}") from None
    if chosen is None:
        return STRICT_REFERENCE if profile == "strict" else REFERENCE
    return replace(chosen, strict=True) if profile == "strict" else chosen


def run_agency(
    *, agency_id: str, port: int, fault: str | None, state_dir: Path, profile: str = "baseline"
) -> None:
    from simulators.agencies.app import AgencyConfig, create_app
    from simulators.agencies.strict import tls_context
    from simulators.common.pki import SandboxPki
    from simulators.common.serving import bind_socket, serve_in_thread
    from simulators.identity.credentials import issue_credentials, load_credentials

    record = state_dir / "sandbox.json"
    if not record.exists():
        raise EnvironmentProblem(f"no sandbox record at {record}; start `lienthong sandbox` first")
    info = json.loads(record.read_text(encoding="utf-8"))
    behaviour = _behaviour(fault, profile)
    pki = SandboxPki(state_dir / "pki")
    client_file = state_dir / "credentials" / agency_id / "client.json"
    credentials = (
        load_credentials(client_file)
        if client_file.exists()
        else issue_credentials(state_dir, agency_id)
    )
    config = AgencyConfig(
        credentials=credentials,
        idp_url=info["identity_url"],
        population_url=info["population_url"],
        portal_url=info["portal_url"],
        db_path=state_dir / "agencies" / f"{agency_id}.db",
        behaviour=behaviour,
        pki_dir=pki.directory,
    )
    tls = tls_context(pki, f"agency-{agency_id}", behaviour) if behaviour.strict else None
    try:
        sock = bind_socket("127.0.0.1", port)
        handle = serve_in_thread("agency", create_app(config), sock, tls=tls)
    except OSError as exc:
        raise EnvironmentProblem(f"cannot listen on port {port}: {exc}") from None
    strict = f", strict: client certificates from {pki.ca_file}" if behaviour.strict else ""
    console.print(f"agency {agency_id} ({fault or 'reference'}{strict}) at {handle.url}")
    _register_route(info, agency_id, handle.url)
    try:
        _wait_forever()
    finally:
        handle.stop()
