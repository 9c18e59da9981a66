"""The strict security profile on the harness's side: which requirements a run judges, how
requests are signed, what the strict checks do with a target that is not what it seems,
and `certify --profile strict` end to end."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from harness.checks import registered_checks
from harness.checks.tls import client_certificate_required, legacy_tls_refused
from harness.context import CheckContext, RunSettings, SandboxEndpoints, TlsCredentials
from harness.errors import ConfigError, EnvironmentProblem, Failure
from harness.evidence import EvidenceLog
from harness.records import Target
from harness.requirements import load_requirements
from harness.runner import _profile_checks, certify
from harness.signing import RequestSigner, SigningAuth
from harness.transport import Transport
from simulators.agencies.signatures import NonceLedger, SignerRegistry, verify_signature
from simulators.common.pki import SandboxPki

STRICT_ONLY = {
    "SEC-TLS-VERSION@1",
    "SEC-MTLS@1",
    "SEC-TOKEN-BINDING@1",
    "SEC-SIG-REQUIRED@1",
    "SEC-SIG-TAMPER@1",
    "SEC-SIG-STALE@1",
    "SEC-SIG-REPLAY@1",
}
ENDPOINTS = SandboxEndpoints("http://idp", "http://pop", "http://portal", "admin")


# -- profiles ---------------------------------------------------------------------------------


def test_baseline_leaves_out_exactly_the_strict_requirements() -> None:
    catalogue = load_requirements()
    baseline, strict = catalogue.for_profile("baseline"), catalogue.for_profile("strict")
    assert set(strict.keys()) == set(catalogue.keys())
    assert set(catalogue.keys()) - set(baseline.keys()) == STRICT_ONLY


def test_baseline_runs_every_check_it_ran_before_and_no_strict_one() -> None:
    baseline = _profile_checks(load_requirements().for_profile("baseline"), registered_checks())
    strict_checks = {s.name for s in registered_checks() if set(s.requirements) <= STRICT_ONLY}
    assert len(strict_checks) == 7
    assert {s.name for s in baseline} == {s.name for s in registered_checks()} - strict_checks


def test_an_unknown_profile_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="baseline, strict"):
        load_requirements().for_profile("gold")


def test_a_requirement_with_an_unknown_profile_is_a_config_error(tmp_path: Path) -> None:
    entry = {
        "id": "X", "version": 1, "severity": "mandatory", "category": "security",
        "source": "s", "text": {"en": "t"}, "remediation": {"en": "r"}, "profiles": ["gold"],
    }  # fmt: skip
    path = tmp_path / "requirements.yaml"
    path.write_text(json.dumps({"requirements": [entry]}))
    with pytest.raises(ConfigError, match="profiles: \\[strict\\]"):
        load_requirements(path)


def test_strict_without_tls_credentials_is_a_config_error(tmp_path: Path) -> None:
    settings = RunSettings(
        Target("https://127.0.0.1:9", "000.00.01.H29"), ENDPOINTS, tmp_path, profile="strict"
    )
    with pytest.raises(ConfigError, match="TLS credentials"):
        certify(settings)


# -- signing ----------------------------------------------------------------------------------


@pytest.fixture
def pki(tmp_path: Path) -> SandboxPki:
    return SandboxPki(tmp_path / "pki")


def _credentials(pki: SandboxPki) -> TlsCredentials:
    harness = pki.client("lienthong-harness")
    return TlsCredentials(pki.ca_file, harness.cert_file, harness.key_file)


def test_the_auth_flow_signs_only_the_target_and_only_once(pki: SandboxPki) -> None:
    tls = _credentials(pki)
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    auth = SigningAuth(RequestSigner.from_files(tls.cert_file, tls.key_file), "https://a.test")
    with httpx.Client(transport=httpx.MockTransport(record), auth=auth) as http:
        http.post("https://a.test/dossiers", json={"MaHoSo": "X"})
        http.get("http://idp.test/.well-known/jwks.json")
        http.post("https://a.test/dossiers", headers={"Signature-Input": "mine", "Signature": "s"})
    assert "signature-input" in seen[0].headers and "content-digest" in seen[0].headers
    assert "signature-input" not in seen[1].headers
    assert seen[2].headers["signature-input"] == "mine"


def test_what_the_harness_signs_the_reference_agency_verifies(pki: SandboxPki) -> None:
    tls = _credentials(pki)
    request = httpx.Request("POST", "https://a.test/dossiers?x=1", json={"HoVaTen": "Nguyễn"})
    RequestSigner.from_files(tls.cert_file, tls.key_file).sign(request)
    key_id = verify_signature(
        method="POST", url=str(request.url), headers=list(request.headers.items()),
        body=request.content, registry=SignerRegistry(pki), nonces=NonceLedger(),
    )  # fmt: skip
    assert key_id == pki.client("lienthong-harness").thumbprint()
    params = request.headers["signature-input"]
    assert '"@method" "@target-uri" "content-digest"' in params
    assert all(f";{name}=" in params for name in ("created", "keyid", "nonce"))


# -- hostile or mistaken targets --------------------------------------------------------------


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """Accepts TCP connections and never says a word (no TLS hello, no HTTP)."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(2)
    for conn in held:
        conn.close()
    server.close()


