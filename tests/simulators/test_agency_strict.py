"""The strict profile in front of the reference agency: RFC 9421 signatures, certificate-bound
tokens, TLS ≥ 1.2 with client certificates — and the switches its faults turn off."""

from __future__ import annotations

import base64
import datetime as dt
import json
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

from harness.context import TlsCredentials
from harness.signing import RequestSigner
from harness.tls import probe_context
from simulators.agencies.catalogue import FAULTS, REFERENCE, STRICT_REFERENCE, Behaviour
from simulators.agencies.signatures import SIGNATURE_WINDOW_S, NonceLedger
from simulators.agencies.strict import StrictSecurity, strict_middleware, tls_context
from simulators.common.pki import IssuedCertificate, SandboxPki
from simulators.common.serving import bind_socket, serve_in_thread
from simulators.common.tls import peer_certificate

URL = "http://testserver/dossiers"
PROBLEM = "application/problem+json"


async def _echo(request: Request) -> JSONResponse:
    """What the API behind the middleware received: the body and the client certificate."""
    body = await request.body()
    der = peer_certificate(request.scope)
    return JSONResponse({"body": body.decode(), "certificate": der is not None})


API = Starlette(routes=[Route("/dossiers", _echo, methods=["GET", "POST"])])


class _PresentCertificate:
    """Puts a client certificate in the ASGI TLS extension, as TlsScopeProtocol does."""

    def __init__(self, app: ASGIApp, issued: IssuedCertificate | None) -> None:
        self.app, self.issued = app, issued

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        chain = [self.issued.cert_file.read_text()] if self.issued else []
        scope = {**scope, "extensions": {"tls": {"client_cert_chain": chain}}}
        await self.app(scope, receive, send)


@dataclass
class World:
    pki: SandboxPki
    harness: IssuedCertificate
    other: IssuedCertificate

    def client(
        self, behaviour: Behaviour = STRICT_REFERENCE, *, present: bool = True
    ) -> TestClient:
        app = StrictSecurity(API, behaviour=behaviour, pki=self.pki)
        return TestClient(_PresentCertificate(app, self.harness if present else None))

    def signer(self) -> RequestSigner:
        return RequestSigner.from_files(self.harness.cert_file, self.harness.key_file)


@pytest.fixture
def world(tmp_path: Path) -> World:
    pki = SandboxPki(tmp_path / "pki")
    return World(pki, pki.client("lienthong-harness"), pki.client("another-client"))


def token(bound_to: str | None) -> str:
    """A JWT-shaped token; the middleware reads only its cnf (the API verifies the rest)."""
    claims: dict[str, Any] = {"sub": "portal"}
    if bound_to:
        claims["cnf"] = {"x5t#S256": bound_to}
    part = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"eyJhbGciOiJFUzI1NiJ9.{part}.c2ln"


def signed(
    client: TestClient, signer: RequestSigner, *, bearer: str | None, **signing: Any
) -> httpx.Request:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    request = client.build_request("POST", URL, json={"MaHoSo": "X"}, headers=headers)
    signer.sign(request, **signing)
    return request


def send(client: TestClient, request: httpx.Request, body: bytes | None = None) -> httpx.Response:
    headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
    return client.post(URL, content=body if body is not None else request.content, headers=headers)


def refusal(response: httpx.Response, field: str) -> dict[str, Any]:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == PROBLEM
    problem: dict[str, Any] = response.json()
    assert field in [error["field"] for error in problem["errors"]], problem
    assert all(error["fix"] for error in problem["errors"])
    return problem


def good(world: World, behaviour: Behaviour = STRICT_REFERENCE) -> tuple[TestClient, httpx.Request]:
    client = world.client(behaviour)
    return client, signed(client, world.signer(), bearer=token(world.harness.thumbprint()))


# -- signatures -------------------------------------------------------------------------------


def test_a_correctly_signed_bound_request_reaches_the_api_with_its_body(world: World) -> None:
    client, request = good(world)
    response = send(client, request)
    assert response.status_code == 200, response.text
    assert response.json() == {"body": request.content.decode(), "certificate": True}


def test_an_unsigned_request_is_refused_saying_what_to_sign(world: World) -> None:
    response = world.client().post(URL, json={}, headers={"Authorization": "Bearer x"})
    problem = refusal(response, "Signature-Input")
    assert "content-digest" in problem["errors"][0]["fix"]
    assert "created" in response.headers["accept-signature"]


def test_a_signature_by_an_unknown_key_is_refused(world: World) -> None:
    client = world.client()
    stranger = RequestSigner(ec.generate_private_key(ec.SECP256R1()), "A" * 43)
    refusal(send(client, signed(client, stranger, bearer=None)), "Signature-Input;keyid")


def test_a_client_certificate_issued_after_start_is_trusted_as_a_signer(world: World) -> None:
    client = world.client()
    late = world.pki.client("late-client")
    signer = RequestSigner.from_files(late.cert_file, late.key_file)
    request = signed(client, signer, bearer=token(world.harness.thumbprint()))
    assert send(client, request).status_code == 200


