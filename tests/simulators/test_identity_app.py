"""The identity provider: client-credentials tokens for RFC 7523 assertions, JWKS, metadata."""

from __future__ import annotations

import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

from simulators.common.oauth_client import TokenClient
from simulators.identity.app import create_app
from simulators.identity.assertions import ASSERTION_TYPE
from simulators.identity.credentials import ClientCredentials, identity_db_path, issue_credentials
from simulators.identity.store import IdentityStore

ISSUER = "http://idp.test"
TOKEN_URL = f"{ISSUER}/oauth2/token"
AGENCY = "000.00.01.H29"
POPULATION = "urn:lienthong:population"
ADMIN_TOKEN = "sandbox-admin-secret"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
PROBLEM = "application/problem+json"


@dataclass
class Idp:
    client: TestClient
    credentials: ClientCredentials
    signing_key: ECKey
    store: IdentityStore
    state_dir: Path


@pytest.fixture
def idp(tmp_path: Path) -> Iterator[Idp]:
    credentials = issue_credentials(tmp_path, AGENCY)
    store = IdentityStore(identity_db_path(tmp_path))
    key = ECKey.generate_key("P-256", auto_kid=True)
    app = create_app(store=store, signing_key=key, issuer=ISSUER, admin_token=ADMIN_TOKEN)
    with TestClient(app) as client:
        yield Idp(client, credentials, key, store, tmp_path)
    store.close()


