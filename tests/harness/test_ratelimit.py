"""SEC-RATE-LIMIT: Retry-After parsing, the documented rates, and the burst's verdicts
against in-memory agencies that limit well, badly or not at all."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.checks import ratelimit
from harness.checks.ratelimit import (
    Rate,
    RatePolicy,
    is_loopback,
    load_policy,
    rate_limit_enforced,
    retry_after_seconds,
)
from harness.context import CheckContext, RunSettings, SandboxEndpoints
from harness.errors import EnvironmentProblem, Failure, Skip
from harness.evidence import EvidenceLog
from harness.records import Target
from harness.transport import Transport
from simulators.agencies.ratelimit import DEFAULT_RATE_LIMIT

NOW = datetime(2025, 1, 15, 7, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("1", 1.0),
        ("120", 120.0),
        ("0", 0.0),
        ("Wed, 15 Jan 2025 07:30:30 GMT", 30.0),  # IMF-fixdate
        ("Wednesday, 15-Jan-25 07:31:00 GMT", 60.0),  # obsolete RFC 850 form
        ("Wed Jan 15 07:30:05 2025", 5.0),  # obsolete asctime form
        ("Wed, 15 Jan 2025 07:00:00 GMT", 0.0),  # in the past: retry now
    ],
)
def test_retry_after_takes_delta_seconds_and_http_dates(value: str, seconds: float) -> None:
    assert retry_after_seconds(value, now=NOW) == seconds


@pytest.mark.parametrize("value", [None, "", "soon", "-1", "1.5", "1s", "2025-01-15T07:30:30Z"])
def test_anything_else_is_not_a_retry_after(value: str | None) -> None:
    assert retry_after_seconds(value, now=NOW) is None


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:8710", True),
        ("https://127.0.0.2", True),
        ("http://[::1]:8710", True),
        ("http://localhost:8710", True),
        ("http://agency.localhost", True),
        ("http://10.0.0.5:8710", False),
        ("https://dichvucong.example.gov.vn", False),
    ],
)
def test_the_burst_goes_only_to_loopback(url: str, loopback: bool) -> None:
    assert is_loopback(url) is loopback


def test_the_documented_rates_bracket_the_reference_agency() -> None:
    policy = load_policy()
    assert policy.guaranteed == Rate(50.0, 100)
    assert policy.limit_at == Rate(200.0, 400)
    reference = DEFAULT_RATE_LIMIT
    assert policy.guaranteed.per_s <= reference.per_s <= policy.limit_at.per_s
    assert policy.guaranteed.burst <= reference.burst <= policy.limit_at.burst


def test_well_past_limit_at_and_short_of_the_guarantee() -> None:
    policy = RatePolicy(Rate(50, 100), Rate(200, 400))
    assert not policy.over_limit(500, 0.0) and policy.over_limit(521, 0.0)
    assert policy.over_limit(771, 1.0) and not policy.over_limit(770, 1.0)
    assert policy.under_guarantee(79, 0.0) and not policy.under_guarantee(80, 0.0)


# -- the burst against in-memory agencies ---------------------------------------------------


@dataclass
class StubAgency:
    limit_after: int | None = 300  # None: never limits
    status: int = 429
    retry_after: str | None = "1"
    timeout_after: int | None = None
    delay_s: float = 0.0
    per_client: bool = True  # False: limits everyone once anyone is over (by address)
    served: int = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == "idp.test":
            subject = json.loads(request.content)["subject"]
            return httpx.Response(200, json={"access_token": f"token-of-{subject}"})
        if self.timeout_after is not None and self.served >= self.timeout_after:
            raise httpx.ReadTimeout("no answer", request=request)
        time.sleep(self.delay_s)
        probe = request.headers["authorization"] == "Bearer token-of-lienthong-rate-probe"
        limited = self.limit_after is not None and self.served >= self.limit_after
        if limited and (probe or not self.per_client):
            headers = {"content-type": "application/problem+json"}
            if self.retry_after is not None:
                headers["Retry-After"] = self.retry_after
            body = {"type": "about:blank", "title": "Too many", "status": self.status}
            return httpx.Response(self.status, json=body, headers=headers)
        self.served += 1
        problem = {"type": "about:blank", "title": "Not found", "status": 404}
        return httpx.Response(
            404, json=problem, headers={"content-type": "application/problem+json"}
        )


@pytest.fixture
def certify_with(tmp_path: Path) -> Iterator[Any]:
    closing: list[Any] = []

    def run(
        agency: StubAgency, base_url: str = "http://127.0.0.1:8710", allow_remote: bool = False
    ) -> str:
        settings = RunSettings(
            target=Target(base_url, "000.00.01.H29"),
            sandbox=SandboxEndpoints(
                "http://idp.test", "http://pop.test", "http://portal.test", "a"
            ),
            out_dir=tmp_path,
            allow_remote_burst=allow_remote,
        )
        evidence = EvidenceLog(tmp_path)
        client = httpx.Client(transport=httpx.MockTransport(agency))
        closing.extend((evidence, client))
        ctx = CheckContext(settings, Transport(client, evidence), {}, "rate_limit_enforced")
        return rate_limit_enforced(ctx)

    yield run
    for item in closing:
        item.close()


def burst_record(tmp_path: Path) -> dict[str, Any]:
    lines = (tmp_path / "evidence.jsonl").read_text(encoding="utf-8").splitlines()
    found = [json.loads(x) for x in lines if '"rate-limit-burst"' in x]
    assert len(found) == 1
    data: dict[str, Any] = found[0]["data"]
    return data


def test_429_with_retry_after_between_the_rates_passes(certify_with: Any, tmp_path: Path) -> None:
    summary = certify_with(StubAgency(limit_after=300))
    assert summary.startswith("429 with Retry-After: 1 after 301 requests")
    data = burst_record(tmp_path)
    assert data["statuses"] == {"404": 300, "429": 1} and data["retry_after"] == "1"
    assert data["policy"]["limit_at"] == {"per_s": 200.0, "burst": 400}


def test_an_http_date_is_a_valid_retry_after(certify_with: Any) -> None:
    later = (datetime.now(UTC) + timedelta(seconds=2)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert certify_with(StubAgency(retry_after=later)).startswith("429 with Retry-After")


@pytest.mark.parametrize(
    ("agency", "title"),
    [
        (StubAgency(limit_after=None), "One client far over the documented rate was never limited"),
        (
            StubAgency(status=503),
            "A client over its rate was answered 503, a server error, not 429",
        ),
        (StubAgency(retry_after=None), "A 429 came without a valid Retry-After"),
        (StubAgency(retry_after="in a while"), "A 429 came without a valid Retry-After"),
        (StubAgency(limit_after=10), "A client was limited below the rate the contract guarantees"),
        (
            StubAgency(limit_after=None, timeout_after=50),
            "Under a burst from one client the agency stopped answering instead of limiting it",
        ),
    ],
    ids=["never", "503", "no-retry-after", "bad-retry-after", "below-guarantee", "timeouts"],
)
def test_what_fails(certify_with: Any, agency: StubAgency, title: str) -> None:
    with pytest.raises(Failure) as failure:
        certify_with(agency)
    assert failure.value.findings[0].title == title


def test_a_target_that_never_answers_cannot_be_judged(certify_with: Any) -> None:
    with pytest.raises(EnvironmentProblem, match="could not be sent"):
        certify_with(StubAgency(timeout_after=0))


def test_a_burst_too_slow_to_pass_the_limit_cannot_be_judged(
    certify_with: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ratelimit, "MAX_SECONDS", 0.3)
    with pytest.raises(EnvironmentProblem, match=r"too slow to exceed x-rate-limit\.limit_at"):
        certify_with(StubAgency(limit_after=None, delay_s=0.01))


def test_an_agency_limiting_by_address_is_waited_out_within_bounds(
    certify_with: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ratelimit, "_RECOVERY_WAIT_S", 0.01)
    summary = certify_with(StubAgency(per_client=False, retry_after="3600"))
    assert summary.endswith("; the run's own client stayed limited afterwards")


def test_a_remote_target_is_not_burst(certify_with: Any) -> None:
    agency = StubAgency()
    with pytest.raises(Skip, match="beyond this machine only with --allow-remote-burst"):
        certify_with(agency, base_url="https://agency.example.gov.vn")
    assert agency.served == 0


def test_a_remote_target_is_burst_when_its_operator_allows_it(certify_with: Any) -> None:
    agency = StubAgency(limit_after=300)
    summary = certify_with(agency, base_url="https://agency.example.gov.vn", allow_remote=True)
    assert summary.startswith("429 with Retry-After: 1 after 301 requests")