@contextmanager
def _context(tmp_path: Path, pki: SandboxPki, base_url: str) -> Iterator[CheckContext]:
    settings = RunSettings(
        Target(base_url, "000.00.01.H29"), ENDPOINTS, tmp_path, profile="strict",
        request_timeout_s=1.0, tls=_credentials(pki),
    )  # fmt: skip
    evidence = EvidenceLog(tmp_path)
    with httpx.Client() as http:
        transport = Transport(http, evidence, timeout_s=1.0, deadline=time.monotonic() + 30)
        yield CheckContext(settings, transport, {}, "probe")
    evidence.close()


def test_a_plain_http_target_fails_the_tls_version_check(tmp_path: Path, pki: SandboxPki) -> None:
    with _context(tmp_path, pki, "http://127.0.0.1:9") as ctx, pytest.raises(Failure) as failure:
        legacy_tls_refused(ctx)
    assert failure.value.findings[0].title == "The target does not speak TLS"


def test_a_silent_target_is_an_error_in_time_not_a_refusal(
    tmp_path: Path, pki: SandboxPki, silent_listener: int
) -> None:
    started = time.monotonic()
    url = f"https://127.0.0.1:{silent_listener}"
    with _context(tmp_path, pki, url) as ctx, pytest.raises(EnvironmentProblem, match="no TLS"):
        legacy_tls_refused(ctx)
    assert time.monotonic() - started < 5


def test_a_target_that_never_answers_cannot_pass_the_mtls_check(
    tmp_path: Path, pki: SandboxPki, silent_listener: int
) -> None:
    url = f"https://127.0.0.1:{silent_listener}"
    with _context(tmp_path, pki, url) as ctx, pytest.raises(EnvironmentProblem):
        ctx.memo("agency-token", lambda _: "token")  # no sandbox: the probe never gets that far
        client_certificate_required(ctx)


# -- the command line -------------------------------------------------------------------------


def lienthong(*args: str, cwd: Path, timeout_s: float = 240) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout_s, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "named", "hint"),
    [
        (["--profile", "gold"], "'gold'", "--profile strict"),
        (["--profile", "strict"], "http://127.0.0.1:9", "https://127.0.0.1:8710"),
        (
            ["--profile", "strict", "--target-ca", "missing.pem"],
            "missing.pem",
            "PEM file of the CA",
        ),
    ],
)
def test_bad_profile_options_exit_2_naming_value_and_form(
    tmp_path: Path, extra: list[str], named: str, hint: str
) -> None:
    target = "https://127.0.0.1:9" if "--target-ca" in extra else "http://127.0.0.1:9"
    done = lienthong(
        "certify", "--target", target, "--agency-id", "000.00.01.H29", *extra, cwd=tmp_path
    )
    assert done.returncode == 2, done.stderr
    assert named in done.stderr and hint in done.stderr and "Traceback" not in done.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait(condition: object, what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} did not come up")


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.mark.slow
def test_certify_strict_against_a_strict_agency_process(tmp_path: Path) -> None:
    """`lienthong sandbox`, `agency run --profile strict`, `certify --profile strict`."""
    port, env = _free_port(), {**os.environ, "COLUMNS": "200"}

    def spawn(*args: str) -> subprocess.Popen[bytes]:
        with (tmp_path / f"{args[0]}.log").open("wb") as log:
            command = [sys.executable, "-m", "harness.cli", *args]
            return subprocess.Popen(command, cwd=tmp_path, env=env, stdout=log, stderr=log)

    record = tmp_path / ".lienthong" / "sandbox.json"
    sandbox, agency = spawn("sandbox", "--population", "200", "--port-base", "0"), None
    try:
        _wait(record.exists, "the sandbox")
        agency = spawn(
            "agency", "run", "--agency-id", "000.00.06.H29", "--port", str(port),
            "--profile", "strict",
        )  # fmt: skip
        _wait(lambda: _listening(port), "the strict agency")
        done = lienthong(
            "certify", "--target", f"https://127.0.0.1:{port}", "--agency-id", "000.00.06.H29",
            "--profile", "strict", "--examples", "3", "--sync-timeout", "5", cwd=tmp_path,
        )  # fmt: skip
    finally:
        for process in (agency, sandbox):
            if process is not None:
                process.terminate()
                process.wait(10)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((tmp_path / "reports/latest/report.json").read_text())
    assert report["profile"] == "strict"
    judged = {r["id"]: r["outcome"] for r in report["requirements"]}
    assert set(judged) >= STRICT_ONLY and set(judged.values()) == {"pass"}
    assert (tmp_path / "reports/latest/certificate.jws").exists()
