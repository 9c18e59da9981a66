"""`lienthong load` in the strict security profile: signed requests the strict agency's
own verifier accepts, the TLS context the load users connect with, option validation,
and one short strict load run against a strict reference agency."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import http_sf
import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import generate_private_key
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from harness.context import SandboxEndpoints, TlsCredentials
from harness.errors import ConfigError, EnvironmentProblem, TargetUnreachable
from harness.load import prepare
from harness.load.auth import BearerAuth, SignedAuth, build_auth, signed_spec, ssl_context_factory
from harness.load.config import RunConfig
from harness.load.engine import LoadOptions, run_load
from harness.load.profiles import load_profile
from harness.load.report import write_load_report
from harness.signing import RequestSigner
from simulators.agencies.catalogue import STRICT_REFERENCE
from simulators.agencies.signatures import NonceLedger, SignerRegistry, verify_signature
from simulators.common.pki import SandboxPki
from simulators.common.problems import ProblemError
from simulators.common.serving import ServerHandle
from simulators.identity.credentials import issue_credentials
from simulators.sandbox import Sandbox

AGENCY = "000.00.01.H29"
BASE = "https://127.0.0.1:8710"


@pytest.fixture
def pki(tmp_path: Path) -> SandboxPki:
    return SandboxPki(tmp_path / "pki")


def _credentials(pki: SandboxPki) -> TlsCredentials:
    harness = pki.client("lienthong-harness")
    return TlsCredentials(pki.ca_file, harness.cert_file, harness.key_file)


def _spec(pki: SandboxPki, token: str = "tok") -> dict[str, object]:
    # Through JSON, as a worker process receives it.
    spec = signed_spec(token, _credentials(pki))
    return dict(json.loads(json.dumps(spec)))


def _verify(pki: SandboxPki, method: str, path: str, headers: dict[str, str], body: bytes,
            nonces: NonceLedger) -> str:  # fmt: skip
    return verify_signature(
        method=method, url=BASE + path, headers=list(headers.items()), body=body,
        registry=SignerRegistry(pki), nonces=nonces,
    )  # fmt: skip


# -- the signed auth --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/dossiers", b'{"MaHoSo":"000.00.01.H29-251126-0001","KenhNop":2}'),
        ("GET", "/dossiers/000.00.01.H29-251126-0001", b""),
    ],
)
def test_signed_headers_verify_with_the_strict_agencys_verifier(
    pki: SandboxPki, method: str, path: str, body: bytes
) -> None:
    auth = build_auth(_spec(pki), BASE + "/")
    assert isinstance(auth, SignedAuth)
    headers = auth.headers(method, path, body)
    assert headers["Authorization"] == "Bearer tok"
    key_id = _verify(pki, method, path, headers, body, NonceLedger())
    assert key_id == pki.client("lienthong-harness").thumbprint()


def _signature_shape(signature_input: str) -> tuple[list[str], list[str]]:
    """Covered components and parameter names of the one signature in Signature-Input."""
    parsed: Any = http_sf.parse(signature_input.encode(), tltype="dictionary")
    [(members, params)] = parsed.values()
    return [str(m[0]) for m in members], sorted(params)


def test_load_signatures_have_the_shape_certification_signs(pki: SandboxPki) -> None:
    """The load signer writes the signature base out itself (for speed); it must cover
    what harness.signing.RequestSigner covers, with the same parameters and key."""
    tls = _credentials(pki)
    reference = httpx.Request("POST", BASE + "/dossiers", content=b"{}")
    RequestSigner.from_files(tls.cert_file, tls.key_file).sign(reference)
    ours = build_auth(_spec(pki), BASE).headers("POST", "/dossiers", b"{}")
    assert _signature_shape(ours["Signature-Input"]) == _signature_shape(
        reference.headers["Signature-Input"]
    )
    assert ours["Content-Digest"] == reference.headers["Content-Digest"]
    assert (
        ours["Signature-Input"].split(";keyid=")[1].split(";")[0]
        == (reference.headers["Signature-Input"].split(";keyid=")[1].split(";")[0])
    )


@pytest.mark.parametrize(
    ("target", "as_addressed"),
    [
        ("https://agency.example.gov.vn:443/api/", "https://agency.example.gov.vn/api"),
        ("https://127.0.0.1:8710", "https://127.0.0.1:8710"),
        ("https://[::1]:443", "https://[::1]"),
    ],
)
def test_the_signed_url_is_the_one_the_agency_rebuilds_from_host(
    pki: SandboxPki, target: str, as_addressed: str
) -> None:
    """locust leaves ports 80 and 443 out of Host; the agency signs over Host + path."""
    auth = build_auth(_spec(pki), target)
    headers = auth.headers("GET", "/dossiers/X", b"")
    verify_signature(
        method="GET", url=as_addressed + "/dossiers/X", headers=list(headers.items()), body=b"",
        registry=SignerRegistry(pki), nonces=NonceLedger(),
    )  # fmt: skip


def test_every_request_gets_a_fresh_nonce_so_none_is_a_replay(pki: SandboxPki) -> None:
    auth, nonces = build_auth(_spec(pki), BASE), NonceLedger()
    inputs = set()
    for _ in range(3):
        headers = auth.headers("GET", "/dossiers/X", b"")
        _verify(pki, "GET", "/dossiers/X", headers, b"", nonces)  # raises on a replay
        inputs.add(headers["Signature-Input"])
    assert len(inputs) == 3


def test_the_signature_covers_the_body_and_the_url(pki: SandboxPki) -> None:
    auth = build_auth(_spec(pki), BASE)
    headers = auth.headers("POST", "/dossiers", b'{"a":1}')
    with pytest.raises(ProblemError) as tampered:
        _verify(pki, "POST", "/dossiers", headers, b'{"a":2}', NonceLedger())
    assert tampered.value.errors[0].field == "Content-Digest"
    with pytest.raises(ProblemError) as moved:
        _verify(pki, "POST", "/other", headers, b'{"a":1}', NonceLedger())
    assert moved.value.errors[0].field == "Signature"


def test_bearer_auth_is_unchanged_and_unknown_kinds_name_the_known_ones() -> None:
    auth = build_auth({"kind": "bearer", "token": "t"})
    assert isinstance(auth, BearerAuth) and auth.headers("GET", "/", b"") == {
        "Authorization": "Bearer t"
    }
    with pytest.raises(ConfigError, match="bearer, signed"):
        build_auth({"kind": "hmac", "token": "t"})
    with pytest.raises(ConfigError, match="has no token"):
        build_auth({"kind": "signed"})


def test_a_missing_key_file_is_a_config_error_naming_it(pki: SandboxPki, tmp_path: Path) -> None:
    spec = _spec(pki) | {"key_file": str(tmp_path / "gone.pem")}
    with pytest.raises(ConfigError, match=r"key_file .*gone\.pem.* same paths"):
        build_auth(spec, BASE)
    spec = _spec(pki) | {"key_file": str(pki.ca_file)}  # a certificate, not a key
    with pytest.raises(ConfigError, match="'signed'"):
        build_auth(spec, BASE)
    rsa = tmp_path / "rsa.pem"
    rsa.write_bytes(
        generate_private_key(65537, 2048).private_bytes(
            Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
        )
    )
    with pytest.raises(ConfigError, match="EC P-256"):
        build_auth(_spec(pki) | {"key_file": str(rsa)}, BASE)


def test_the_run_config_carries_file_paths_never_keys(pki: SandboxPki, tmp_path: Path) -> None:
    config = RunConfig(
        target_url=BASE, profile={}, scale=1.0, compress=1.0, agency_id=AGENCY,
        procedure_code="1.004194", auth=signed_spec("tok", _credentials(pki)),
    )  # fmt: skip
    text = config.to_json()
    assert "PRIVATE KEY" not in text and str(pki.ca_file) in text
    assert isinstance(build_auth(RunConfig.from_dict(json.loads(text)).auth, BASE), SignedAuth)


def test_the_tls_context_presents_the_certificate_and_verifies_the_target(
    pki: SandboxPki,
) -> None:
    assert ssl_context_factory({"kind": "bearer", "token": "t"}) is None
    factory = ssl_context_factory(_spec(pki))
    assert factory is not None
    # geventhttpclient passes its own CA bundle; the run's CA is kept, the bundle ignored.
    context = factory(cafile="/etc/ssl/certs/ca-certificates.crt")
    assert context is factory()  # one context per process, shared by all connections
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    assert context.minimum_version is ssl.TLSVersion.TLSv1_2
    assert [c["subject"] for c in context.get_ca_certs()] == [
        c["subject"] for c in ssl.create_default_context(cafile=str(pki.ca_file)).get_ca_certs()
    ]


def _token(claims: dict[str, object]) -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'ES256'})}.{part(claims)}.sig"


@pytest.mark.parametrize(
    ("claims", "accepted"),
    [({"cnf": {"x5t#S256": "abc"}}, True), ({}, False), ({"cnf": {"x5t#S256": "other"}}, False)],
)
def test_a_token_the_idp_did_not_bind_is_refused_before_the_run(
    monkeypatch: pytest.MonkeyPatch, claims: dict[str, object], accepted: bool
) -> None:
    reply = httpx.Response(200, json={"access_token": _token(claims)})
    monkeypatch.setattr(prepare, "_mint", lambda sandbox, body: reply)
    endpoints = SandboxEndpoints("http://idp", "http://pop", "http://portal", "admin")
    mint = {"audience": "a", "scope": "s", "lifetime_s": 60, "subject": "x", "bound_to": "abc"}
    if accepted:
        assert prepare.mint_token(endpoints, **mint) == _token(claims)  # type: ignore[arg-type]
    else:
        with pytest.raises(EnvironmentProblem, match="not bound"):
            prepare.mint_token(endpoints, **mint)  # type: ignore[arg-type]


# -- options ----------------------------------------------------------------------------------


def _lienthong(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", "load", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("args", "named", "hint"),
    [
        (["--security-profile", "gold"], "'gold'", "--security-profile strict"),
        (["--security-profile", "strict"], "http://127.0.0.1:9", "https://127.0.0.1:8710"),
        (["--target-ca", "ca.pem"], "ca.pem", "only applies to --security-profile strict"),
        (
            ["--security-profile", "strict", "--target", "https://127.0.0.1:9",
             "--target-ca", "missing.pem"],
            "missing.pem", "PEM file of the CA",
        ),
        (
            ["--security-profile", "strict", "--target", "https://127.0.0.1:9",
             "--profile", "status-sync"],
            "'status-sync'", "--security-profile baseline",
        ),
    ],
)  # fmt: skip
def test_bad_security_options_exit_2_naming_value_and_fix(
    tmp_path: Path, args: list[str], named: str, hint: str
) -> None:
    done = _lienthong("--target", "http://127.0.0.1:9", *args, cwd=tmp_path)
    message = " ".join(done.stderr.split())
    assert done.returncode == 2, done.stderr
    assert named in message and hint in message and "Traceback" not in done.stderr
    assert not (tmp_path / ".lienthong").exists()  # refused before any sandbox or PKI


def _options(target: str, out: Path, endpoints: SandboxEndpoints, **changes: object) -> LoadOptions:
    settings: dict[str, object] = {
        "target_url": target,
        "profile": load_profile("admission-2025"),
        "agency_id": AGENCY,
        "out_dir": out,
        "sandbox": endpoints,
        # admission-2025 at 1/100,000 of the people, 40,000× faster (as test_load_run.py),
        # cut at a few seconds: well below what a strict agency here sustains.
        "scale": 0.00001,
        "compress": 40_000.0,
        "max_run_s": 5.0,
        **changes,
    }
    return LoadOptions(**settings)  # type: ignore[arg-type]


def test_run_load_refuses_strict_against_http_or_the_portal(
    pki: SandboxPki, tmp_path: Path
) -> None:
    endpoints = SandboxEndpoints("http://idp", "http://pop", "http://portal", "admin")
    tls = _credentials(pki)
    with pytest.raises(ConfigError, match="https://"):
        run_load(_options("http://127.0.0.1:9", tmp_path, endpoints, tls=tls))
    with pytest.raises(ConfigError, match="does not cover"):
        run_load(
            _options(
                "https://127.0.0.1:9", tmp_path, endpoints, tls=tls,
                profile=load_profile("status-sync"),
            )
        )  # fmt: skip


# -- end to end against a strict reference agency ---------------------------------------------


@dataclass
class StrictStack:
    endpoints: SandboxEndpoints
    agency: ServerHandle
    tls: TlsCredentials
    state_dir: Path


@pytest.fixture(scope="module")
def strict_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StrictStack]:
    state = tmp_path_factory.mktemp("strict-load")
    sandbox = Sandbox(state, population_size=300)
    info = sandbox.start()
    try:
        agency = sandbox.start_agency(
            issue_credentials(state, AGENCY), behaviour=STRICT_REFERENCE, name="strict"
        )
        endpoints = SandboxEndpoints(
            info.identity_url, info.population_url, info.portal_url, info.admin_token
        )
        yield StrictStack(endpoints, agency, _credentials(sandbox.pki), state)
    finally:
        sandbox.stop()


@pytest.mark.slow
def test_a_strict_load_run_is_accepted_by_a_strict_agency(
    strict_stack: StrictStack, tmp_path: Path
) -> None:
    """Every request over mutual TLS, with a bound token and a signature: any of the three
    missing and the strict agency refuses it, so no failure means all three were there."""
    options = _options(strict_stack.agency.url, tmp_path, strict_stack.endpoints,
                       tls=strict_stack.tls)  # fmt: skip
    result = run_load(options)
    files = write_load_report(result, tmp_path)
    assert result.status == "finished" and result.totals.completed > 30
    assert result.totals.failed == 0, result.errors
    assert {"submit", "status"} <= set(result.totals.by_kind)
    assert json.loads(files.json.read_text(encoding="utf-8"))["security_profile"] == "strict"
    assert not (tmp_path / "run-config.json").exists()


@pytest.mark.slow
def test_a_target_certificate_from_another_ca_stops_the_run_before_it_starts(
    strict_stack: StrictStack, tmp_path: Path
) -> None:
    other = SandboxPki(tmp_path / "other-pki")
    other.client("someone")  # makes that PKI's CA, which never issued the agency's certificate
    tls = TlsCredentials(other.ca_file, strict_stack.tls.cert_file, strict_stack.tls.key_file)
    options = _options(strict_stack.agency.url, tmp_path, strict_stack.endpoints, tls=tls)
    with pytest.raises(TargetUnreachable, match=r"TLS handshake .* --target-ca"):
        run_load(options)
    assert not list(tmp_path.glob("locust-*.log"))  # no locust process was started


@pytest.mark.slow
def test_the_cli_runs_a_strict_load_with_the_sandbox_pki(
    strict_stack: StrictStack, tmp_path: Path
) -> None:
    done = _lienthong(
        "--target", strict_stack.agency.url, "--security-profile", "strict",
        "--agency-id", AGENCY, "--scale", "0.00001", "--compress", "40000", "--max-run-s", "4",
        "--out", str(tmp_path / "out"), "--state-dir", str(strict_stack.state_dir),
        cwd=tmp_path,
    )  # fmt: skip
    report = json.loads((tmp_path / "out" / "load.json").read_text(encoding="utf-8"))
    assert done.returncode == report["exit_code"], done.stderr
    assert "(strict profile)" in done.stdout
    assert report["security_profile"] == "strict" and report["totals"]["completed"] > 20
    assert report["totals"]["failed"] == 0, report["errors"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_a_worker_without_the_tls_files_quits_at_once_saying_why(
    pki: SandboxPki, tmp_path: Path
) -> None:
    """A remote worker gets file paths from the master; where they are missing it must say
    so and leave, not sit out the connect timeout with a traceback."""
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(_credentials(pki).key_file.read_bytes())
    tls = TlsCredentials(pki.ca_file, _credentials(pki).cert_file, key_file)
    config = RunConfig(
        target_url="https://127.0.0.1:9", profile=load_profile("admission-2025").raw,
        scale=0.00001, compress=40_000.0, agency_id=AGENCY, procedure_code="1.004194",
        auth=signed_spec("tok", tls), out_dir=str(tmp_path),
    )  # fmt: skip
    config.write(tmp_path / "config.json")
    worker_args = ["--port", str(_free_port()), "--connect-timeout", "30"]
    command = [sys.executable, "-m", "harness.load.worker"]
    master = subprocess.Popen(
        [*command, "master", "--config", str(tmp_path / "config.json"), "--bind", "127.0.0.1",
         *worker_args, "--expect-workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        time.sleep(2.0)  # the master has read its configuration and loaded the key
        key_file.unlink()  # … which this "other machine" does not have
        worker = subprocess.run(
            [*command, "worker", "--master-host", "127.0.0.1", *worker_args],
            capture_output=True, text=True, timeout=25, check=False,
        )  # fmt: skip
    finally:
        os.killpg(master.pid, signal.SIGKILL)
        master.wait(10)
    assert worker.returncode == 3
    assert "cannot take part in this run" in worker.stderr and "key.pem" in worker.stderr
