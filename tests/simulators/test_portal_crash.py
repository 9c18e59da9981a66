"""SIGKILL the portal in the middle of intake and of delivery: no acknowledged dossier is
lost, each reaches the agency at least once, and the agency's idempotency keys make the
effect exactly once.

The portal runs as its own process (`python -m simulators.portal`) on SQLite; the identity
provider and a recording agency run in threads of the test. The agency records a dossier
and then holds its answer for a moment, so a kill can land after the agency acted but
before the portal heard back: the redelivery that follows must be suppressed.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from simulators.common.serving import ServerHandle, bind_socket, serve_in_thread
from simulators.common.tokens import TokenVerifier
from simulators.identity.app import create_app as create_identity_app
from simulators.identity.credentials import identity_db_path
from simulators.identity.keys import load_or_create_signing_key
from simulators.identity.resources import AGENCY_RESOURCE_PREFIX
from simulators.identity.store import IdentityStore
from simulators.portal.runtime import portal_credentials

pytestmark = pytest.mark.slow

AGENCY = "000.00.01.H29"
ADMIN_TOKEN = "crash-test-admin"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
ROOT = Path(__file__).resolve().parents[2]
HOLD_S = 0.3


@dataclass
class RecordingAgency:
    """Applies each Idempotency-Key once; counts every delivery, duplicates included."""

    verifier: TokenVerifier
    effects: dict[str, str] = field(default_factory=dict)  # key -> MaHoSo
    deliveries: int = 0
    holding: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def receive(self, request: Request) -> Response:
        claims = await self.verifier.verify(request.headers.get("authorization"))
        assert "dossier.submit" in str(claims.get("scope"))
        key = request.headers["idempotency-key"]
        body = await request.json()
        with self.lock:
            self.deliveries += 1
            duplicate = key in self.effects
            self.effects.setdefault(key, body["MaHoSo"])
            self.holding += 1
        await asyncio.sleep(HOLD_S)
        with self.lock:
            self.holding -= 1
        return JSONResponse({"MaHoSo": body["MaHoSo"]}, status_code=200 if duplicate else 202)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/dossiers", self.receive, methods=["POST"])])


@dataclass
class World:
    state_dir: Path
    idp_url: str
    agency_url: str
    agency: RecordingAgency
    servers: list[ServerHandle]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    idp_sock, agency_sock = bind_socket(), bind_socket()
    idp_url = f"http://127.0.0.1:{idp_sock.getsockname()[1]}"
    identity = create_identity_app(
        store=IdentityStore(identity_db_path(tmp_path)),
        signing_key=load_or_create_signing_key(tmp_path / "identity" / "signing-key.json"),
        issuer=idp_url,
        admin_token=ADMIN_TOKEN,
    )
    verifier = TokenVerifier(
        jwks_url=f"{idp_url}/.well-known/jwks.json",
        issuer=idp_url,
        audience=AGENCY_RESOURCE_PREFIX + AGENCY,
    )
    agency = RecordingAgency(verifier)
    servers = [serve_in_thread("idp", identity, idp_sock)]
    servers.append(serve_in_thread("agency", agency.app(), agency_sock))
    portal_credentials(tmp_path)  # registers PORTAL.DVCQG before the portal starts
    yield World(tmp_path, idp_url, servers[1].url, agency, servers)
    for server in servers:
        server.stop()


def start_portal(world: World) -> tuple[subprocess.Popen[bytes], str]:
    sock = bind_socket()
    port = sock.getsockname()[1]
    sock.close()
    command = [
        sys.executable,
        "-m",
        "simulators.portal",
        "--database",
        str(world.state_dir / "portal.db"),
        "--state-dir",
        str(world.state_dir),
        "--idp-url",
        world.idp_url,
        "--port",
        str(port),
        "--retry-base-s",
        "0.05",
    ]
    env = {**os.environ, "LIENTHONG_ADMIN_TOKEN": ADMIN_TOKEN}
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/v1/procedures", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    else:
        process.kill()
        raise AssertionError("the portal process did not start")
    route = {"agency_id": AGENCY, "base_url": world.agency_url}
    assert httpx.post(f"{url}/admin/routes", json=route, headers=ADMIN).status_code == 200
    return process, url


class Citizens:
    """Threads submitting dossiers until stopped; only 201/200 answers count as acks."""

    def __init__(self, url: str, threads: int = 4) -> None:
        self.url = url
        self.acknowledged: set[str] = set()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(n,)) for n in range(threads)]
        for thread in self._threads:
            thread.start()

    def _run(self, n: int) -> None:
        body = {
            "MaTTHC": "1.004194",
            "DonViXuLy": AGENCY,
            "ChuHoSo": {
                "SoDinhDanh": "001090000001",
                "HoVaTen": "Lê Thị C",
                "NgaySinh": "19900101",
            },
        }
        with httpx.Client(timeout=5) as client:
            while not self._stop.is_set():
                try:
                    response = client.post(f"{self.url}/v1/citizen/dossiers", json=body)
                except httpx.HTTPError:
                    return  # the portal died under us: this request was never acknowledged
                if response.status_code in (200, 201):
                    with self._lock:
                        self.acknowledged.add(response.json()["MaHoSo"])

    def count(self) -> int:
        with self._lock:
            return len(self.acknowledged)

    def stop(self) -> set[str]:
        self._stop.set()
        for thread in self._threads:
            thread.join(10)
        return self.acknowledged


def wait_for(condition: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def kill(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(10)


def test_sigkill_loses_no_acknowledged_dossier_and_duplicates_are_suppressed(
    world: World,
) -> None:
    acknowledged: set[str] = set()
    # 1. Killed mid-intake: citizens are still submitting when the process dies.
    process, url = start_portal(world)
    citizens = Citizens(url)
    wait_for(lambda: citizens.count() >= 30, 20, "30 acknowledged dossiers")
    kill(process)
    acknowledged |= citizens.stop()
    # 2. Killed mid-delivery: the agency has acted on messages it has not answered yet.
    process, url = start_portal(world)
    wait_for(lambda: world.agency.holding > 0, 20, "a delivery in flight")
    kill(process)
    acted_before_restart = len(world.agency.effects)
    # 3. A clean run drains the outbox.
    process, url = start_portal(world)
    try:
        wait_for(lambda: acknowledged <= set(world.agency.effects.values()), 40, "every ack")
        wait_for(lambda: _pending(url) == 0, 20, "an empty outbox")
        counts = httpx.get(f"{url}/admin/outbox", headers=ADMIN).json()["counts"]
    finally:
        kill(process)
    delivered_codes = list(world.agency.effects.values())
    assert len(acknowledged) >= 30
    assert acknowledged <= set(delivered_codes)  # at least once, nothing acknowledged lost
    assert len(delivered_codes) == len(set(delivered_codes))  # one key per dossier
    assert counts["dead"] == 0 and counts["delivered"] == len(delivered_codes)
    # Messages the agency acted on while the portal died were sent again and suppressed.
    assert world.agency.deliveries > len(world.agency.effects) >= acted_before_restart


def _pending(url: str) -> int:
    counts = httpx.get(f"{url}/admin/outbox", headers=ADMIN).json()["counts"]
    return int(counts["pending"])
