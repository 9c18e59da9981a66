"""Fixtures the simulator test modules share: the portal's, the population database's."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from starlette.testclient import TestClient

from simulators.common.tokens import TokenVerifier
from simulators.population.app import create_app as create_population_app
from simulators.population.clock import SimClock
from simulators.population.generator import generate_population
from simulators.population.store import PopulationStore
from simulators.portal import PortalStore, create_app

PORTAL_ADMIN = {"Authorization": "Bearer admin"}


@pytest.fixture
def portal_store(database_url: str) -> Iterator[PortalStore]:
    """A portal store on SQLite and on PostgreSQL (skipped, with the reason, without it)."""
    store = PortalStore(database_url)
    yield store
    store.close()


@pytest.fixture
def portal_clock() -> SimClock:
    """The portal's clock: real time until a test moves it (deadlines, windows)."""
    return SimClock()


@pytest.fixture
def portal_client(
    portal_store: PortalStore,
    portal_clock: SimClock,
    verifier_for: Callable[[str], TokenVerifier],
) -> Callable[..., TestClient]:
    """Builds a portal app over `portal_store`, each agency routed to its base URL.

    Extra keyword arguments go to `create_app` (e.g. `delivery`); the lifespan does not
    run, so nothing is delivered unless a test drives an `OutboxWorker` itself.
    """

    def build(routes: dict[str, str], **options: Any) -> TestClient:
        app = create_app(
            store=portal_store,
            verifier=verifier_for("urn:lienthong:portal"),
            admin_token="admin",
            clock=portal_clock,
            **options,
        )
        client = TestClient(app)
        for agency_id, base_url in routes.items():
            route = {"agency_id": agency_id, "base_url": base_url}
            response = client.post("/admin/routes", json=route, headers=PORTAL_ADMIN)
            assert response.status_code == 200, response.text
        return client

    return build


# -- interconnected groups ------------------------------------------------------------------

GROUP_AGENCIES = {
    "civil-status": "000.00.10.H29",
    "residence": "000.00.11.H29",
    "health-insurance": "000.00.12.H29",
    "social-security": "000.00.12.H29",
    "labour-social-affairs": "000.00.13.H29",
}
DECLARANT = {"SoDinhDanh": "001090000001", "HoVaTen": "Nguyễn Văn An", "NgaySinh": "19900101"}
CHILD = {
    "HoVaTen": "Nguyễn Văn Bé",
    "NgaySinh": "20250301",
    "GioiTinh": "male",
    "NoiDangKyKhaiSinh": "001",
    "SoDinhDanhCha": DECLARANT["SoDinhDanh"],
}


@dataclass
class Groups:
    """Declares and tracks groups on one portal, and syncs members as their agencies."""

    client: TestClient
    make_token: Callable[..., str]
    agencies: dict[str, str] = field(default_factory=lambda: dict(GROUP_AGENCIES))
    declarant: dict[str, str] = field(default_factory=lambda: dict(DECLARANT))
    child: dict[str, str] = field(default_factory=lambda: dict(CHILD))

    def body(self, kind: str, **extra: Any) -> dict[str, Any]:
        body = {"NhomLienThong": kind, "ChuHoSo": self.declarant, "CoQuan": self.agencies}
        if kind == "birth":
            body["TreEm"] = self.child
        return {**body, **extra}

    def declare(self, kind: str, **extra: Any) -> dict[str, Any]:
        response = self.client.post("/v1/citizen/groups", json=self.body(kind, **extra))
        assert response.status_code == 201, response.text
        group: dict[str, Any] = response.json()
        return group

    def track(self, code: str) -> dict[str, Any]:
        response = self.client.get(f"/v1/citizen/groups/{code}")
        assert response.status_code == 200, response.text
        group: dict[str, Any] = response.json()
        return group

    @staticmethod
    def member(group: dict[str, Any], role: str) -> dict[str, Any]:
        return next(m for m in group["HoSoThanhPhan"] if m["VaiTro"] == role)

    def sync(self, member: dict[str, Any], *statuses: int) -> None:
        """Sync a member's statuses as its own agency would (at the portal's clock)."""
        agency = member["DonViXuLy"]
        token = self.make_token(
            "urn:lienthong:portal", "portal.sync", subject=agency, agency_id=agency
        )
        for status in statuses:
            payload = {
                "MaHoSo": member["MaHoSo"],
                "MaTTHC": member["MaTTHC"],
                "TrangThaiHoSo": status,
                "NgayTiepNhan": f"20{member['MaHoSo'].split('-')[1]}080000",
                "DonViXuLy": agency,
            }
            response = self.client.post(
                "/v1/status-sync", json=payload, headers={"Authorization": f"Bearer {token}"}
            )
            assert response.status_code == 200, response.text


GROUP_ROUTES = {a: f"http://{a}.test" for a in set(GROUP_AGENCIES.values())}


@pytest.fixture
def groups_on(
    portal_client: Callable[..., TestClient], make_token: Callable[..., str]
) -> Callable[..., Groups]:
    """A portal with every group agency routed (options go to `create_app`), and helpers."""
    return lambda **options: Groups(portal_client(GROUP_ROUTES, **options), make_token)


@pytest.fixture
def groups(groups_on: Callable[..., Groups]) -> Groups:
    return groups_on()


# -- the population database ----------------------------------------------------------------

POPULATION_AUDIENCE = "urn:lienthong:population"
POPULATION_ADMIN = "admin-secret"


@pytest.fixture()
def population_store(
    database_url: str, request: pytest.FixtureRequest
) -> Iterator[PopulationStore]:
    """A generated population on SQLite and on PostgreSQL (skipped, with the reason,
    without it); a module sets POPULATION_SIZE and POPULATION_SEED to change its draw."""
    size = getattr(request.module, "POPULATION_SIZE", 200)
    seed = getattr(request.module, "POPULATION_SEED", 1)
    generate_population(database_url, size, seed=seed)
    store = PopulationStore(database_url)
    yield store
    store.close()


@pytest.fixture()
def population_client(
    population_store: PopulationStore, verifier_for: Callable[[str], TokenVerifier]
) -> Iterator[TestClient]:
    """The population database's app over `population_store`, lifespan running."""
    app = create_population_app(
        store=population_store,
        verifier=verifier_for(POPULATION_AUDIENCE),
        admin_token=POPULATION_ADMIN,
    )
    with TestClient(app) as client:
        yield client
