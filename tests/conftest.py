"""Shared fixtures: a test signing key and tokens the simulators accept without an IdP."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
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


# PostgreSQL for the tests that run on both stores: LIENTHONG_TEST_PG overrides the URL;
# where no server answers, those tests skip and say why.
PG_URL = os.environ.get("LIENTHONG_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _postgres_unavailable() -> str | None:
    try:
        import psycopg

        psycopg.connect(PG_URL, connect_timeout=2).close()
    except Exception as exc:  # any failure means: skip, with the reason
        return f"PostgreSQL not reachable at {PG_URL}: {type(exc).__name__}: {exc}"
    return None


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a private schema in PostgreSQL."""
    if request.param == "sqlite":
        yield str(tmp_path / "store.db")
        return
    reason = _postgres_unavailable()
    if reason:
        pytest.skip(reason)
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")
