"""End-to-end load runs against the reference stack on loopback: locust in child
processes, bounded to a few seconds each; no child may outlive its run."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from harness.context import SandboxEndpoints
from harness.errors import TargetUnreachable
from harness.load.engine import LoadOptions, run_load
from harness.load.profiles import load_profile
from harness.load.report import write_load_report
from simulators.common.serving import ServerHandle
from simulators.identity.credentials import issue_credentials
from simulators.sandbox import Sandbox

pytestmark = pytest.mark.slow

AGENCY = "000.00.01.H29"
# admission-2025 at 1/100,000 of the people, 40,000× faster: 74 real hours in 6.7 s,
# peaking near 125 requests/s — well within what the reference agency sustains here.
GENTLE = {"scale": 0.00001, "compress": 40_000.0}


@dataclass
class Stack:
    sandbox: Sandbox
    endpoints: SandboxEndpoints
    agency: ServerHandle
    state_dir: Path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    state = tmp_path_factory.mktemp("load-sandbox")
    sandbox = Sandbox(state, population_size=500)
    info = sandbox.start()
    agency = sandbox.start_agency(issue_credentials(state, AGENCY))
    endpoints = SandboxEndpoints(
        info.identity_url, info.population_url, info.portal_url, info.admin_token
    )
    yield Stack(sandbox, endpoints, agency, state)
    sandbox.stop()


def _options(stack: Stack, out: Path, **changes: object) -> LoadOptions:
    settings: dict[str, object] = {
        "target_url": stack.agency.url,
        "profile": load_profile("admission-2025"),
        "agency_id": AGENCY,
        "out_dir": out,
        "sandbox": stack.endpoints,
        "max_run_s": 12.0,
        **GENTLE,
    }
    settings.update(changes)
    return LoadOptions(**settings)  # type: ignore[arg-type]


def _load_children() -> list[psutil.Process]:
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "harness.load.worker" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def test_a_single_process_run_is_graded_and_reported(stack: Stack, tmp_path: Path) -> None:
    result = run_load(_options(stack, tmp_path))
    files = write_load_report(result, tmp_path)
    assert result.status == "finished" and result.totals.completed > 50
    assert result.totals.failed == 0, result.errors
    assert {"submit", "status"} <= set(result.totals.by_kind)
    report = json.loads(files.json.read_text(encoding="utf-8"))
    assert report["verdict"] == result.verdict and len(report["slos"]) == 5
    assert report["exit_code"] == {"pass": 0, "fail": 1, "error": 3}[result.verdict]
    assert "data:image/png;base64," in files.html.read_text(encoding="utf-8")
    assert (tmp_path / "locust_stats.csv").read_text(encoding="utf-8").startswith("Type,Name")
    assert not (tmp_path / "run-config.json").exists()  # it held a bearer token
    assert _load_children() == []


def test_two_local_workers_share_the_run(stack: Stack, tmp_path: Path) -> None:
    result = run_load(_options(stack, tmp_path, workers=2))
    assert result.status == "finished" and result.totals.completed > 50
    assert result.totals.failed == 0, result.errors
    logs = sorted(p.name for p in tmp_path.glob("locust-*.log"))
    assert logs == ["locust-master.log", "locust-worker-1.log", "locust-worker-2.log"]
    assert _load_children() == []


def test_status_sync_loads_the_portal(stack: Stack, tmp_path: Path) -> None:
    options = _options(
        stack,
        tmp_path,
        target_url=stack.endpoints.portal_url,
        profile=load_profile("status-sync"),
        scale=0.002,
        compress=9000.0,
    )
    result = run_load(options)
    assert result.totals.completed > 20 and result.totals.failed == 0, result.errors
    assert set(result.totals.by_kind) <= {"sync-new", "sync-advance"}


def test_a_target_that_dies_mid_run_fails_with_a_partial_report(
    stack: Stack, tmp_path: Path
) -> None:
    doomed = stack.sandbox.start_agency(issue_credentials(stack.state_dir, AGENCY), name="doomed")
    threading.Timer(2.0, doomed.stop).start()
    options = _options(stack, tmp_path, target_url=doomed.url, abort_after_s=2.0, max_run_s=20.0)
    result = run_load(options)
    files = write_load_report(result, tmp_path)
    assert result.status == "aborted" and result.verdict == "fail" and result.exit_code == 1
    assert result.reason is not None and "every request failed" in result.reason
    assert result.totals.completed > result.totals.failed > 0
    assert files.html.exists() and result.errors
    assert _load_children() == []


def test_an_unreachable_target_is_an_environment_problem(stack: Stack, tmp_path: Path) -> None:
    with pytest.raises(TargetUnreachable, match="nothing answers at --target"):
        run_load(_options(stack, tmp_path, target_url="http://127.0.0.1:9"))
    assert _load_children() == []


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", "load", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--profile", "nope"], "not a known profile; use one of admission-2022"),
        (["--scale", "0"], "--scale 0.0 is outside (0, 1]"),
        (["--scale", "1.5"], "--scale 1.5 is outside (0, 1]"),
        (["--compress", "-2"], "--compress -2.0 must be a positive time factor"),
    ],
)
def test_bad_options_exit_2_with_the_fix(args: list[str], message: str) -> None:
    done = _cli("--target", "http://127.0.0.1:9", *args)
    assert done.returncode == 2
    assert message in " ".join(done.stderr.split())


def test_the_cli_writes_the_report_and_exits_with_the_verdict(stack: Stack, tmp_path: Path) -> None:
    done = _cli(
        "--target", stack.agency.url, "--profile", "admission-2025",
        "--scale", str(GENTLE["scale"]), "--compress", str(GENTLE["compress"]),
        "--out", str(tmp_path), "--state-dir", str(stack.state_dir),
    )  # fmt: skip
    report = json.loads((tmp_path / "load.json").read_text(encoding="utf-8"))
    assert done.returncode == report["exit_code"], done.stderr
    assert f"verdict: {report['verdict'].upper()}" in done.stdout
