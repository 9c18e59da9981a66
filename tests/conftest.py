"""Shared fixtures: a test signing key and tokens the simulators accept without an IdP."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from simulators.common.tokens import TokenVerifier

TEST_ISSUER = "http://idp.test"


@pytest.fixture(scope="session")
def signing_key() -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": "test-key", "use": "sig"})


@pytest.fixture(scope="session")
def make_token(signing_key: ECKey) -> Callable[..., str]:
    def make(
        audience: str,
        scope: str = "",
        *,
        subject: str = "client-1",
        lifetime_s: int = 300,
        **claims: Any,
    ) -> str:
        now = int(time.time())
        payload = {
            "iss": TEST_ISSUER,
            "sub": subject,
            "client_id": subject,
            "aud": audience,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime_s,
            "jti": uuid.uuid4().hex,
            "scope": scope,
            **claims,
        }
        return jwt.encode({"alg": "ES256", "kid": "test-key"}, payload, signing_key)

    return make


@pytest.fixture(scope="session")
def verifier_for(signing_key: ECKey) -> Callable[[str], TokenVerifier]:
    def build(audience: str) -> TokenVerifier:
        return TokenVerifier(
            jwks_url="http://idp.test/.well-known/jwks.json",
            issuer=TEST_ISSUER,
            audience=audience,
            static_keys=KeySet([signing_key]),
        )

    return build