def sign_assertion(key: ECKey, **overrides: Any) -> str:
    """An assertion for AGENCY; an override of None drops that claim."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": AGENCY,
        "sub": AGENCY,
        "aud": TOKEN_URL,
        "iat": now,
        "exp": now + 120,
        "jti": uuid.uuid4().hex,
    }
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode({"alg": "ES256", "kid": key.kid}, claims, key)


def token_form(assertion: str, **overrides: str | None) -> dict[str, str]:
    form: dict[str, str | None] = {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
        "resource": POPULATION,
    }
    form.update(overrides)
    return {k: v for k, v in form.items() if v is not None}


def request_token(idp: Idp, assertion: str | None = None, **overrides: str | None) -> Any:
    if assertion is None:
        assertion = sign_assertion(idp.credentials.private_key)
    return idp.client.post("/oauth2/token", data=token_form(assertion, **overrides))


def assert_oauth_error(response: Any, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    assert problem["error"] == error
    assert problem["error_description"]
    return problem


def jwks_keys(idp: Idp) -> KeySet:
    response = idp.client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    return KeySet.import_key_set(response.json())


# -- happy path -----------------------------------------------------------------------------


def test_a_registered_client_gets_a_token_that_verifies_against_the_jwks(idp: Idp) -> None:
    async_http = httpx.AsyncClient()  # never used: assertion() signs locally
    tokens = TokenClient(
        token_url=TOKEN_URL, client_id=AGENCY, key=idp.credentials.private_key, http=async_http
    )
    before = int(time.time())
    response = request_token(idp, tokens.assertion(), scope="citizen.verify")

    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "citizen.verify"
    assert body["expires_in"] == 300
    claims = jwt.decode(body["access_token"], jwks_keys(idp), algorithms=["ES256"]).claims
    assert claims["iss"] == ISSUER
    assert claims["aud"] == POPULATION
    assert claims["scope"] == "citizen.verify"
    assert claims["agency_id"] == AGENCY
    assert claims["sub"] == claims["client_id"] == AGENCY
    assert before <= claims["iat"] <= claims["exp"] - 300 + 1
    assert claims["exp"] >= before + 300


def test_access_tokens_are_typed_at_jwt_with_the_jwks_kid(idp: Idp) -> None:
    token = request_token(idp).json()["access_token"]
    header = jwt.decode(token, jwks_keys(idp), algorithms=["ES256"]).header
    assert header["typ"] == "at+jwt"
    assert header["kid"] == idp.signing_key.kid


def test_without_a_scope_every_registered_scope_of_the_resource_is_granted(idp: Idp) -> None:
    response = request_token(idp)
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "citizen.read.identity citizen.read.residence citizen.verify"


def test_a_portal_token_carries_only_the_portal_scope(idp: Idp) -> None:
    response = request_token(idp, resource="urn:lienthong:portal")
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "portal.sync"


def test_the_jwks_publishes_only_the_public_key(idp: Idp) -> None:
    keys = idp.client.get("/.well-known/jwks.json").json()["keys"]
    assert len(keys) == 1
    assert keys[0]["kid"] == idp.signing_key.kid
    assert keys[0]["kty"] == "EC"
    assert "d" not in keys[0]


def test_metadata_describes_the_token_endpoint(idp: Idp) -> None:
    response = idp.client.get("/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    metadata = response.json()
    assert metadata["issuer"] == ISSUER
    assert metadata["token_endpoint"] == TOKEN_URL
    assert metadata["jwks_uri"] == f"{ISSUER}/.well-known/jwks.json"
    assert metadata["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert "ES256" in metadata["token_endpoint_auth_signing_alg_values_supported"]
    assert metadata["grant_types_supported"] == ["client_credentials"]


def test_the_issuer_url_is_accepted_as_assertion_audience(idp: Idp) -> None:
    assertion = sign_assertion(idp.credentials.private_key, aud=[ISSUER, "urn:other"])
    assert request_token(idp, assertion).status_code == 200


def test_a_trailing_slash_in_the_configured_issuer_is_dropped(tmp_path: Path) -> None:
    store = IdentityStore(":memory:")
    app = create_app(
        store=store,
        signing_key=ECKey.generate_key("P-256", auto_kid=True),
        issuer=ISSUER + "/",
        admin_token=ADMIN_TOKEN,
    )
    metadata = TestClient(app).get("/.well-known/oauth-authorization-server").json()
    store.close()
    assert metadata["issuer"] == ISSUER
    assert metadata["token_endpoint"] == TOKEN_URL


# -- token endpoint errors ------------------------------------------------------------------


def test_another_grant_type_is_unsupported(idp: Idp) -> None:
    response = request_token(idp, grant_type="authorization_code")
    assert_oauth_error(response, 400, "unsupported_grant_type")


@pytest.mark.parametrize(
    "overrides",
    [
        {"client_assertion": None},
        {"client_assertion": ""},
        {"client_assertion_type": None},
        {"client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"},
    ],
)
def test_a_missing_assertion_is_an_invalid_request(
    idp: Idp, overrides: dict[str, str | None]
) -> None:
    assert_oauth_error(request_token(idp, **overrides), 400, "invalid_request")


def test_a_missing_resource_is_an_invalid_target(idp: Idp) -> None:
    assert_oauth_error(request_token(idp, resource=None), 400, "invalid_target")


def test_an_unknown_client_is_an_invalid_client(idp: Idp) -> None:
    assertion = sign_assertion(
        idp.credentials.private_key, iss="000.00.99.H29", sub="000.00.99.H29"
    )
    problem = assert_oauth_error(request_token(idp, assertion), 401, "invalid_client")
    assert "credentials issue" in problem["error_description"]


def test_an_assertion_signed_by_another_key_is_an_invalid_client(idp: Idp) -> None:
    stranger = ECKey.generate_key("P-256", auto_kid=True)
    response = request_token(idp, sign_assertion(stranger))
    problem = assert_oauth_error(response, 401, "invalid_client")
    assert "signature" in problem["error_description"]


def test_a_replayed_assertion_is_an_invalid_client(idp: Idp) -> None:
    assertion = sign_assertion(idp.credentials.private_key)
    assert request_token(idp, assertion).status_code == 200
    problem = assert_oauth_error(request_token(idp, assertion), 401, "invalid_client")
    assert "jti" in problem["error_description"]


def test_a_reused_jti_in_a_fresh_assertion_is_an_invalid_client(idp: Idp) -> None:
    key = idp.credentials.private_key
    assert request_token(idp, sign_assertion(key, jti="same")).status_code == 200
    assert_oauth_error(request_token(idp, sign_assertion(key, jti="same")), 401, "invalid_client")


@pytest.mark.parametrize(
    ("overrides", "hint"),
    [
        ({"aud": "http://elsewhere.test/oauth2/token"}, "aud"),
        ({"aud": None}, "aud"),
        ({"sub": "000.00.02.H29"}, "sub"),
        ({"jti": None}, "jti"),
        ({"jti": ""}, "jti"),
        ({"exp": None}, "exp"),
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"exp": int(time.time()) + 3600}, "too long"),
    ],
    ids=[
        "wrong-aud",
        "no-aud",
        "sub-not-iss",
        "no-jti",
        "empty-jti",
        "no-exp",
        "expired",
        "lives-an-hour",
    ],
)
def test_an_assertion_with_bad_claims_is_an_invalid_client(
    idp: Idp, overrides: dict[str, Any], hint: str
) -> None:
    response = request_token(idp, sign_assertion(idp.credentials.private_key, **overrides))
    problem = assert_oauth_error(response, 401, "invalid_client")
    assert hint in problem["error_description"]


def test_an_assertion_expiring_just_past_300_s_plus_skew_is_refused(idp: Idp) -> None:
    assertion = sign_assertion(idp.credentials.private_key, exp=int(time.time()) + 340)
    assert_oauth_error(request_token(idp, assertion), 401, "invalid_client")


def test_an_assertion_expiring_within_300_s_is_accepted(idp: Idp) -> None:
    assertion = sign_assertion(idp.credentials.private_key, exp=int(time.time()) + 295)
    assert request_token(idp, assertion).status_code == 200


def test_a_wrong_aud_hint_names_the_token_endpoint_url(idp: Idp) -> None:
    assertion = sign_assertion(idp.credentials.private_key, aud="http://elsewhere.test/")
    problem = assert_oauth_error(request_token(idp, assertion), 401, "invalid_client")
    assert f"({TOKEN_URL})" in problem["error_description"]


@pytest.mark.parametrize(
    "assertion",
    [
        "garbage",
        "a.b.c",
        "...",
        "eyJhbGciOiJFUzI1NiJ9.W10.c2ln",
        "eyJhbGciOiJFUzI1NiJ9.__4.c2ln",
        "é.é.é",
        "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",
    ],
    ids=["word", "three-words", "dots", "array-payload", "binary-payload", "non-ascii", "no-iss"],
)
def test_a_garbage_assertion_is_an_invalid_request_not_a_crash(idp: Idp, assertion: str) -> None:
    assert_oauth_error(request_token(idp, assertion), 400, "invalid_request")


def test_a_forged_signature_for_a_registered_issuer_is_an_invalid_client(idp: Idp) -> None:
    header, payload, _ = sign_assertion(idp.credentials.private_key).split(".")
    assertion = f"{header}.{payload}.AAAA"
    assert_oauth_error(request_token(idp, assertion), 401, "invalid_client")


def test_an_hs256_assertion_keyed_with_the_public_key_is_refused(idp: Idp) -> None:
    from joserfc.jwk import OctKey

    public = idp.credentials.private_key.as_dict(private=False)
    forged_key = OctKey.import_key(str(public).encode())
    claims = {
        "iss": AGENCY,
        "sub": AGENCY,
        "aud": TOKEN_URL,
        "exp": int(time.time()) + 60,
        "jti": uuid.uuid4().hex,
    }
    assertion = jwt.encode({"alg": "HS256"}, claims, forged_key)
    assert_oauth_error(request_token(idp, assertion), 401, "invalid_client")


def test_an_unknown_resource_is_an_invalid_target(idp: Idp) -> None:
    problem = assert_oauth_error(
        request_token(idp, resource="urn:lienthong:bank"), 400, "invalid_target"
    )
    assert "urn:lienthong:population" in problem["error_description"]


@pytest.mark.parametrize(
    ("resource", "scope"),
    [
        (POPULATION, "citizen.read.family"),
        (POPULATION, "citizen.verify portal.sync"),
        ("urn:lienthong:portal", "citizen.verify"),
        (f"urn:lienthong:agency:{AGENCY}", ""),
    ],
)
def test_a_scope_not_granted_is_an_invalid_scope(idp: Idp, resource: str, scope: str) -> None:
    response = request_token(idp, resource=resource, scope=scope)
    assert_oauth_error(response, 400, "invalid_scope")


def test_a_refused_scope_does_not_spend_the_assertion_silently(idp: Idp) -> None:
    # The jti is spent once the client is authenticated, whatever happens next.
    assertion = sign_assertion(idp.credentials.private_key)
    request_token(idp, assertion, scope="citizen.read.family")
    assert_oauth_error(request_token(idp, assertion), 401, "invalid_client")


def test_a_json_body_is_an_unsupported_media_type_with_an_oauth_error(idp: Idp) -> None:
    # specs/identity.yaml: the token endpoint's 415 is an OAuthProblem (`error` required).
    response = idp.client.post(
        "/oauth2/token", json=token_form(sign_assertion(idp.credentials.private_key))
    )
    problem = assert_oauth_error(response, 415, "invalid_request")
    assert "application/x-www-form-urlencoded" in problem["error_description"]


def test_a_non_utf8_form_is_an_invalid_request(idp: Idp) -> None:
    response = idp.client.post(
        "/oauth2/token",
        content=b"grant_type=\xff",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_oauth_error(response, 400, "invalid_request")


def test_get_on_the_token_endpoint_is_a_405_problem(idp: Idp) -> None:
    response = idp.client.get("/oauth2/token")
    assert response.status_code == 405
    assert response.headers["content-type"] == PROBLEM


# -- admin token minting --------------------------------------------------------------------


def test_minting_needs_the_admin_token(idp: Idp) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": ADMIN_TOKEN}):
        response = idp.client.post("/admin/tokens", json={"audience": POPULATION}, headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["content-type"] == PROBLEM
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_minted_token_carries_what_was_asked(idp: Idp) -> None:
    response = idp.client.post(
        "/admin/tokens",
        headers=ADMIN,
        json={"audience": "urn:lienthong:agency:X", "subject": "harness", "scope": "dossier.read"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    claims = jwt.decode(
        response.json()["access_token"], jwks_keys(idp), algorithms=["ES256"]
    ).claims
    assert claims["aud"] == "urn:lienthong:agency:X"
    assert claims["sub"] == "harness"
    assert claims["scope"] == "dossier.read"
    assert claims["iss"] == ISSUER
    assert "agency_id" not in claims


def test_a_negative_lifetime_mints_an_expired_token(idp: Idp) -> None:
    response = idp.client.post(
        "/admin/tokens", headers=ADMIN, json={"audience": POPULATION, "lifetime_s": -600}
    )
    assert response.status_code == 200, response.text
    assert response.json()["expires_in"] == -600
    claims = jwt.decode(
        response.json()["access_token"], jwks_keys(idp), algorithms=["ES256"]
    ).claims
    assert claims["exp"] == claims["iat"] - 600
    assert claims["exp"] < time.time() - 500


def test_an_issued_offset_moves_iat_and_nbf(idp: Idp) -> None:
    response = idp.client.post(
        "/admin/tokens", headers=ADMIN, json={"audience": POPULATION, "issued_offset_s": 3600}
    )
    claims = jwt.decode(
        response.json()["access_token"], jwks_keys(idp), algorithms=["ES256"]
    ).claims
    assert claims["nbf"] == claims["iat"] > time.time() + 3500


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"audience": POPULATION, "colour": "red"}, "/"),
        ({"scope": "x"}, "/audience"),
        ({"audience": POPULATION, "lifetime_s": "60"}, "/lifetime_s"),
        ({"audience": ""}, "/audience"),
    ],
    ids=["unknown-field", "no-audience", "string-lifetime", "empty-audience"],
)
def test_an_invalid_mint_request_is_a_422_naming_the_field(
    idp: Idp, body: dict[str, Any], field: str
) -> None:
    response = idp.client.post("/admin/tokens", headers=ADMIN, json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert field in [error["field"] for error in response.json()["errors"]]


def test_a_form_mint_request_is_an_unsupported_media_type(idp: Idp) -> None:
    response = idp.client.post("/admin/tokens", headers=ADMIN, data={"audience": POPULATION})
    assert response.status_code == 415


def _nan_exp_assertion(key: ECKey) -> str:
    # Python's JSON accepts NaN; an assertion may carry it even though RFC 8259 JSON cannot.
    return sign_assertion(key, exp=float("nan"))


def test_a_nan_exp_is_refused(idp: Idp) -> None:
    response = request_token(idp, _nan_exp_assertion(idp.credentials.private_key))
    assert_oauth_error(response, 401, "invalid_client")


def test_a_nan_exp_is_refused_for_its_exp(idp: Idp) -> None:
    response = request_token(idp, _nan_exp_assertion(idp.credentials.private_key))
    problem = assert_oauth_error(response, 401, "invalid_client")
    assert "jti" not in problem["error_description"]


def test_an_ed25519_client_gets_a_token(tmp_path: Path) -> None:
    """Clients may sign assertions with Ed25519 keys (alg EdDSA or Ed25519)."""
    from joserfc import jwt as jose_jwt
    from joserfc.jwk import OKPKey
    from joserfc.jws import JWSRegistry

    from simulators.identity.app import create_app
    from simulators.identity.keys import load_or_create_signing_key
    from simulators.identity.store import Client, IdentityStore

    store = IdentityStore(tmp_path / "idp.db")
    key = OKPKey.generate_key("Ed25519", auto_kid=True)
    store.register_client(
        Client("ED.CLIENT", "ED.CLIENT", key.as_dict(private=False), frozenset({"citizen.verify"}))
    )
    app = create_app(
        store=store,
        signing_key=load_or_create_signing_key(tmp_path / "k.json"),
        issuer="http://testserver",
        admin_token="admin",
    )
    now = int(time.time())
    registry = JWSRegistry(algorithms=["Ed25519"])
    assertion = jose_jwt.encode(
        {"alg": "Ed25519", "kid": key.kid},
        {
            "iss": "ED.CLIENT",
            "sub": "ED.CLIENT",
            "aud": "http://testserver/oauth2/token",
            "iat": now,
            "exp": now + 60,
            "jti": "ed-1",
        },
        key,
        registry=registry,
    )
    with TestClient(app) as client:
        response = client.post(
            "/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": assertion,
                "resource": "urn:lienthong:population",
            },
        )
    assert response.status_code == 200, response.text
    store.close()


# -- certificate-bound tokens (RFC 8705, the strict profile) ---------------------------------

THUMBPRINT = "A" * 42 + "Q"  # 43 base64url characters: a SHA-256 thumbprint's length


def _claims(idp: Idp, token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, jwks_keys(idp), algorithms=["ES256"]).claims)


def test_an_assertion_naming_a_certificate_gets_a_token_bound_to_it(idp: Idp) -> None:
    assertion = sign_assertion(idp.credentials.private_key, cnf={"x5t#S256": THUMBPRINT})
    response = request_token(idp, assertion)
    assert response.status_code == 200, response.text
    assert _claims(idp, response.json()["access_token"])["cnf"] == {"x5t#S256": THUMBPRINT}


def test_a_token_is_unbound_unless_the_assertion_asks(idp: Idp) -> None:
    response = request_token(idp)
    assert "cnf" not in _claims(idp, response.json()["access_token"])


@pytest.mark.parametrize("cnf", [{"x5t#S256": "short"}, {"jkt": THUMBPRINT}, "x5t"])
def test_a_malformed_cnf_is_an_invalid_request_naming_the_form(idp: Idp, cnf: Any) -> None:
    response = request_token(idp, sign_assertion(idp.credentials.private_key, cnf=cnf))
    problem = assert_oauth_error(response, 400, "invalid_request")
    assert "x5t#S256" in problem["detail"]


def test_a_minted_token_can_be_bound_to_a_certificate(idp: Idp) -> None:
    body = {"audience": "urn:lienthong:agency:X", "cnf_x5t_s256": THUMBPRINT}
    response = idp.client.post("/admin/tokens", headers=ADMIN, json=body)
    assert response.status_code == 200, response.text
    assert _claims(idp, response.json()["access_token"])["cnf"] == {"x5t#S256": THUMBPRINT}


def test_a_malformed_binding_in_a_mint_request_is_a_422(idp: Idp) -> None:
    body = {"audience": POPULATION, "cnf_x5t_s256": "not a thumbprint"}
    response = idp.client.post("/admin/tokens", headers=ADMIN, json=body)
    assert response.status_code == 422, response.text
    assert "/cnf_x5t_s256" in [error["field"] for error in response.json()["errors"]]


def test_metadata_announces_certificate_bound_tokens(idp: Idp) -> None:
    metadata = idp.client.get("/.well-known/oauth-authorization-server").json()
    assert metadata["tls_client_certificate_bound_access_tokens"] is True