def test_a_signature_leaving_the_body_out_is_refused(world: World) -> None:
    client = world.client()
    request = signed(client, world.signer(), bearer=None, cover_body=False)
    problem = refusal(send(client, request), "Signature-Input")
    assert "content-digest" in problem["errors"][0]["message"]


def test_a_body_changed_after_signing_is_refused(world: World) -> None:
    client, request = good(world)
    refusal(send(client, request, body=b'{"MaHoSo":"Y"}'), "Content-Digest")


def test_a_signature_for_another_request_does_not_verify(world: World) -> None:
    client, request = good(world)
    headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
    response = client.post(URL + "?other=1", content=request.content, headers=headers)
    refusal(response, "Signature")


def test_a_stale_signature_is_refused_naming_the_window(world: World) -> None:
    client = world.client()
    created = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=SIGNATURE_WINDOW_S + 30)
    request = signed(client, world.signer(), bearer=None, created=created)
    problem = refusal(send(client, request), "Signature-Input;created")
    assert f"{SIGNATURE_WINDOW_S} s" in problem["errors"][0]["message"]


def test_a_signature_from_the_future_is_refused(world: World) -> None:
    client = world.client()
    created = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    request = signed(client, world.signer(), bearer=None, created=created)
    refusal(send(client, request), "Signature-Input;created")


def test_a_replayed_request_is_refused(world: World) -> None:
    client, request = good(world)
    assert send(client, request).status_code == 200
    refusal(send(client, request), "Signature-Input;nonce")


@pytest.mark.parametrize(
    "value", ['sig1=("@method"', 'a=("@method");keyid="k", b=("@method");keyid="k"', "sig1=1"]
)
def test_a_malformed_signature_input_is_a_401_problem(world: World, value: str) -> None:
    headers = {"Signature-Input": value, "Signature": "sig1=:AAAA:"}
    refusal(world.client().post(URL, json={}, headers=headers), "Signature-Input")


# -- certificate-bound tokens -----------------------------------------------------------------


def test_a_token_bound_to_another_certificate_is_refused(world: World) -> None:
    client = world.client()
    request = signed(client, world.signer(), bearer=token(world.other.thumbprint()))
    problem = refusal(send(client, request), "cnf")
    assert "another certificate" in problem["detail"]


def test_an_unbound_token_is_refused_with_an_invalid_token_challenge(world: World) -> None:
    client = world.client()
    response = send(client, signed(client, world.signer(), bearer=token(None)))
    refusal(response, "cnf")
    assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')


def test_without_a_token_the_api_itself_answers(world: World) -> None:
    client = world.client()
    assert send(client, signed(client, world.signer(), bearer=None)).status_code == 200


def test_a_large_body_is_a_413_problem(world: World) -> None:
    response = world.client().post(URL, content=b"x" * 1_048_577)
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM


# -- the faults' switches ---------------------------------------------------------------------


def _switched(world: World, **switches: Any) -> tuple[TestClient, httpx.Request]:
    return good(world, replace(STRICT_REFERENCE, **switches))


def test_without_require_signatures_an_unsigned_request_passes(world: World) -> None:
    client = world.client(replace(STRICT_REFERENCE, require_signatures=False))
    bound = {"Authorization": f"Bearer {token(world.harness.thumbprint())}"}
    assert client.post(URL, json={}, headers=bound).status_code == 200


def test_without_the_digest_check_a_tampered_body_passes(world: World) -> None:
    client, request = _switched(world, check_content_digest=False)
    response = send(client, request, body=b'{"MaHoSo":"Y"}')
    assert response.status_code == 200 and response.json()["body"] == '{"MaHoSo":"Y"}'


def test_without_the_age_check_a_stale_signature_passes(world: World) -> None:
    client = world.client(replace(STRICT_REFERENCE, check_signature_age=False))
    created = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    bearer = token(world.harness.thumbprint())
    assert (
        send(client, signed(client, world.signer(), bearer=bearer, created=created)).status_code
        == 200
    )


def test_without_the_nonce_ledger_a_replay_passes(world: World) -> None:
    client, request = _switched(world, reject_replayed_nonces=False)
    assert [send(client, request).status_code for _ in range(2)] == [200, 200]


def test_without_binding_a_token_bound_elsewhere_passes(world: World) -> None:
    client = world.client(replace(STRICT_REFERENCE, enforce_token_binding=False))
    request = signed(client, world.signer(), bearer=token(world.other.thumbprint()))
    assert send(client, request).status_code == 200


def test_optional_client_certificates_let_a_bound_token_through_without_one(world: World) -> None:
    behaviour = replace(STRICT_REFERENCE, require_client_certificate=False)
    client = world.client(behaviour, present=False)
    request = signed(client, world.signer(), bearer=token(world.harness.thumbprint()))
    assert send(client, request).json()["certificate"] is False
    strict = world.client(present=False)
    refusal(send(strict, signed(strict, world.signer(), bearer=token("x"))), "client certificate")


