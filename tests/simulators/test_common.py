"""Shared simulator pieces: schema errors, problem responses, JSON bodies, bearer tokens."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import warnings
from collections.abc import Callable
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet
from starlette.applications import Starlette
from starlette.exceptions import StarletteDeprecationWarning
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

from simulators.common.http import MAX_BODY_BYTES, json_response, read_form, read_json_object
from simulators.common.problems import (
    FieldError,
    ProblemError,
    exception_handlers,
    problem_response,
)
from simulators.common.tokens import TokenVerifier, require_scope
from simulators.common.validation import SchemaValidator

AUDIENCE = "urn:lienthong:portal"
PROBLEM = "application/problem+json"
SECRET = "db password is hunter2"


# -- SchemaValidator ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def submission() -> SchemaValidator:
    return SchemaValidator("agency.yaml", "DossierSubmission")


def valid_submission(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "MaHoSo": "000.00.01.H29-250115-0001",
        "MaTTHC": "1.004194",
        "NgayNopHoSo": "20250115143000",
        "KenhNop": 2,
        "ChuHoSo": {
            "SoDinhDanh": "001090000001",
            "HoVaTen": "Nguyễn Văn A",
            "NgaySinh": "19900131",
        },
    }
    body.update(overrides)
    return body


def fields(errors: tuple[FieldError, ...]) -> list[str]:
    return [error.field for error in errors]


def test_a_valid_instance_has_no_errors(submission: SchemaValidator) -> None:
    assert submission.errors(valid_submission()) == ()
    submission.check(valid_submission())


def test_a_missing_field_is_named_by_its_pointer(submission: SchemaValidator) -> None:
    body = valid_submission()
    del body["ChuHoSo"]["HoVaTen"]
    [error] = submission.errors(body)
    assert error == FieldError("/ChuHoSo/HoVaTen", "is required", "add this field")


def test_a_pattern_error_says_which_pattern_and_what_it_means(
    submission: SchemaValidator,
) -> None:
    body = valid_submission()
    body["ChuHoSo"]["SoDinhDanh"] = "12345"
    [error] = submission.errors(body)
    assert error.field == "/ChuHoSo/SoDinhDanh"
    assert "^[0-9]{12}$" in error.fix
    assert "12-digit" in error.fix


def test_an_enum_error_lists_the_allowed_values(submission: SchemaValidator) -> None:
    [error] = submission.errors(valid_submission(KenhNop=9))
    assert error.field == "/KenhNop"
    assert error.fix == "use one of [1, 2, 3]"


def test_a_type_error_names_the_expected_type(submission: SchemaValidator) -> None:
    [error] = submission.errors(valid_submission(TrichYeuHoSo=5))
    assert error.field == "/TrichYeuHoSo"
    assert error.fix == "send a value of type string"


def test_an_unknown_field_is_reported_at_its_parent(submission: SchemaValidator) -> None:
    [error] = submission.errors(valid_submission(Extra=1))
    assert error.field == "/"
    assert "Extra" in error.message
    assert error.fix


def test_every_error_is_reported_with_a_fix(submission: SchemaValidator) -> None:
    errors = submission.errors({"MaHoSo": "x", "KenhNop": 0})
    assert set(fields(errors)) >= {"/MaHoSo", "/KenhNop", "/MaTTHC", "/NgayNopHoSo", "/ChuHoSo"}
    assert all(error.fix for error in errors)


def test_check_raises_a_422_naming_every_field(submission: SchemaValidator) -> None:
    with pytest.raises(ProblemError) as caught:
        submission.check(valid_submission(KenhNop=9, MaTTHC="x"))
    problem = caught.value
    assert problem.status == 422
    assert problem.slug == "validation"
    assert fields(problem.errors) == ["/KenhNop", "/MaTTHC"]
    assert "/KenhNop" in problem.detail


def test_long_messages_are_shortened(submission: SchemaValidator) -> None:
    [error] = submission.errors(valid_submission(TrichYeuHoSo="x" * 10_000))
    assert error.field == "/TrichYeuHoSo"
    assert len(error.message) <= 200


def test_errors_are_bounded(submission: SchemaValidator) -> None:
    form = {f"f{i}": ["not allowed"] for i in range(40)}
    assert len(submission.errors(valid_submission(DuLieuHoSo=form))) <= 20


def test_a_trailing_newline_does_not_satisfy_an_anchored_pattern(
    submission: SchemaValidator,
) -> None:
    body = valid_submission()
    body["ChuHoSo"]["SoDinhDanh"] = "001090000001\n"
    assert fields(submission.errors(body)) == ["/ChuHoSo/SoDinhDanh"]


# -- problem responses ----------------------------------------------------------------------


async def boom(request: Request) -> Response:
    raise RuntimeError(SECRET)


async def echo(request: Request) -> Response:
    return json_response(await read_json_object(request))


async def small(request: Request) -> Response:
    return json_response(await read_json_object(request, max_bytes=16))


async def form(request: Request) -> Response:
    return json_response(await read_form(request))


async def conflict(request: Request) -> Response:
    raise ProblemError(
        409,
        "Conflict",
        "taken",
        errors=(FieldError("/a", "used"),),
        headers={"X-Hint": "1"},
        extra={"previous": 2},
    )


@pytest.fixture(scope="module")
def app_client() -> TestClient:
    app = Starlette(
        routes=[
            Route("/boom", boom),
            Route("/echo", echo, methods=["POST"]),
            Route("/small", small, methods=["POST"]),
            Route("/form", form, methods=["POST"]),
            Route("/conflict", conflict),
        ],
        exception_handlers=exception_handlers(),
    )
    return TestClient(app, raise_server_exceptions=False)


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"].startswith("https://")
    assert body["title"]
    return body


def test_an_unknown_path_is_a_404_problem(app_client: TestClient) -> None:
    body = assert_problem(app_client.get("/nowhere"), 404)
    assert body["instance"] == "/nowhere"
    assert "/nowhere" in body["detail"]


def test_a_wrong_method_is_a_405_problem_with_allow(app_client: TestClient) -> None:
    response = app_client.delete("/echo")
    body = assert_problem(response, 405)
    assert "DELETE" in body["detail"]
    assert "POST" in response.headers["allow"]


def test_an_unexpected_exception_is_a_500_problem_without_internals(
    app_client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    response = app_client.get("/boom")
    body = assert_problem(response, 500)
    assert SECRET not in response.text
    assert "Traceback" not in response.text
    assert "RuntimeError" not in response.text
    assert body["instance"] == "/boom"
    assert any(SECRET in (record.exc_text or "") or record.exc_info for record in caplog.records)


def test_a_problem_error_carries_errors_headers_and_extra_members(
    app_client: TestClient,
) -> None:
    response = app_client.get("/conflict")
    body = assert_problem(response, 409)
    assert body["type"].endswith("/conflict")
    assert body["errors"] == [{"field": "/a", "message": "used"}]
    assert body["previous"] == 2
    assert response.headers["x-hint"] == "1"


def test_problem_response_uses_the_slug_for_the_type() -> None:
    response = problem_response(ProblemError(400, "Bad thing", slug="bad-thing-slug"))
    assert response.media_type == PROBLEM
    assert b"/problems/bad-thing-slug" in response.body
    assert b'"detail"' not in response.body


# -- read_json_object / read_form -----------------------------------------------------------


def test_a_json_object_is_read(app_client: TestClient) -> None:
    response = app_client.post("/echo", json={"a": [1, "ế"]})
    assert response.status_code == 200
    assert response.json() == {"a": [1, "ế"]}


def test_a_body_over_1_mib_is_a_413(app_client: TestClient) -> None:
    body = b'{"a": "' + b"x" * MAX_BODY_BYTES + b'"}'
    response = app_client.post("/echo", content=body, headers={"Content-Type": "application/json"})
    assert_problem(response, 413)


def test_a_streamed_body_over_the_limit_is_a_413(app_client: TestClient) -> None:
    def chunks() -> Any:
        yield b'{"a": "'
        yield b"x" * 64
        yield b'"}'

    response = app_client.post(
        "/small", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    assert_problem(response, 413)


def test_a_body_at_the_limit_is_read(app_client: TestClient) -> None:
    response = app_client.post(
        "/small", content=b'{"a": "1234567"}', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b"42", b"null"])
def test_json_that_is_not_an_object_is_a_400(app_client: TestClient, body: bytes) -> None:
    response = app_client.post("/echo", content=body, headers={"Content-Type": "application/json"})
    problem = assert_problem(response, 400)
    assert problem["errors"][0]["field"] == "/"


@pytest.mark.parametrize("body", [b"{", b"", b"{'a': 1}", b"\xff\xfe"])
def test_malformed_json_is_a_400(app_client: TestClient, body: bytes) -> None:
    response = app_client.post("/echo", content=body, headers={"Content-Type": "application/json"})
    assert_problem(response, 400)


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/json-patch+json"])
def test_another_media_type_is_a_415(app_client: TestClient, content_type: str | None) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    response = app_client.post("/echo", content=b"{}", headers=headers)
    problem = assert_problem(response, 415)
    assert problem["errors"][0]["field"] == "Content-Type"


def test_json_with_a_charset_parameter_is_accepted(app_client: TestClient) -> None:
    response = app_client.post(
        "/echo", content=b"{}", headers={"Content-Type": "Application/JSON; charset=utf-8"}
    )
    assert response.status_code == 200


def test_a_form_is_read_one_value_per_key(app_client: TestClient) -> None:
    response = app_client.post("/form", data={"a": "1", "b": ""})
    assert response.json() == {"a": "1", "b": ""}


# -- TokenVerifier / require_scope ----------------------------------------------------------


def verify(verifier: TokenVerifier, authorization: str | None) -> dict[str, Any]:
    return asyncio.run(verifier.verify(authorization))


def assert_unauthorized(
    verifier: TokenVerifier, authorization: str | None, description: str
) -> None:
    with pytest.raises(ProblemError) as caught:
        verify(verifier, authorization)
    problem = caught.value
    assert problem.status == 401
    challenge = problem.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer error="invalid_token"')
    assert description in problem.detail
    assert description in challenge


@pytest.fixture
def verifier(verifier_for: Callable[[str], TokenVerifier]) -> TokenVerifier:
    return verifier_for(AUDIENCE)


def bearer(token: str) -> str:
    return f"Bearer {token}"


def test_a_good_token_gives_its_claims(
    verifier: TokenVerifier, make_token: Callable[..., str]
) -> None:
    claims = verify(verifier, bearer(make_token(AUDIENCE, "portal.sync")))
    assert claims["aud"] == AUDIENCE
    assert claims["scope"] == "portal.sync"


def test_an_audience_list_containing_ours_is_accepted(
    verifier: TokenVerifier, make_token: Callable[..., str]
) -> None:
    token = make_token(AUDIENCE, aud=["urn:other", AUDIENCE])
    assert verify(verifier, bearer(token))["aud"] == ["urn:other", AUDIENCE]


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc", "Bearer " + "a" * 8200],
    ids=["none", "empty", "scheme-only", "blank-token", "basic", "other-scheme", "huge"],
)
def test_a_missing_or_malformed_header_is_unauthorized(
    verifier: TokenVerifier, authorization: str | None
) -> None:
    assert_unauthorized(verifier, authorization, "Bearer")


def test_a_lowercase_bearer_scheme_is_accepted(
    verifier: TokenVerifier, make_token: Callable[..., str]
) -> None:
    assert verify(verifier, "bearer " + make_token(AUDIENCE))["aud"] == AUDIENCE


def test_an_expired_token_is_unauthorized(
    verifier: TokenVerifier, make_token: Callable[..., str]
) -> None:
    assert_unauthorized(verifier, bearer(make_token(AUDIENCE, lifetime_s=-3600)), "expired")


def test_a_token_just_expired_within_leeway_is_accepted(
    verifier: TokenVerifier, make_token: Callable[..., str]
) -> None:
    assert verify(verifier, bearer(make_token(AUDIENCE, lifetime_s=-10)))


def test_a_token_without_exp_is_unauthorized(
    verifier: TokenVerifier, make_token: Callable[..., str]
) -> None:
    assert_unauthorized(verifier, bearer(make_token(AUDIENCE, exp=None)), "expired")


def test_a_token_not_yet_valid_is_unauthorized(
    verifier: TokenVerifier, make_token: Callable[..., str]
) -> None:
    now = int(time.time())
    token = make_token(AUDIENCE, nbf=now + 3600, iat=now + 3600, exp=now + 7200)
    assert_unauthorized(verifier, bearer(token), "not valid yet")


def test_a_token_from_another_issuer_is_unauthorized(
    verifier: TokenVerifier, make_token: Callable[..., str]
) -> None:
    token = make_token(AUDIENCE, iss="http://evil.test")
    assert_unauthorized(verifier, bearer(token), "another issuer")


def test_a_token_for_another_audience_is_unauthorized(
    verifier: TokenVerifier, make_token: Callable[..., str]
) -> None:
    token = make_token("urn:lienthong:population")
    assert_unauthorized(verifier, bearer(token), f"expected {AUDIENCE}")


def test_a_token_signed_by_another_key_with_our_kid_is_unauthorized(
    verifier: TokenVerifier,
) -> None:
    impostor = ECKey.generate_key("P-256", parameters={"kid": "test-key"})
    now = int(time.time())
    claims = {"iss": "http://idp.test", "aud": AUDIENCE, "iat": now, "exp": now + 60}
    token = jwt.encode({"alg": "ES256", "kid": "test-key"}, claims, impostor)
    assert_unauthorized(verifier, bearer(token), "signature")


def test_a_token_with_an_unknown_kid_is_unauthorized_without_a_refetch(
    verifier: TokenVerifier,
) -> None:
    stranger = ECKey.generate_key("P-256", parameters={"kid": "rotated"})
    now = int(time.time())
    claims = {"iss": "http://idp.test", "aud": AUDIENCE, "iat": now, "exp": now + 60}
    token = jwt.encode({"alg": "ES256", "kid": "rotated"}, claims, stranger)
    assert_unauthorized(verifier, bearer(token), "signature")


def test_a_tampered_payload_is_unauthorized(
    verifier: TokenVerifier, make_token: Callable[..., str]
) -> None:
    header, _, signature = make_token(AUDIENCE).split(".")
    forged_payload = make_token(AUDIENCE, "portal.sync admin").split(".")[1]
    assert_unauthorized(verifier, bearer(f"{header}.{forged_payload}.{signature}"), "signature")


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "...", "eyJhbGciOiJub25lIn0.e30."])
def test_a_garbage_token_is_unauthorized(verifier: TokenVerifier, token: str) -> None:
    assert_unauthorized(verifier, bearer(token), "signature")


def test_an_hs256_token_is_unauthorized(verifier: TokenVerifier) -> None:
    from joserfc.jwk import OctKey

    now = int(time.time())
    claims = {"iss": "http://idp.test", "aud": AUDIENCE, "iat": now, "exp": now + 60}
    token = jwt.encode({"alg": "HS256", "kid": "test-key"}, claims, OctKey.generate_key(256))
    assert_unauthorized(verifier, bearer(token), "signature")


@pytest.fixture
def lax_verifier(signing_key: ECKey) -> TokenVerifier:
    return TokenVerifier(
        jwks_url="http://idp.test/.well-known/jwks.json",
        issuer="http://idp.test",
        audience=AUDIENCE,
        static_keys=KeySet([signing_key]),
        skip_checks=frozenset({"audience"}),
    )


def test_without_audience_enforcement_another_audience_is_accepted(
    lax_verifier: TokenVerifier, make_token: Callable[..., str]
) -> None:
    claims = verify(lax_verifier, bearer(make_token("urn:lienthong:population")))
    assert claims["aud"] == "urn:lienthong:population"


def test_without_audience_enforcement_other_checks_still_apply(
    lax_verifier: TokenVerifier, make_token: Callable[..., str]
) -> None:
    other = "urn:lienthong:population"
    assert_unauthorized(lax_verifier, bearer(make_token(other, lifetime_s=-3600)), "expired")
    assert_unauthorized(
        lax_verifier, bearer(make_token(other, iss="http://evil.test")), "another issuer"
    )
    impostor = ECKey.generate_key("P-256", parameters={"kid": "test-key"})
    token = jwt.encode(
        {"alg": "ES256", "kid": "test-key"},
        {"iss": "http://idp.test", "aud": other, "exp": int(time.time()) + 60},
        impostor,
    )
    assert_unauthorized(lax_verifier, bearer(token), "signature")


def _skipping(signing_key: ECKey, check: str) -> TokenVerifier:
    return TokenVerifier(
        jwks_url="http://idp.test/.well-known/jwks.json",
        issuer="http://idp.test",
        audience=AUDIENCE,
        static_keys=KeySet([signing_key]),
        skip_checks=frozenset({check}),
    )


def test_skipping_signatures_takes_a_forged_es256_token_but_still_refuses_alg_none(
    signing_key: ECKey,
) -> None:
    verifier = _skipping(signing_key, "signature")
    now = int(time.time())
    claims = {"iss": "http://idp.test", "aud": AUDIENCE, "iat": now, "exp": now + 60}
    impostor = ECKey.generate_key("P-256", parameters={"kid": "test-key"})
    forged = jwt.encode({"alg": "ES256", "kid": "test-key"}, claims, impostor)
    assert verify(verifier, bearer(forged))["aud"] == AUDIENCE
    header = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert_unauthorized(verifier, bearer(f"{header}.{body}."), "signature")


def test_skipping_presence_trusts_a_bare_request_but_still_verifies_a_token(
    signing_key: ECKey, make_token: Callable[..., str]
) -> None:
    verifier = _skipping(signing_key, "presence")
    assert verify(verifier, None)["client_id"] == "internal-network"
    expired = make_token(AUDIENCE, lifetime_s=-3600)
    assert_unauthorized(verifier, bearer(expired), "expired")


def test_an_unreachable_jwks_is_a_503_with_retry_after(make_token: Callable[..., str]) -> None:
    verifier = TokenVerifier(
        jwks_url="http://127.0.0.1:9/.well-known/jwks.json",
        issuer="http://idp.test",
        audience=AUDIENCE,
        timeout_s=2.0,
    )
    with pytest.raises(ProblemError) as caught:
        verify(verifier, bearer(make_token(AUDIENCE)))
    assert caught.value.status == 503
    assert caught.value.headers["Retry-After"] == "5"


def test_require_scope_passes_a_granted_scope() -> None:
    require_scope({"scope": "dossier.read portal.sync"}, "portal.sync")


@pytest.mark.parametrize(
    "claims",
    [{}, {"scope": ""}, {"scope": "portal.syncx"}, {"scope": "portal"}, {"scope": None}],
)
def test_require_scope_refuses_with_403(claims: dict[str, Any]) -> None:
    with pytest.raises(ProblemError) as caught:
        require_scope(claims, "portal.sync")
    problem = caught.value
    assert problem.status == 403
    assert problem.slug == "insufficient-scope"
    assert problem.headers["WWW-Authenticate"] == (
        'Bearer error="insufficient_scope", scope="portal.sync"'
    )


def test_a_verifier_in_an_app_answers_401_problem_with_a_challenge(
    verifier: TokenVerifier,
) -> None:
    async def guarded(request: Request) -> Response:
        claims = await verifier.verify(request.headers.get("authorization"))
        require_scope(claims, "portal.sync")
        return json_response({"ok": True})

    client = TestClient(
        Starlette(routes=[Route("/guarded", guarded)], exception_handlers=exception_handlers())
    )
    response = client.get("/guarded")
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")
