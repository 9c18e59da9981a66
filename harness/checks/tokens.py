"""Token checks: the agency refuses requests whose bearer token it must not trust.

Each check sends both operations of the agency contract with one defective token and
expects 401 from each (RFC 6750 §3.1: invalid_token).
"""

from __future__ import annotations

import time
import uuid

from joserfc import jwt
from joserfc.jwk import ECKey

from harness.checks.registry import check
from harness.context import CheckContext
from harness.errors import EnvironmentProblem, Failure
from harness.records import Finding
from harness.samples import probe_dossier
from harness.sandbox_api import mint_token

__all__ = [
    "token_audience_enforced",
    "token_expiry_enforced",
    "token_required",
    "token_signature_verified",
]


def _probe(ctx: CheckContext, authorization: str | None, defect: str) -> str:
    """Send both operations with the given Authorization header; fail unless both are 401."""
    headers = {"Authorization": authorization} if authorization else {}
    dossier = probe_dossier(ctx)
    replies = [
        (
            "POST /dossiers",
            ctx.request("POST", ctx.target_url("/dossiers"), json=dossier, headers=headers),
        ),
        (
            "GET /dossiers/{code}",
            ctx.request("GET", ctx.target_url(f"/dossiers/{dossier['MaHoSo']}"), headers=headers),
        ),
    ]
    findings = tuple(
        Finding(
            title=f"{operation} accepted a request with {defect}",
            observed=f"HTTP {reply.status}",
            expected="HTTP 401 (invalid_token)",
            exchange_ids=(reply.exchange_id,),
        )
        for operation, reply in replies
        if reply.status != 401
    )
    if findings:
        raise Failure(*findings)
    return f"both operations answered 401 to {defect}"


@check("SEC-TOKEN-MISSING@1")
def token_required(ctx: CheckContext) -> str:
    """Requests without a bearer token are refused."""
    return _probe(ctx, None, "no Authorization header")


@check("SEC-TOKEN-EXPIRED@1")
def token_expiry_enforced(ctx: CheckContext) -> str:
    """Expired tokens are refused (expired ten minutes ago, beyond any clock-skew leeway)."""
    token = mint_token(
        ctx, audience=ctx.settings.agency_audience, issued_offset_s=-1200, lifetime_s=600
    )
    return _probe(ctx, f"Bearer {token}", "a token that expired 10 minutes ago")


@check("SEC-TOKEN-AUD@1")
def token_audience_enforced(ctx: CheckContext) -> str:
    """Tokens issued for another audience (another agency) are refused."""
    token = mint_token(ctx, audience="urn:lienthong:agency:999.99.99.X99")
    return _probe(ctx, f"Bearer {token}", "a token issued for agency 999.99.99.X99")


@check("SEC-TOKEN-SIGNATURE@1")
def token_signature_verified(ctx: CheckContext) -> str:
    """Tokens signed by a key the identity provider never published are refused."""
    return _probe(ctx, f"Bearer {_forged_token(ctx)}", "a token signed by an unknown key")


def _forged_token(ctx: CheckContext) -> str:
    """Claims a real token would carry, under the IdP's `kid`, signed with our own key."""
    reply = ctx.request("GET", f"{ctx.sandbox.identity_url}/.well-known/jwks.json")
    keys = (reply.json() or {}).get("keys") if reply.status == 200 else None
    if not keys:
        raise EnvironmentProblem("the sandbox identity provider published no keys")
    now = int(time.time())
    claims = {
        "iss": ctx.sandbox.identity_url,
        "sub": "lienthong-portal",
        "client_id": "lienthong-portal",
        "aud": ctx.settings.agency_audience,
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
        "scope": "dossier.submit dossier.read",
    }
    rogue_key = ECKey.generate_key("P-256")  # never published by the identity provider
    return jwt.encode({"alg": "ES256", "kid": keys[0]["kid"], "typ": "at+jwt"}, claims, rogue_key)
