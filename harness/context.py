"""What a check is given: the target, the sandbox, a recorded transport, shared memos."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from harness.records import Target
from harness.transport import Reply, Transport

__all__ = ["PROFILES", "CheckContext", "RunSettings", "SandboxEndpoints", "TlsCredentials"]

# Security profiles (DOMAIN.md §8): strict adds mutual TLS, certificate-bound tokens and
# RFC 9421 message signatures to what baseline checks.
PROFILES = ("baseline", "strict")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SandboxEndpoints:
    """Where the simulators the agency calls back into are, and the key to their admin API."""

    identity_url: str
    population_url: str
    portal_url: str
    admin_token: str


@dataclass(frozen=True, slots=True)
class TlsCredentials:
    """What the strict profile connects with: the CA that issued the target's server
    certificate, and the harness's client certificate and key (PEM files). The client
    key also signs requests (RFC 9421, keyid = the certificate's x5t#S256)."""

    ca_file: Path
    cert_file: Path
    key_file: Path


@dataclass(frozen=True, slots=True)
class RunSettings:
    target: Target
    sandbox: SandboxEndpoints
    out_dir: Path
    profile: str = "baseline"
    seed: int = 0
    examples: int = 20  # generated cases per operation and per mode (positive, negative)
    sync_timeout_s: float = 30.0
    request_timeout_s: float = 10.0
    # Wall-clock budget of the whole run: past it nothing more is sent and the checks
    # still pending end as errors, so a hostile target cannot hold the run hostage.
    time_budget_s: float = 900.0
    tls: TlsCredentials | None = None  # required by the strict profile
    # `--procedures`: the procedure codes whose scenarios run (harness/scenarios.py);
    # None runs those the agency declares at GET /procedures.
    procedures: tuple[str, ...] | None = None
    # `--allow-remote-burst`: the operator owns the target and lets SEC-RATE-LIMIT send its
    # bounded burst beyond loopback; without it a remote target's rate limit is not judged.
    allow_remote_burst: bool = False

    @property
    def strict(self) -> bool:
        return self.profile == "strict"

    @property
    def agency_audience(self) -> str:
        return f"urn:lienthong:agency:{self.target.agency_id}"


class CheckContext:
    """Handed to every check; binds the transport and evidence to the check's name."""

    def __init__(
        self, settings: RunSettings, transport: Transport, memos: dict[str, Any], check_name: str
    ) -> None:
        self.settings = settings
        self.target = settings.target
        self.sandbox = settings.sandbox
        self.check_name = check_name
        self._transport = transport
        self._memos = memos

    def request(self, method: str, url: str, **kwargs: Any) -> Reply:
        return self._transport.request(self.check_name, method, url, **kwargs)

    def target_url(self, path: str) -> str:
        return self.target.base_url.rstrip("/") + path

    def observe(self, source: str, data: Any) -> str:
        return self._transport.evidence.observation(self.check_name, source, data)

    def memo(self, key: str, compute: Callable[[CheckContext], T]) -> T:
        """Compute once per run and share, e.g. one dossier journey for several checks."""
        if key not in self._memos:
            self._memos[key] = compute(self)
        value: T = self._memos[key]
        return value

    @property
    def transport(self) -> Transport:
        return self._transport
