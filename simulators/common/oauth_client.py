"""Client side of the token endpoint: RFC 7523 assertions and a per-resource token cache."""

from __future__ import annotations

import time
import uuid

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey

__all__ = ["TokenClient", "TokenRequestError"]

_RENEW_BEFORE_EXPIRY_S = 30


class TokenRequestError(Exception):
    """The identity provider refused or could not be reached."""


class TokenClient:
    """Gets and caches access tokens for one client, one per (resource, scope)."""

    def __init__(
        self, *, token_url: str, client_id: str, key: ECKey, http: httpx.AsyncClient
    ) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self._key = key
        self._http = http
        self._cache: dict[tuple[str, str], tuple[str, float]] = {}

    def assertion(self) -> str:
        now = int(time.time())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": self.token_url,
            "iat": now,
            "exp": now + 120,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode({"alg": "ES256", "kid": self._key.kid}, claims, self._key)

    async def token(self, resource: str, scope: str) -> str:
        cached = self._cache.get((resource, scope))
        if cached and cached[1] - _RENEW_BEFORE_EXPIRY_S > time.time():
            return cached[0]
        form = {
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": self.assertion(),
            "resource": resource,
            "scope": scope,
        }
        try:
            response = await self._http.post(self.token_url, data=form)
        except httpx.HTTPError as exc:
            raise TokenRequestError(f"token endpoint unreachable: {exc}") from exc
        if response.status_code != 200:
            raise TokenRequestError(
                f"token refused ({response.status_code}): {response.text[:300]}"
            )
        body = response.json()
        self._cache[(resource, scope)] = (body["access_token"], time.time() + body["expires_in"])
        return str(body["access_token"])
