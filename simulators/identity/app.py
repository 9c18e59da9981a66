"""The identity provider's ASGI app: token endpoint, JWKS, metadata, test-token minting."""

from __future__ import annotations

import time
import uuid
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulators.common.admin import require_admin
from simulators.common.http import json_response, read_form, read_json_object
from simulators.common.problems import ProblemError, exception_handlers
from simulators.common.validation import SchemaValidator
from simulators.identity.assertions import ASSERTION_TYPE, authenticate_client, oauth_error
from simulators.identity.binding import requested_binding
from simulators.identity.resources import scopes_for
from simulators.identity.store import Client, IdentityStore

__all__ = ["create_app"]

_NO_STORE = {"Cache-Control": "no-store"}


class TokenIssuer:
    """Signs access tokens; the one place claims are assembled."""

    def __init__(self, key: ECKey, issuer: str, lifetime_s: int) -> None:
        self.key = key
        self.issuer = issuer
        self.lifetime_s = lifetime_s

    def sign(
        self,
        *,
        subject: str,
        audience: str,
        scope: str,
        agency_id: str | None,
        issued_offset_s: int = 0,
        lifetime_s: int | None = None,
        issuer: str | None = None,
        confirmation: str | None = None,
    ) -> dict[str, Any]:
        issued = int(time.time()) + issued_offset_s
        lifetime = self.lifetime_s if lifetime_s is None else lifetime_s
        claims: dict[str, Any] = {
            "iss": issuer or self.issuer,
            "sub": subject,
            "client_id": subject,
            "aud": audience,
            "iat": issued,
            "nbf": issued,
            "exp": issued + lifetime,
            "jti": uuid.uuid4().hex,
            "scope": scope,
        }
        if agency_id:
            claims["agency_id"] = agency_id
        if confirmation:  # RFC 8705 §3.1: bound to the certificate with this thumbprint
            claims["cnf"] = {"x5t#S256": confirmation}
        token = jwt.encode({"alg": "ES256", "kid": self.key.kid, "typ": "at+jwt"}, claims, self.key)
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": lifetime,
            "scope": scope,
        }


def _granted_scope(client: Client, resource: str, requested: str | None) -> str:
    defined = scopes_for(resource)
    if defined is None:
        raise oauth_error(
            400,
            "invalid_target",
            f"Unknown resource {resource!r}; use "
            "urn:lienthong:population, urn:lienthong:portal or "
            "urn:lienthong:agency:<agency id>.",
        )
    allowed = defined & client.scopes
    wanted = set(requested.split()) if requested else set(allowed)
    refused = wanted - allowed
    if refused or not wanted:
        detail = ", ".join(sorted(refused)) or "(none)"
        raise oauth_error(
            400,
            "invalid_scope",
            f"Scopes not granted to this client for "
            f"{resource}: {detail}; registered: {sorted(allowed)}.",
        )
    return " ".join(sorted(wanted))


async def _oauth_form(request: Request) -> dict[str, str]:
    """The form body; its errors carry the RFC 6749 `error` member OAuth clients read."""
    try:
        return await read_form(request)
    except ProblemError as exc:
        raise oauth_error(exc.status, "invalid_request", exc.detail) from None


def create_app(
    *,
    store: IdentityStore,
    signing_key: ECKey,
    issuer: str,
    admin_token: str,
    token_lifetime_s: int = 300,
) -> Starlette:
    issuer = issuer.rstrip("/")
    token_url = f"{issuer}/oauth2/token"
    tokens = TokenIssuer(signing_key, issuer, token_lifetime_s)
    mint_request = SchemaValidator("identity.yaml", "MintRequest")

    async def token(request: Request) -> Response:
        form = await _oauth_form(request)
        if form.get("grant_type") != "client_credentials":
            raise oauth_error(
                400, "unsupported_grant_type", "grant_type must be client_credentials."
            )
        if form.get("client_assertion_type") != ASSERTION_TYPE or not form.get("client_assertion"):
            raise oauth_error(
                400,
                "invalid_request",
                "Authenticate with client_assertion_type="
                f"{ASSERTION_TYPE} and a signed client_assertion (RFC 7523).",
            )
        resource = form.get("resource", "")
        if not resource:
            raise oauth_error(
                400,
                "invalid_target",
                "resource is required (RFC 8707), e.g. urn:lienthong:population.",
            )
        client = authenticate_client(
            form["client_assertion"], store=store, audiences={token_url, issuer}
        )
        scope = _granted_scope(client, resource, form.get("scope"))
        body = tokens.sign(
            subject=client.client_id,
            audience=resource,
            scope=scope,
            agency_id=client.agency_id,
            confirmation=requested_binding(form["client_assertion"]),
        )
        return json_response(body, headers=_NO_STORE)

    async def jwks(request: Request) -> Response:
        return json_response({"keys": [signing_key.as_dict(private=False)]})

    async def metadata(request: Request) -> Response:
        return json_response(
            {
                "issuer": issuer,
                "token_endpoint": token_url,
                "jwks_uri": f"{issuer}/.well-known/jwks.json",
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
                "token_endpoint_auth_signing_alg_values_supported": ["ES256", "EdDSA"],
                "grant_types_supported": ["client_credentials"],
                # RFC 8705 §3.3; the binding is asked for in the assertion (binding.py).
                "tls_client_certificate_bound_access_tokens": True,
            }
        )

    async def mint(request: Request) -> Response:
        require_admin(request, admin_token)
        body = await read_json_object(request)
        mint_request.check(body)
        issued = tokens.sign(
            subject=body.get("subject", "lienthong-harness"),
            audience=body["audience"],
            scope=body.get("scope", ""),
            agency_id=body.get("agency_id"),
            issued_offset_s=body.get("issued_offset_s", 0),
            lifetime_s=body.get("lifetime_s"),
            issuer=body.get("issuer"),
            confirmation=body.get("cnf_x5t_s256"),
        )
        return json_response(issued, headers=_NO_STORE)

    routes = [
        Route("/oauth2/token", token, methods=["POST"]),
        Route("/.well-known/jwks.json", jwks, methods=["GET"]),
        Route("/.well-known/oauth-authorization-server", metadata, methods=["GET"]),
        Route("/admin/tokens", mint, methods=["POST"]),
    ]
    return Starlette(routes=routes, exception_handlers=exception_handlers())
