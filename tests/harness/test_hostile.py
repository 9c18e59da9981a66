"""A hostile target cannot hang the harness, blow its memory or inject into its report."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.context import RunSettings, SandboxEndpoints
from harness.outcomes import Outcome
from harness.records import Target
from harness.reporting import write_reports
from harness.runner import certify
from simulators.agencies.hostile import HOSTILE_MODES, create_hostile_app
from simulators.common.serving import ServerHandle, bind_socket, serve_in_thread
from simulators.sandbox import Sandbox

pytestmark = pytest.mark.slow

BUDGET_S = 40.0


@pytest.fixture(scope="module")
def endpoints(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxEndpoints]:
    with Sandbox(tmp_path_factory.mktemp("state"), population_size=50) as sandbox:
        info = sandbox.info
        yield SandboxEndpoints(
            info.identity_url, info.population_url, info.portal_url, info.admin_token
        )


@pytest.fixture
def hostile(request: pytest.FixtureRequest) -> Iterator[ServerHandle]:
    handle = serve_in_thread("hostile", create_hostile_app(request.param), bind_socket())
    yield handle
    handle.stop()


def _certify(endpoints: SandboxEndpoints, url: str, out: Path) -> tuple[Outcome, float]:
    settings = RunSettings(
        target=Target(url, "000.00.66.H29"),
        sandbox=endpoints,
        out_dir=out,
        examples=3,
        sync_timeout_s=2,
        request_timeout_s=2,
        time_budget_s=BUDGET_S,
    )
    started = time.monotonic()
    run = certify(settings)
    return run.verdict, time.monotonic() - started


@pytest.mark.parametrize("hostile", sorted(HOSTILE_MODES), indirect=True)
def test_a_hostile_target_ends_in_time_with_a_safe_report(
    endpoints: SandboxEndpoints, hostile: ServerHandle, tmp_path: Path
) -> None:
    verdict, took = _certify(endpoints, hostile.url, tmp_path)
    assert verdict in (Outcome.FAIL, Outcome.ERROR)
    assert took < BUDGET_S + 15
    files = write_reports(tmp_path)
    html = files.html.read_text()
    assert "<script>alert" not in html and "<img src=x" not in html  # escaped, not live
    assert files.html.stat().st_size < 2_000_000
    evidence = (tmp_path / "evidence.jsonl").stat().st_size
    assert evidence < 5_000_000  # 100 MB bodies are cut long before they reach the disk


def test_a_tls_error_is_an_error_not_a_crash(endpoints: SandboxEndpoints, tmp_path: Path) -> None:
    handle = serve_in_thread("plain", create_hostile_app("html-script"), bind_socket())
    try:
        https = handle.url.replace("http://", "https://")
        verdict, took = _certify(endpoints, https, tmp_path)
    finally:
        handle.stop()
    assert verdict is Outcome.ERROR and took < BUDGET_S + 15
    assert "TLS handshake" in (tmp_path / "results.json").read_text()
