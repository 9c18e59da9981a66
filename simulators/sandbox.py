"""Start the reference identity provider, population database and portal on loopback.

`Sandbox` is what `lienthong sandbox`, `lienthong demo` and the integration tests run. It
keeps all state under one directory, so a restarted sandbox keeps its keys, clients,
population and logs.
"""

from __future__ import annotations

import json
import secrets
import socket
import ssl
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType

import httpx
from starlette.types import ASGIApp

from simulators.agencies.app import AgencyConfig
from simulators.agencies.app import create_app as create_agency_app
from simulators.agencies.catalogue import REFERENCE, Behaviour
from simulators.agencies.processing import REFERENCE_PROCEDURES
from simulators.agencies.strict import tls_context
from simulators.common.pki import SandboxPki
from simulators.common.serving import ServerHandle, bind_socket, serve_in_thread
from simulators.common.tokens import TokenVerifier
from simulators.identity.app import create_app as create_identity_app
from simulators.identity.credentials import ClientCredentials, identity_db_path
from simulators.identity.keys import load_or_create_signing_key
from simulators.identity.resources import POPULATION
from simulators.identity.store import IdentityStore
from simulators.population.app import create_app as create_population_app
from simulators.population.generator import generate_population
from simulators.population.store import PopulationStore
from simulators.portal.runtime import build_portal

__all__ = ["DEFAULT_PORTS", "Sandbox", "SandboxInfo", "SandboxPorts"]


@dataclass(frozen=True, slots=True)
class SandboxPorts:
    identity: int = 0
    population: int = 0
    portal: int = 0


# Fixed ports `lienthong sandbox` and `certify` agree on, so an agency configured once
# keeps working; 0 (any free port) is for the demo and tests.
DEFAULT_PORTS = SandboxPorts(8701, 8702, 8703)


@dataclass(frozen=True, slots=True)
class SandboxInfo:
    identity_url: str
    population_url: str
    portal_url: str
    admin_token: str

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")
        path.chmod(0o600)


def _admin_token(state_dir: Path) -> str:
    path = state_dir / "admin-token"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


class Sandbox:
    def __init__(
        self,
        state_dir: Path,
        *,
        host: str = "127.0.0.1",
        ports: SandboxPorts = SandboxPorts(),
        population_size: int = 2000,
        seed: int = 0,
    ) -> None:
        self.state_dir = state_dir
        self.host = host
        self.ports = ports
        self.population_size = population_size
        self.seed = seed
        self.servers: list[ServerHandle] = []
        self._info: SandboxInfo | None = None

    @property
    def info(self) -> SandboxInfo:
        if self._info is None:
            raise RuntimeError("the sandbox is not started")
        return self._info

    def start(self) -> SandboxInfo:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        admin = _admin_token(self.state_dir)
        sockets = [
            bind_socket(self.host, p)
            for p in (self.ports.identity, self.ports.population, self.ports.portal)
        ]
        idp_url, pop_url, portal_url = (f"http://{self.host}:{s.getsockname()[1]}" for s in sockets)
        try:
            self._serve("identity", self._identity_app(idp_url, admin), sockets[0])
            self._serve("population", self._population_app(idp_url, admin), sockets[1])
            self._serve("portal", self._portal_app(idp_url, pop_url, admin), sockets[2])
        except BaseException:
            self.stop()
            for sock in sockets:
                sock.close()
            raise
        self._info = SandboxInfo(idp_url, pop_url, portal_url, admin)
        self._info.write(self.state_dir / "sandbox.json")
        return self._info

    def start_agency(
        self,
        credentials: ClientCredentials,
        *,
        behaviour: Behaviour = REFERENCE,
        port: int = 0,
        name: str = "agency",
    ) -> ServerHandle:
        info = self.info
        config = AgencyConfig(
            credentials=credentials,
            idp_url=info.identity_url,
            population_url=info.population_url,
            portal_url=info.portal_url,
            db_path=self.state_dir / "agencies" / f"{name}.db",
            behaviour=behaviour,
            procedures=REFERENCE_PROCEDURES,
            pki_dir=self.pki.directory,
        )
        # Strict agencies speak only HTTPS, with a server certificate from the sandbox CA.
        tls = tls_context(self.pki, f"agency-{name}", behaviour) if behaviour.strict else None
        sock = bind_socket(self.host, port)
        handle = self._serve(name, create_agency_app(config), sock, tls=tls)
        self._route_to(credentials.agency_id, handle.url)
        return handle

    @property
    def pki(self) -> SandboxPki:
        """The strict profile's CA and certificates, made on first use (common/pki.py)."""
        return SandboxPki(self.state_dir / "pki")

    def _route_to(self, agency_id: str, base_url: str) -> None:
        """Tell the portal where this agency's inbound API is, so citizens' dossiers reach it."""
        response = httpx.post(
            f"{self.info.portal_url}/admin/routes",
            json={"agency_id": agency_id, "base_url": base_url},
            headers={"Authorization": f"Bearer {self.info.admin_token}"},
            timeout=5.0,
        )
        response.raise_for_status()

    def stop(self) -> None:
        for server in reversed(self.servers):
            server.stop()
        self.servers.clear()

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _serve(
        self, name: str, app: ASGIApp, sock: socket.socket, *, tls: ssl.SSLContext | None = None
    ) -> ServerHandle:
        handle = serve_in_thread(name, app, sock, tls=tls)
        self.servers.append(handle)
        return handle

    def _identity_app(self, idp_url: str, admin: str) -> ASGIApp:
        key = load_or_create_signing_key(self.state_dir / "identity" / "signing-key.json")
        store = IdentityStore(identity_db_path(self.state_dir))
        return create_identity_app(store=store, signing_key=key, issuer=idp_url, admin_token=admin)

    def _population_app(self, idp_url: str, admin: str) -> ASGIApp:
        db_path = self.state_dir / "population" / "population.db"
        store = PopulationStore(db_path)
        if store.count() == 0:
            generate_population(db_path, self.population_size, seed=self.seed)
        return create_population_app(
            store=store, verifier=_verifier(idp_url, POPULATION), admin_token=admin
        )

    def _portal_app(self, idp_url: str, pop_url: str, admin: str) -> ASGIApp:
        # The portal routes citizens' dossiers to agencies as its own client, PORTAL.DVCQG,
        # and registers the birth group's child at the population database as
        # PORTAL.DVCQG.HOTICH.
        return build_portal(
            database=self.state_dir / "portal" / "portal.db",
            state_dir=self.state_dir,
            idp_url=idp_url,
            admin_token=admin,
            population_url=pop_url,
        )


def _verifier(idp_url: str, audience: str) -> TokenVerifier:
    return TokenVerifier(
        jwks_url=f"{idp_url}/.well-known/jwks.json", issuer=idp_url, audience=audience
    )
