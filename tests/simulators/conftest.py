"""Fixtures the portal's test modules share."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from starlette.testclient import TestClient

from simulators.common.tokens import TokenVerifier
from simulators.portal import PortalStore, create_app

PORTAL_ADMIN = {"Authorization": "Bearer admin"}


@pytest.fixture
def portal_store(database_url: str) -> Iterator[PortalStore]:
    """A portal store on SQLite and on PostgreSQL (skipped, with the reason, without it)."""
    store = PortalStore(database_url)
    yield store
    store.close()


@pytest.fixture
def portal_client(
    portal_store: PortalStore, verifier_for: Callable[[str], TokenVerifier]
) -> Callable[[dict[str, str]], TestClient]:
    """Builds a portal app over `portal_store`, each agency routed to its base URL."""

    def build(routes: dict[str, str]) -> TestClient:
        app = create_app(
            store=portal_store, verifier=verifier_for("urn:lienthong:portal"), admin_token="admin"
        )
        client = TestClient(app)
        for agency_id, base_url in routes.items():
            route = {"agency_id": agency_id, "base_url": base_url}
            response = client.post("/admin/routes", json=route, headers=PORTAL_ADMIN)
            assert response.status_code == 200, response.text
        return client

    return build
