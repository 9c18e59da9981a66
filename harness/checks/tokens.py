"""Token checks: the agency refuses requests whose bearer token it must not trust.

Each check sends both operations of the agency contract with one defective token and
expects 401 from each (RFC 6750 §3.1: invalid_token).
"""

from __future__ import annotations

import base64
import json
import time
import uuid

from joserfc import jwt
from joserfc.jwk import ECKey

from harness.checks.registry import check
from harness.context import CheckContext
from harness.errors import EnvironmentProblem, Failure
from harness.records import Finding
from harness.samples import probe_dossier
from harness.sandbox_api import mint_token, run_thumbprint
from harness.transport import Reply

__all__ = [
    "token_audience_enforced",
    "token_expiry_enforced",
    "token_required",
    "token_signature_verified",
]


def _both_operations(
    ctx: CheckContext, post_headers: dict[str, str], get_headers: dict[str, str]
) -> list[tuple[str, Reply]]:
    dossier = probe_dossier(ctx)
    code = dossier["MaHoSo"]
    return [
        (
            "POST /dossiers",
            ctx.request("POST", ctx.target_url("/dossiers"), json=dossier, headers=post_headers),
        ),
        (
            "GET /dossiers/{code}",
            ctx.request("GET", ctx.target_url(f"/dossiers/{code}"), headers=get_headers),
        ),
    ]


def _expect(replies: list[tuple[str, Reply]], status: int, defect: str, meaning: str) -> str:
    findings = tuple(
        Finding(
            title=f"{operation} accepted a request with {defect}",
            observed=f"HTTP {reply.status}",
            expected=f"HTTP {status} ({meaning})",
            exchange_ids=(reply.exchange_id,),
        )
        for operation, reply in replies
        if reply.status != status
    )
    if findings:
        raise Failure(*findings)
    return f"both operations answered {status} to {defect}"


def _probe(ctx: CheckContext, authorization: str | None, defect: str) -> str:
    """Send both operations with the given Authorization header; fail unless both are 401."""
    headers = {"Authorization": authorization} if authorization else {}
    return _expect(_both_operations(ctx, headers, headers), 401, defect, "invalid_token")


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
    rogue_key = ECKey.generate_key("P-256")  # never published by the identity provider
    header = {"alg": "ES256", "kid": keys[0]["kid"], "typ": "at+jwt"}
    return jwt.encode(header, _claims(ctx), rogue_key)


def _claims(ctx: CheckContext) -> dict[str, object]:
    """The claims a genuine token for the target would carry."""
    now = int(time.time())
    claims: dict[str, object] = {
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
    bound = run_thumbprint(ctx)
    if bound:  # strict: bound to our certificate, so only the defect on trial is refused
        claims["cnf"] = {"x5t#S256": bound}
    return claims


@check("SEC-TOKEN-NOT-YET-VALID@1")
def token_not_before_enforced(ctx: CheckContext) -> str:
    """Tokens that become valid only in 15 minutes are refused."""
    token = mint_token(ctx, audience=ctx.settings.agency_audience, issued_offset_s=900)
    return _probe(ctx, f"Bearer {token}", "a token valid only from 15 minutes ahead")


@check("SEC-TOKEN-ISSUER@1")
def token_issuer_enforced(ctx: CheckContext) -> str:
    """Tokens naming an issuer other than the identity provider are refused."""
    token = mint_token(ctx, audience=ctx.settings.agency_audience, issuer="https://issuer.invalid")
    return _probe(ctx, f"Bearer {token}", "a token whose iss is https://issuer.invalid")


@check("SEC-TOKEN-ALG-NONE@1")
def unsigned_token_refused(ctx: CheckContext) -> str:
    """Unsigned tokens (`alg: none`) are refused, however valid their claims look."""
    token = f"{_b64({'alg': 'none', 'typ': 'at+jwt'})}.{_b64(_claims(ctx))}."
    return _probe(ctx, f"Bearer {token}", "an unsigned token (alg: none)")


@check("SEC-TOKEN-SCOPE@1")
def token_scope_enforced(ctx: CheckContext) -> str:
    """A token is used only for what its scope allows: read cannot submit, submit cannot read."""
    audience = ctx.settings.agency_audience
    read_only = mint_token(ctx, audience=audience, scope="dossier.read")
    submit_only = mint_token(ctx, audience=audience, scope="dossier.submit")
    replies = _both_operations(
        ctx, {"Authorization": f"Bearer {read_only}"}, {"Authorization": f"Bearer {submit_only}"}
    )
    return _expect(replies, 403, "a token lacking the operation's scope", "insufficient_scope")


def _b64(data: dict[str, object]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
