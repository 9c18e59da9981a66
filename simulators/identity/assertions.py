"""RFC 7523 client assertions: who is asking, and is the proof sound?"""

from __future__ import annotations

import json
import math
import time
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey
from joserfc.jws import JWSRegistry

from simulators.common.problems import ProblemError
from simulators.identity.store import Client, IdentityStore

__all__ = ["ASSERTION_TYPE", "MAX_ASSERTION_LIFETIME_S", "authenticate_client", "oauth_error"]

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_ASSERTION_LIFETIME_S = 300
_CLOCK_SKEW_S = 30
# joserfc's default registry refuses EdDSA as "not recommended"; clients holding Ed25519
# keys are legitimate here, so the allowed algorithms are named explicitly.
_CLIENT_ALGORITHMS = JWSRegistry(algorithms=["ES256", "EdDSA", "Ed25519"])


def oauth_error(status: int, error: str, description: str) -> ProblemError:
    """A problem+json that also carries the RFC 6749 error code OAuth clients expect."""
    return ProblemError(
        status,
        "Token request refused",
        description,
        slug=error.replace("_", "-"),
        extra={"error": error, "error_description": description},
    )


def authenticate_client(assertion: str, *, store: IdentityStore, audiences: set[str]) -> Client:
    """The client that signed `assertion`, or a 400/401 problem saying what was wrong."""
    client_id = _unverified_issuer(assertion)
    client = store.get_client(client_id)
    if client is None:
        raise oauth_error(
            401,
            "invalid_client",
            f"No client {client_id!r} is registered; "
            "run `lienthong credentials issue --agency-id ID` first.",
        )
    claims = _verified_claims(assertion, client)
    _check_assertion_claims(claims, client_id, audiences)
    if not store.spend_jti(str(claims["jti"]), float(claims["exp"])):
        raise oauth_error(
            401,
            "invalid_client",
            "The assertion's jti was already used; "
            "sign a fresh assertion with a new jti for every token request.",
        )
    return client


def _unverified_issuer(assertion: str) -> str:
    try:
        payload = json.loads(jws.extract_compact(assertion.encode()).payload)
    except (ValueError, JoseError, UnicodeDecodeError):
        raise oauth_error(
            400, "invalid_request", "client_assertion is not a compact JWS."
        ) from None
    issuer = payload.get("iss") if isinstance(payload, dict) else None
    if not isinstance(issuer, str) or not issuer:
        raise oauth_error(400, "invalid_request", "The assertion must carry iss = your client id.")
    return issuer


def _verified_claims(assertion: str, client: Client) -> dict[str, Any]:
    key: ECKey | OKPKey
    try:
        key = (OKPKey if client.public_jwk.get("kty") == "OKP" else ECKey).import_key(
            client.public_jwk
        )
        decoded = jwt.decode(assertion, key, registry=_CLIENT_ALGORITHMS)
    except (ValueError, JoseError):
        raise oauth_error(
            401,
            "invalid_client",
            "The assertion's signature does not verify with the key registered for this client.",
        ) from None
    return dict(decoded.claims)


def _finite_number(value: Any) -> bool:
    # JSON readers accept NaN and Infinity; neither is a moment in time.
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_assertion_claims(claims: dict[str, Any], client_id: str, audiences: set[str]) -> None:
    now = time.time()
    aud = claims.get("aud")
    aud_values = {aud} if isinstance(aud, str) else set(aud) if isinstance(aud, list) else set()
    problems = [
        (claims.get("sub") != client_id, "sub must equal iss (your client id)"),
        (
            not aud_values & audiences,
            f"aud must be the token endpoint URL ({max(audiences, key=len)})",
        ),
        (not _finite_number(claims.get("exp")), "exp is required, as a number of seconds"),
        (not isinstance(claims.get("jti"), str) or not claims.get("jti"), "jti is required"),
    ]
    for failed, message in problems:
        if failed:
            raise oauth_error(401, "invalid_client", f"Client assertion rejected: {message}.")
    exp = float(claims["exp"])
    if exp + _CLOCK_SKEW_S < now:
        raise oauth_error(401, "invalid_client", "The client assertion has expired.")
    if exp > now + MAX_ASSERTION_LIFETIME_S + _CLOCK_SKEW_S:
        raise oauth_error(
            401,
            "invalid_client",
            "The client assertion lives too long; "
            f"keep exp within {MAX_ASSERTION_LIFETIME_S} s of now.",
        )