def test_each_strict_fault_turns_off_one_switch_and_names_one_requirement() -> None:
    strict = {name: f for name, f in FAULTS.items() if f.profile == "strict"}
    assert set(strict) == {
        "accepts-tls-1.1",
        "accepts-no-client-certificate",
        "ignores-token-binding",
        "accepts-unsigned-requests",
        "ignores-body-digest",
        "accepts-stale-signatures",
        "accepts-replayed-nonces",
    }
    for fault in strict.values():
        changed = [
            name
            for name in Behaviour.__dataclass_fields__
            if getattr(fault.behaviour, name) != getattr(STRICT_REFERENCE, name)
        ]
        assert len(changed) == 1 and len(fault.breaks) == 1, fault.name


def test_the_baseline_agency_has_nothing_in_front_and_strict_needs_the_pki() -> None:
    assert strict_middleware(REFERENCE, None) == []
    with pytest.raises(ValueError, match="PKI"):
        strict_middleware(STRICT_REFERENCE, None)


# -- over real TLS ----------------------------------------------------------------------------


@pytest.fixture
def served(world: World) -> Iterator[Any]:
    """The echo API behind StrictSecurity, served over TLS; one server per behaviour."""
    handles = []

    def serve(behaviour: Behaviour) -> tuple[str, int]:
        app = StrictSecurity(API, behaviour=behaviour, pki=world.pki)
        context = tls_context(world.pki, f"agency-{len(handles)}", behaviour)
        handles.append(serve_in_thread("strict", app, bind_socket(), tls=context))
        url = httpx.URL(handles[-1].url)
        return url.host, url.port or 443

    yield serve
    for handle in handles:
        handle.stop()


def _credentials(world: World) -> TlsCredentials:
    return TlsCredentials(world.pki.ca_file, world.harness.cert_file, world.harness.key_file)


def _handshake(address: tuple[str, int], context: ssl.SSLContext) -> str | None:
    try:
        with (
            socket.create_connection(address, timeout=5) as raw,
            context.wrap_socket(raw, server_hostname=address[0]) as tls,
        ):
            return tls.version()
    except (ssl.SSLError, ConnectionResetError):
        return None


@pytest.mark.slow
def test_over_tls_the_api_sees_the_client_certificate(world: World, served: Any) -> None:
    host, port = served(STRICT_REFERENCE)
    context = ssl.create_default_context(cafile=str(world.pki.ca_file))
    context.load_cert_chain(world.harness.cert_file, world.harness.key_file)
    with httpx.Client(verify=context) as http:
        request = http.build_request(
            "POST", f"https://{host}:{port}/dossiers", json={},
            headers={"Authorization": f"Bearer {token(world.harness.thumbprint())}"},
        )  # fmt: skip
        world.signer().sign(request)
        response = http.send(request)
    assert response.status_code == 200, response.text
    assert response.json()["certificate"] is True


@pytest.mark.slow
def test_over_tls_a_connection_without_a_client_certificate_is_refused(
    world: World, served: Any
) -> None:
    host, port = served(STRICT_REFERENCE)
    context = ssl.create_default_context(cafile=str(world.pki.ca_file))
    with pytest.raises(httpx.TransportError), httpx.Client(verify=context) as http:
        http.get(f"https://{host}:{port}/dossiers")


@pytest.mark.slow
def test_tls_1_1_is_refused_unless_the_fault_allows_it(world: World, served: Any) -> None:
    modern, legacy = served(STRICT_REFERENCE), served(FAULTS["accepts-tls-1.1"].behaviour)
    tls11 = probe_context(_credentials(world), ssl.TLSVersion.TLSv1_1)
    tls12 = probe_context(_credentials(world), ssl.TLSVersion.TLSv1_2)
    assert _handshake(modern, tls11) is None
    assert _handshake(modern, tls12) == "TLSv1.2"
    assert _handshake(legacy, tls11) == "TLSv1.1"


def test_der_of_the_presented_certificate_is_what_peer_certificate_returns(world: World) -> None:
    pem = world.harness.cert_file.read_text()
    der = x509.load_pem_x509_certificate(pem.encode()).public_bytes(Encoding.DER)
    assert peer_certificate({"extensions": {"tls": {"client_cert_chain": [pem]}}}) == der
    assert peer_certificate({"extensions": {}}) is None


def test_the_nonce_ledger_refuses_a_replay_and_forgets_only_past_the_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]
    monkeypatch.setattr("simulators.agencies.signatures.time.monotonic", lambda: now[0])
    ledger = NonceLedger(window_s=10.0)
    assert ledger.first_use("k1", "n1")
    assert not ledger.first_use("k1", "n1")  # a replay
    assert ledger.first_use("k2", "n1")  # the same nonce under another key is not
    now[0] += 9.9
    assert not ledger.first_use("k1", "n1")  # still inside the window
    for serial in range(50_000):
        ledger.first_use("k1", f"bulk-{serial}")
    now[0] += 10.0
    assert ledger.first_use("k1", "fresh")
    assert len(ledger._seen) == 1  # everything older than the window is forgotten
