"""The population database hanging for a moment (RES-SLOW-DEPENDENCY): the `latency_ms`
fault holds every call of one client that arrives while the fault lasts, then answers it
normally; other clients, and calls after the window, are not held."""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import Callable
from typing import Any

import pytest
from starlette.exceptions import StarletteDeprecationWarning

from simulators.common.tokens import TokenVerifier
from simulators.population.app import create_app
from simulators.population.controls import Controls, Faults
from simulators.population.store import PopulationStore

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

AUDIENCE = "urn:lienthong:population"
ADMIN = {"Authorization": "Bearer admin-secret"}
POPULATION_SIZE = 20


def test_a_held_call_does_not_hold_other_clients() -> None:
    controls = Controls()
    controls.set_faults("hung", Faults(latency_ms=300), duration_s=5.0)

    async def timed(client_id: str) -> float:
        started = time.perf_counter()
        await controls.gate(client_id)
        return time.perf_counter() - started

    async def both() -> list[float]:
        return list(await asyncio.gather(timed("hung"), timed("other")))

    held, other = asyncio.run(both())
    assert held >= 0.3
    assert other < 0.1


def test_clearing_or_replacing_the_faults_lets_held_calls_go() -> None:
    controls = Controls()

    async def held_then(let_go: Callable[[], None]) -> float:
        controls.set_faults("hung", Faults(latency_ms=10_000), duration_s=5.0)
        started = time.perf_counter()
        call = asyncio.create_task(controls.gate("hung"))
        await asyncio.sleep(0.1)
        let_go()
        await call
        return time.perf_counter() - started

    cleared = asyncio.run(held_then(lambda: controls.clear_faults("hung")))
    replaced = asyncio.run(held_then(lambda: controls.set_faults("hung", Faults(), None)))
    assert cleared < 1.0 and replaced < 1.0
    assert "hung" in controls.faults  # replaced: the new (empty) faults stand


def test_calls_in_the_window_are_held_then_answered_and_later_ones_are_not(
    population_client: TestClient, make_token: Callable[..., str]
) -> None:
    hang = {"latency_ms": 400, "duration_s": 0.2}
    set_fault = population_client.put("/admin/clients/slow/faults", json=hang, headers=ADMIN)
    assert set_fault.status_code == 200, set_fault.text
    assert set_fault.json()["latency_ms"] == 400
    headers = {"Authorization": f"Bearer {make_token(AUDIENCE, 'citizen.verify', subject='slow')}"}

    started = time.perf_counter()
    held = population_client.post("/v1/citizens/verify", json={}, headers=headers)
    assert time.perf_counter() - started >= 0.4
    assert held.status_code == 422  # answered as usual (an empty body), not a 5xx

    time.sleep(0.25)  # the window is over; the held call's wait outlasted it
    started = time.perf_counter()
    after = population_client.post("/v1/citizens/verify", json={}, headers=headers)
    assert after.status_code == 422
    assert time.perf_counter() - started < 0.4


@pytest.mark.parametrize("latency_ms", [-1, 10_001, 1.5])
def test_a_hang_beyond_the_bound_is_a_422(population_client: TestClient, latency_ms: float) -> None:
    response = population_client.put(
        "/admin/clients/slow/faults", json={"latency_ms": latency_ms}, headers=ADMIN
    )
    assert response.status_code == 422


def test_a_caller_that_gave_up_while_held_is_no_server_error(
    population_store: PopulationStore,
    verifier_for: Callable[[str], TokenVerifier],
    make_token: Callable[..., str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Its time limit ran out during the hang: when the call is let go, its body is gone."""
    app = create_app(
        store=population_store, verifier=verifier_for(AUDIENCE), admin_token="admin-secret"
    )
    token = make_token(AUDIENCE, "citizen.verify", subject="gone")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/citizens/verify",
        "raw_path": b"/v1/citizens/verify",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"population.test"),
            (b"authorization", f"Bearer {token}".encode()),
            (b"content-type", b"application/json"),
        ],
        "client": ("127.0.0.1", 40000),
        "server": ("population.test", 80),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 499
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
