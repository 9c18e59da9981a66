"""The command line as a user meets it: exit codes, one-line errors, the demo end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def lienthong(*args: str, cwd: Path, timeout_s: float = 240) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def test_certify_against_a_closed_port_exits_3_with_one_line(tmp_path: Path) -> None:
    done = lienthong(
        "certify", "--target", "http://127.0.0.1:9", "--agency-id", "000.00.01.H29", cwd=tmp_path
    )
    assert done.returncode == 3
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0 and "127.0.0.1:9" in done.stderr


@pytest.mark.parametrize(
    ("option", "value", "hint"),
    [
        ("--target", "ftp://agency", "http://127.0.0.1:8710"),
        ("--agency-id", "my agency", "000.00.01.H29"),
    ],
)
def test_bad_certify_options_exit_2_naming_value_and_form(
    tmp_path: Path, option: str, value: str, hint: str
) -> None:
    args = {"--target": "http://127.0.0.1:9", "--agency-id": "000.00.01.H29", option: value}
    done = lienthong("certify", *[x for kv in args.items() for x in kv], cwd=tmp_path)
    assert done.returncode == 2
    assert value in done.stderr and hint in done.stderr and "Traceback" not in done.stderr


def test_demo_with_an_unknown_fault_exits_2_listing_the_catalogue(tmp_path: Path) -> None:
    done = lienthong("demo", "--fault", "nope", cwd=tmp_path)
    assert done.returncode == 2 and "accepts-wrong-audience" in done.stderr


@pytest.mark.slow
def test_demo_certifies_reference_and_faulty_agency(tmp_path: Path) -> None:
    done = lienthong("demo", "--examples", "5", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    reference = json.loads((tmp_path / "reports/demo/reference/report.json").read_text())
    faulty = json.loads((tmp_path / "reports/demo/accepts-wrong-audience/report.json").read_text())
    assert reference["verdict"] == "pass"
    assert faulty["verdict"] == "fail"
    assert [r["id"] for r in faulty["requirements"] if r["outcome"] == "fail"] == [
        "SEC-TOKEN-AUD@1"
    ]
    for folder in ("reference", "accepts-wrong-audience"):
        for name in ("report.html", "junit.xml", "evidence.jsonl"):
            assert (tmp_path / "reports/demo" / folder / name).stat().st_size > 0
    assert "verdict: PASS" in done.stdout and "violated: SEC-TOKEN-AUD@1" in done.stdout
    certificate = tmp_path / "reports/demo/reference/certificate.jws"
    assert not (tmp_path / "reports/demo/accepts-wrong-audience/certificate.jws").exists()
    checked = lienthong(
        "verify",
        str(certificate),
        "--public-key",
        ".lienthong/demo/keys/signing-key.pub.json",
        "--evidence-dir",
        "reports/demo/reference",
        cwd=tmp_path,
    )
    assert checked.returncode == 0 and "VALID" in checked.stdout


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_file(path: Path, timeout_s: float = 30) -> None:
    import time

    deadline = time.monotonic() + timeout_s
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert path.exists(), f"{path} was not written"


def _wait_for(url: str, timeout_s: float = 30) -> None:
    import time

    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not come up")


@pytest.mark.slow
def test_certify_a_separately_running_agency_like_an_integrator(tmp_path: Path) -> None:
    """`lienthong sandbox`, then an agency process, then `certify`, as the README says."""
    env = {**os.environ, "COLUMNS": "200"}
    port = _free_port()

    def spawn(*args: str) -> subprocess.Popen[bytes]:
        with (tmp_path / f"{args[0]}.log").open("wb") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "harness.cli", *args],
                cwd=tmp_path,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    sandbox = spawn("sandbox", "--population", "200", "--port-base", "0")
    agency = None
    try:
        _wait_for_file(tmp_path / ".lienthong" / "sandbox.json")
        identity = json.loads((tmp_path / ".lienthong/sandbox.json").read_text())["identity_url"]
        _wait_for(f"{identity}/.well-known/jwks.json")
        agency = spawn(
            "agency",
            "run",
            "--agency-id",
            "000.00.05.H29",
            "--port",
            str(port),
            "--fault",
            "never-syncs-status",
        )
        _wait_for(f"http://127.0.0.1:{port}/dossiers/x")
        done = lienthong(
            "certify",
            "--target",
            f"http://127.0.0.1:{port}",
            "--agency-id",
            "000.00.05.H29",
            "--examples",
            "3",
            "--sync-timeout",
            "3",
            cwd=tmp_path,
        )
    finally:
        for process in (agency, sandbox):
            if process is not None:
                process.terminate()
                process.wait(10)
    assert done.returncode == 1, done.stdout + done.stderr
    report = json.loads((tmp_path / "reports/latest/report.json").read_text())
    assert [r["id"] for r in report["requirements"] if r["outcome"] == "fail"] == [
        "SYNC-STATUS-TIMELY@1"
    ]


def test_a_malformed_build_digest_exits_2_before_anything_runs(tmp_path: Path) -> None:
    done = lienthong(
        "certify",
        "--target",
        "http://127.0.0.1:9",
        "--agency-id",
        "000.00.01.H29",
        "--build-digest",
        "v1.2",
        cwd=tmp_path,
    )
    assert done.returncode == 2 and "sha256:<64 hex digits>" in done.stderr


def test_verify_a_missing_certificate_exits_2(tmp_path: Path) -> None:
    done = lienthong("verify", "nothere.jws", cwd=tmp_path)
    assert done.returncode == 2 and "nothere.jws" in done.stderr


@pytest.mark.slow
def test_certify_with_load_adds_a_load_section(tmp_path: Path) -> None:
    from simulators.identity.credentials import issue_credentials
    from simulators.sandbox import Sandbox

    state = tmp_path / "state"
    with Sandbox(state, population_size=100) as sandbox:
        agency = sandbox.start_agency(issue_credentials(state, "000.00.41.H29"))
        done = lienthong(
            "certify",
            "--target",
            agency.url,
            "--agency-id",
            "000.00.41.H29",
            "--state-dir",
            str(state),
            "--examples",
            "3",
            "--with-load",
            "--load-profile",
            "flash-crowd",
            "--load-scale",
            "0.0001",
            "--load-compress",
            "900",
            "--out",
            "reports/wl",
            cwd=tmp_path,
        )
    assert done.returncode in (0, 1), done.stdout + done.stderr
    report = json.loads((tmp_path / "reports/wl/report.json").read_text())
    assert report["load"]["profile"] == "flash-crowd"
    assert (tmp_path / "reports/wl/load/load.html").exists()
    assert "Load:" in (tmp_path / "reports/wl/report.html").read_text()
    certified = (tmp_path / "reports/wl/certificate.jws").exists()
    assert certified == (done.returncode == 0)
