"""Scope and TLS options as a user meets them (`--procedures`, `--target-ca`, in the CLI and
the pytest plugin): a bad value is a usage error naming it and the right form, before any
sandbox starts or the target is probed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

_AGENCY = ("--agency-id", "000.00.01.H29")
_CLOSED = "http://127.0.0.1:9"  # nothing listens: a run that got that far would exit 3


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("1.004194,9.999999", "'9.999999' is not a procedure of specs/procedures.yaml"),
        ("temporary-residence", "'temporary-residence' is not a procedure code"),
    ],
)
def test_certify_with_an_unknown_procedure_exits_2_naming_value_and_form(
    tmp_path: Path, value: str, says: str
) -> None:
    done = _run(
        "-m", "harness.cli", "certify", "--target", _CLOSED, *_AGENCY, "--procedures", value,
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    message = " ".join(done.stderr.split())
    assert f"--procedures {says}" in message
    assert "e.g. --procedures 1.004194,1.001193" in message


def test_certify_with_known_procedures_gets_past_the_option_checks(tmp_path: Path) -> None:
    done = _run(
        "-m", "harness.cli", "certify", "--target", _CLOSED, *_AGENCY,
        "--procedures", "1.004194,1.001193", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 3 and "127.0.0.1:9" in done.stderr  # the probe, not the option


def test_the_pytest_plugin_refuses_an_unknown_procedure_as_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    done = _run(
        "-m", "pytest", "-p", "no:cacheprovider", "--lienthong-target", _CLOSED,
        "--lienthong-procedures", "1.004194,9.999999", str(tmp_path / "empty"), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 4, done.stdout + done.stderr  # pytest's usage error
    message = " ".join((done.stdout + done.stderr).split())
    assert (
        "--lienthong-procedures '9.999999' is not a procedure of specs/procedures.yaml" in message
    )


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--lienthong-target-ca", "ca.pem"], "is used only by the strict profile"),
        (
            ["--lienthong-profile", "strict", "--lienthong-target-ca", "missing.pem"],
            "is not a file; give the PEM file of the CA",
        ),
    ],
)
def test_the_pytest_plugin_checks_its_target_ca_before_running(
    tmp_path: Path, extra: list[str], says: str
) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "ca.pem").write_text("not used", encoding="utf-8")
    done = _run(
        "-m", "pytest", "-p", "no:cacheprovider", "--lienthong-target", "https://127.0.0.1:9",
        *extra, str(tmp_path / "empty"), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 4, done.stdout + done.stderr
    message = " ".join((done.stdout + done.stderr).split())
    assert "--lienthong-target-ca" in message and says in message


def test_certify_refuses_a_target_ca_outside_the_strict_profile(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("not used", encoding="utf-8")
    done = _run(
        "-m", "harness.cli", "certify", "--target", _CLOSED, *_AGENCY,
        "--target-ca", "ca.pem", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr
    message = " ".join(done.stderr.split())
    assert "--target-ca 'ca.pem' is used only by the strict profile" in message
