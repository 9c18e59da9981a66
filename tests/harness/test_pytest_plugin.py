"""`pytest --lienthong-target URL` as an integrator's CI runs it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.requirements import load_requirements
from simulators.agencies.catalogue import FAULTS
from simulators.identity.credentials import issue_credentials
from simulators.sandbox import Sandbox

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox(tmp_path_factory.mktemp("state"), population_size=100) as running:
        yield running


def _pytest(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "empty").mkdir()
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-rA",
        *args,
        str(tmp_path / "empty"),
    ]
    return subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False
    )


def test_one_test_per_requirement_and_the_fault_fails_its_own(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    agency = sandbox.start_agency(
        issue_credentials(sandbox.state_dir, "000.00.31.H29"),
        behaviour=FAULTS["accepts-wrong-audience"].behaviour,
        name="plugin-fault",
    )
    done = _pytest(
        tmp_path,
        "--lienthong-target",
        agency.url,
        "--lienthong-agency-id",
        "000.00.31.H29",
        "--lienthong-state-dir",
        str(sandbox.state_dir),
        "--lienthong-examples",
        "3",
        "--lienthong-out",
        str(tmp_path / "out"),
    )
    assert done.returncode == 1, done.stdout + done.stderr
    passing = len(load_requirements().for_profile("baseline").requirements) - 1
    assert f"1 failed, {passing} passed" in done.stdout
    assert "FAILED ::SEC-TOKEN-AUD@1" in done.stdout or "SEC-TOKEN-AUD@1 FAIL" in done.stdout
    assert "fix: Require `aud`" in done.stdout
    assert (tmp_path / "out" / "junit.xml").exists()


def test_without_the_option_the_plugin_adds_nothing(tmp_path: Path) -> None:
    done = _pytest(tmp_path)
    assert done.returncode == 5  # pytest's "no tests collected"
