"""How the reference agency's outbound client copes (processing.Processor._call): it waits
as long as Retry-After says on 429 and 503, time-limits population calls and retries them
when they hang — and the catalogue faults that do not (RES-RETRY-AFTER,
RES-SLOW-DEPENDENCY). The other side is faked with httpx.MockTransport, and sleeping is
recorded instead of waited."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from simulators.agencies import processing
from simulators.agencies.catalogue import FAULTS, REFERENCE, Behaviour
from simulators.agencies.processing import Processor, _retry_after
from simulators.agencies.store import AgencyStore
from simulators.common.oauth_client import TokenClient
from simulators.identity.credentials import issue_credentials

AGENCY = "000.00.01.H29"
CODE = f"{AGENCY}-250115-0001"
Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every back-off the agency takes, in order; none is actually waited."""
    taken: list[float] = []

    async def record(delay: float) -> None:
        taken.append(delay)

    monkeypatch.setattr(processing.asyncio, "sleep", record)
    return taken


def _run(tmp_path: Path, behaviour: Behaviour, handler: Handler) -> int:
    """Process one fresh dossier against `handler`; the dossier's final status."""
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler), timeout=5.0)
    key = issue_credentials(tmp_path, AGENCY).private_key
    tokens = TokenClient(token_url="http://idp/oauth2/token", client_id=AGENCY, key=key, http=http)
    store = AgencyStore(tmp_path / "agency.db")
    applicant = {"SoDinhDanh": "001090000001", "HoVaTen": "A", "NgaySinh": "19900131"}
    dossier = {"MaHoSo": CODE, "MaTTHC": "1.004194", "NgayNopHoSo": "20250115143000"}
    store.insert_if_new({**dossier, "KenhNop": 2, "ChuHoSo": applicant})
    processor = Processor(
        AGENCY, store, tokens, http, "http://population", "http://portal", behaviour, {}
    )

    async def run() -> None:
        try:
            await processor.process(CODE)
        finally:
            await http.aclose()

    try:
        asyncio.run(run())
        found = store.get(CODE)
        assert found is not None
        return found.status
    finally:
        store.close()


class Sandbox:
    """Identity, population and portal in one handler, scripted per path."""

    def __init__(self, portal: list[httpx.Response] | None = None) -> None:
        self.portal_script = list(portal or [])
        self.synced: list[int] = []
        self.timeouts: dict[str, Any] = {}
        self.verify_failures: list[Exception] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/oauth2/token":
            token = {"access_token": "t", "token_type": "Bearer", "expires_in": 300}
            return httpx.Response(200, json=token)
        self.timeouts[f"{request.url.host}{path}"] = request.extensions.get("timeout")
        if path == "/v1/citizens/verify":
            if self.verify_failures:
                raise self.verify_failures.pop(0)
            return httpx.Response(200, json={"result": "match"})
        if path == "/v1/status-sync":
            answer = self.portal_script.pop(0) if self.portal_script else httpx.Response(200)
            if answer.status_code == 200:
                self.synced.append(int(json.loads(request.content)["TrangThaiHoSo"]))
            return answer
        return httpx.Response(200, json={})  # the applicant's record: not this test's concern


def throttled(retry_after: str) -> httpx.Response:
    return httpx.Response(429, headers={"Retry-After": retry_after}, json={"status": 429})


def test_the_reference_waits_what_retry_after_says_on_429_then_delivers(
    tmp_path: Path, sleeps: list[float]
) -> None:
    sandbox = Sandbox([throttled("2"), httpx.Response(503, headers={"Retry-After": "3"})])
    assert _run(tmp_path, REFERENCE, sandbox) == 4
    assert sleeps == [2.0, 3.0]  # the header's values, not its own 0.5 s back-off
    assert sandbox.synced == [2, 4]  # a 429 is retried like a 503, nothing dropped


def test_ignores_retry_after_keeps_its_own_schedule_and_still_delivers(
    tmp_path: Path, sleeps: list[float]
) -> None:
    fault = FAULTS["ignores-retry-after"].behaviour
    sandbox = Sandbox([throttled("2"), throttled("2"), throttled("2")])
    assert _run(tmp_path, fault, sandbox) == 4
    assert sleeps == [0.5, 1.0, 2.0]
    assert sandbox.synced == [2, 4]


def test_a_hung_population_call_is_time_limited_and_retried(
    tmp_path: Path, sleeps: list[float]
) -> None:
    sandbox = Sandbox()
    sandbox.verify_failures = [httpx.ReadTimeout("hung")]
    assert _run(tmp_path, REFERENCE, sandbox) == 4
    assert sleeps == [0.5]
    limit = sandbox.timeouts["population/v1/citizens/verify"]
    assert limit["read"] == processing._POPULATION_TIMEOUT_S < 5.0
    assert sandbox.timeouts["portal/v1/status-sync"]["read"] == 5.0  # the client's default


def test_waits_forever_on_population_puts_no_limit_on_population_calls_only(
    tmp_path: Path, sleeps: list[float]
) -> None:
    sandbox = Sandbox()
    assert _run(tmp_path, FAULTS["waits-forever-on-population"].behaviour, sandbox) == 4
    assert set(sandbox.timeouts["population/v1/citizens/verify"].values()) == {None}
    assert sandbox.timeouts["portal/v1/status-sync"]["read"] == 5.0


def test_waits_forever_on_portal_puts_no_limit_on_status_syncs_only(
    tmp_path: Path, sleeps: list[float]
) -> None:
    sandbox = Sandbox()
    assert _run(tmp_path, FAULTS["waits-forever-on-portal"].behaviour, sandbox) == 4
    assert set(sandbox.timeouts["portal/v1/status-sync"].values()) == {None}
    limit = sandbox.timeouts["population/v1/citizens/verify"]
    assert limit["read"] == processing._POPULATION_TIMEOUT_S


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("2", 2.0),
        (" 7 ", 7.0),
        ("3600", processing._MAX_RETRY_AFTER_S),  # bounded
        ("", 0.5),  # not said: the caller's own back-off
        ("-1", 0.5),
        ("1.5", 0.5),  # delay-seconds is an integer (RFC 9110 §10.2.3)
        ("soon", 0.5),
        ("9" * 5000, processing._MAX_RETRY_AFTER_S),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # a date gone by: now
    ],
)
def test_retry_after_is_read_as_rfc_9110_says_and_bounded(header: str, expected: float) -> None:
    response = httpx.Response(503, headers={"Retry-After": header} if header else {})
    assert _retry_after(response, 0.5) == expected


def test_retry_after_as_an_http_date_is_the_time_until_then() -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=4), usegmt=True)
    waited = _retry_after(httpx.Response(429, headers={"Retry-After": later}), 0.5)
    assert 2.5 <= waited <= 4.0
