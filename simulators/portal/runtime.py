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
from simulators.portal.app import Delivery, create_app
from simulators.portal.outbox import DeliveryPolicy
from simulators.portal.store import PortalStore

__all__ = ["PORTAL_CLIENT_ID", "build_portal", "portal_credentials"]

# The portal's own client id: it calls agencies' inbound APIs as this client.
PORTAL_CLIENT_ID = "PORTAL.DVCQG"
PORTAL_SCOPES = ("dossier.read", "dossier.submit")


def portal_credentials(state_dir: Path) -> ClientCredentials:
    """The portal's credentials under `state_dir`, issued once and kept across restarts."""
    path = state_dir / "credentials" / PORTAL_CLIENT_ID / "client.json"
    if path.exists():
        return load_credentials(path)
    return issue_credentials(state_dir, PORTAL_CLIENT_ID, scopes=PORTAL_SCOPES)


def build_portal(
    *,
    database: Path | str,
    state_dir: Path,
    idp_url: str,
    admin_token: str,
    policy: DeliveryPolicy | None = None,
) -> Starlette:
    credentials = portal_credentials(state_dir)
    delivery = Delivery(
        token_url=f"{idp_url}/oauth2/token",
        client_id=credentials.client_id,
        key=credentials.private_key,
        policy=policy or DeliveryPolicy(),
    )
    verifier = TokenVerifier(
        jwks_url=f"{idp_url}/.well-known/jwks.json", issuer=idp_url, audience=PORTAL
    )
    return create_app(
        store=PortalStore(database), verifier=verifier, admin_token=admin_token, delivery=delivery
    )
