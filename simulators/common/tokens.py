"""Bearer-token checks shared by every resource server (population, portal, agencies).

Tokens are JWTs signed by the identity simulator; keys come from its JWKS, fetched over
HTTP and cached, refetched when an unknown `kid` appears (key rotation).
"""

from __future__ import annotations

import base64
import json
import math
import time
from typing import Any, TypeGuard

import httpx
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from simulators.common.problems import ProblemError

__all__ = ["ALGORITHMS", "SKIPPABLE_CHECKS", "TokenVerifier", "require_scope"]

ALGORITHMS = ["ES256"]
_REFETCH_INTERVAL_S = 5.0


def _unauthorized(description: str) -> ProblemError:
    challenge = f'Bearer error="invalid_token", error_description="{description}"'
    return ProblemError(
        401,
        "Unauthorized",
        description,
        slug="invalid-token",
        headers={"WWW-Authenticate": challenge},
    )


# The checks a faulty agency may skip, each caught by one SEC-TOKEN-* requirement.
SKIPPABLE_CHECKS = frozenset(
    {"audience", "expiry", "not_before", "issuer", "alg_none", "signature", "presence"}
)
# What a system that skips "presence" grants a request with no Authorization header: the
# classic "inside the government network means trusted" bug, with the portal's rights.
_TRUSTED_NETWORK_CLAIMS = {
    "sub": "internal-network",
    "client_id": "internal-network",
    "scope": "dossier.submit dossier.read",
}


class TokenVerifier:
    """Verifies `Authorization: Bearer <jwt>` for one audience."""

    def __init__(
        self,
        *,
        jwks_url: str,
        issuer: str,
        audience: str,
        leeway_s: int = 30,
        timeout_s: float = 5.0,
        static_keys: KeySet | None = None,
        skip_checks: frozenset[str] = frozenset(),
    ) -> None:
        unknown = skip_checks - SKIPPABLE_CHECKS
        if unknown:
            raise ValueError(
                f"unknown token checks {sorted(unknown)}; skippable: {sorted(SKIPPABLE_CHECKS)}"
            )
        self.jwks_url = jwks_url
        self.issuer = issuer
        self.audience = audience
        self.leeway_s = leeway_s
        # Only the faulty-agency catalogue skips checks, to be caught by SEC-TOKEN-*.
        self.skip_checks = skip_checks
        self._timeout_s = timeout_s
        # Static keys (unit tests) are never refetched.
        self._static = static_keys is not None
        self._keys: KeySet | None = static_keys
        self._fetched_at = 0.0

    async def verify(self, authorization: str | None) -> dict[str, Any]:
        """The token's claims, or a 401 problem saying what is wrong with it."""
        if "presence" in self.skip_checks and not authorization:
            return dict(_TRUSTED_NETWORK_CLAIMS)
        token = _bearer(authorization)
        algorithm = _header(token).get("alg")
        if "alg_none" in self.skip_checks and algorithm == "none":
            claims = _unverified_claims(token)  # the classic bug: trusting alg=none
        elif "signature" in self.skip_checks and algorithm in ALGORITHMS:
            # The other classic: the header's algorithm is checked against the allow-list,
            # then the claims are read without verifying the signature.
            claims = _unverified_claims(token)
        else:
            claims = await self._verified_claims(token)
        self._check_claims(claims)
        return claims

    async def _verified_claims(self, token: str) -> dict[str, Any]:
        try:
            return self._decode(token, await self._keyset(refresh=False))
        except InvalidKeyIdError:
            # An unknown kid may mean the IdP rotated its key: refetch, at most every 5 s.
            if self._static or time.monotonic() - self._fetched_at < _REFETCH_INTERVAL_S:
                raise _unauthorized("the token's signature does not verify") from None
            return self._decode(token, await self._keyset(refresh=True), retrying=True)

    def _decode(self, token: str, keys: KeySet, *, retrying: bool = False) -> dict[str, Any]:
        try:
            return dict(jwt.decode(token, keys, algorithms=ALGORITHMS).claims)
        except InvalidKeyIdError:
            if retrying:
                raise _unauthorized("the token's signature does not verify") from None
            raise
        except (ValueError, JoseError):
            raise _unauthorized("the token's signature does not verify") from None

    def _check_claims(self, claims: dict[str, Any]) -> None:
        now = time.time()
        skip = self.skip_checks
        if "issuer" not in skip and claims.get("iss") != self.issuer:
            raise _unauthorized("the token was issued by another issuer")
        exp = claims.get("exp")
        if "expiry" not in skip and (not _is_time(exp) or exp + self.leeway_s < now):
            raise _unauthorized("the token has expired")
        nbf = claims.get("nbf", claims.get("iat", 0))
        if "not_before" not in skip and (not _is_time(nbf) or nbf - self.leeway_s > now):
            raise _unauthorized("the token is not valid yet")
        if "audience" not in skip and not _audience_matches(claims.get("aud"), self.audience):
            raise _unauthorized(f"the token is not for this audience; expected {self.audience}")

    async def _keyset(self, *, refresh: bool) -> KeySet:
        if self._keys is None or refresh:
            try:
                async with httpx.AsyncClient(timeout=self._timeout_s) as client:
                    response = await client.get(self.jwks_url)
                    response.raise_for_status()
                    self._keys = KeySet.import_key_set(response.json())
            except (httpx.HTTPError, ValueError, JoseError):
                raise ProblemError(
                    503,
                    "Identity provider unreachable",
                    "Token keys could not be fetched; try again shortly.",
                    headers={"Retry-After": "5"},
                ) from None
            self._fetched_at = time.monotonic()
        return self._keys


def _is_time(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _segment(token: str, index: int) -> dict[str, Any]:
    try:
        part = token.split(".")[index]
        data = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (IndexError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _header(token: str) -> dict[str, Any]:
    return _segment(token, 0)


def _unverified_claims(token: str) -> dict[str, Any]:
    return _segment(token, 1)


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise _unauthorized("an Authorization: Bearer token is required")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip() or len(token) > 8192:
        raise _unauthorized("the Authorization header must be 'Bearer <token>'")
    return token.strip()


def _audience_matches(aud: Any, expected: str) -> bool:
    if isinstance(aud, str):
        return aud == expected
    return isinstance(aud, list) and expected in aud


def require_scope(claims: dict[str, Any], scope: str) -> None:
    granted = str(claims.get("scope", "")).split()
    if scope not in granted:
        raise ProblemError(
            403,
            "Insufficient scope",
            f"This operation needs the scope {scope!r}.",
            slug="insufficient-scope",
            headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'},
        )
