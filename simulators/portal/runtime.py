"""Building a running portal: its client at the identity provider, its verifier, its app.

Shared by the sandbox (in a thread) and `python -m simulators.portal` (its own process,
which the crash test kills).
"""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette

from simulators.common.tokens import TokenVerifier
from simulators.identity.credentials import ClientCredentials, issue_credentials, load_credentials
from simulators.identity.resources import PORTAL
from simulators.portal.app import Delivery, PopulationAccess, create_app
from simulators.portal.outbox import DeliveryPolicy
from simulators.portal.store import PortalStore

__all__ = ["CIVIL_STATUS_CLIENT_ID", "PORTAL_CLIENT_ID", "build_portal", "portal_credentials"]

# The portal's own client id: it calls agencies' inbound APIs as this client.
PORTAL_CLIENT_ID = "PORTAL.DVCQG"
PORTAL_SCOPES = ("dossier.read", "dossier.submit")
# The client the portal registers births with, standing in for the civil-status software
# (births.py); separate so the agency-facing client cannot create citizens.
CIVIL_STATUS_CLIENT_ID = "PORTAL.DVCQG.HOTICH"
CIVIL_STATUS_SCOPES = ("justice.civil-status",)


def portal_credentials(
    state_dir: Path, client_id: str = PORTAL_CLIENT_ID, scopes: tuple[str, ...] = PORTAL_SCOPES
) -> ClientCredentials:
    """The portal's credentials under `state_dir`, issued once and kept across restarts."""
    path = state_dir / "credentials" / client_id / "client.json"
    if path.exists():
        return load_credentials(path)
    return issue_credentials(state_dir, client_id, scopes=scopes)


def build_portal(
    *,
    database: Path | str,
    state_dir: Path,
    idp_url: str,
    admin_token: str,
    policy: DeliveryPolicy | None = None,
    population_url: str | None = None,
) -> Starlette:
    """A portal delivering to agencies; with `population_url`, it also assigns the birth
    group's child PIN there."""
    credentials = portal_credentials(state_dir)
    delivery = Delivery(
        token_url=f"{idp_url}/oauth2/token",
        client_id=credentials.client_id,
        key=credentials.private_key,
        policy=policy or DeliveryPolicy(),
        population=_population_access(state_dir, population_url),
    )
    verifier = TokenVerifier(
        jwks_url=f"{idp_url}/.well-known/jwks.json", issuer=idp_url, audience=PORTAL
    )
    return create_app(
        store=PortalStore(database), verifier=verifier, admin_token=admin_token, delivery=delivery
    )


def _population_access(state_dir: Path, population_url: str | None) -> PopulationAccess | None:
    if population_url is None:
        return None
    credentials = portal_credentials(state_dir, CIVIL_STATUS_CLIENT_ID, CIVIL_STATUS_SCOPES)
    return PopulationAccess(population_url, credentials.client_id, credentials.private_key)
