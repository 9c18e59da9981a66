"""Injected portal outages (RES-PORTAL-RETRY, RES-RETRY-AFTER): 503 or 429 with a chosen
Retry-After, and the record of when each refused dossier was turned away and came back."""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.exceptions import StarletteDeprecationWarning

from simulators.common.problems import ProblemError
from simulators.common.tokens import TokenVerifier
from simulators.common.validation import SchemaValidator
from simulators.portal import PortalStore, create_app
from simulators.portal import outages as outages_module
from simulators.portal.outages import MAX_RECORDED, Outages

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

AUDIENCE = "urn:lienthong:portal"
AGENCY = "000.00.01.H29"
ADMIN = {"Authorization": "Bearer sandbox-admin-secret"}
OUTAGE = f"/admin/agencies/{AGENCY}/outage"
PROBLEM = "application/problem+json"


@pytest.fixture
def client(tmp_path: Path, verifier_for: Callable[[str], TokenVerifier]) -> Iterator[TestClient]:
    store = PortalStore(tmp_path / "portal.sqlite")
    app = create_app(
        store=store, verifier=verifier_for(AUDIENCE), admin_token="sandbox-admin-secret"
    )
    yield TestClient(app)
    store.close()


@pytest.fixture
def auth(make_token: Callable[..., str]) -> dict[str, str]:
    token = make_token(AUDIENCE, "portal.sync", subject=AGENCY, agency_id=AGENCY)
    return {"Authorization": f"Bearer {token}"}


def sync_body(code: str = f"{AGENCY}-250115-0001", status: int = 2) -> dict[str, Any]:
    return {
        "MaHoSo": code,
        "MaTTHC": "1.004194",
        "TrangThaiHoSo": status,
        "NgayTiepNhan": "20250115143000",
        "NgayHenTra": "20250120170000",
        "DonViXuLy": AGENCY,
    }


def test_a_429_outage_answers_with_the_chosen_retry_after_and_records_the_refusals(
    client: TestClient, auth: dict[str, str]
) -> None:
    settings = {"duration_s": 30, "status": 429, "retry_after_s": 2}
    started = client.put(OUTAGE, json=settings, headers=ADMIN)
    assert started.status_code == 200, started.text
    assert started.json()["status"] == 429 and started.json()["refused"] == []
    throttled = client.post("/v1/status-sync", json=sync_body(), headers=auth)
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "2"
    assert throttled.headers["content-type"].startswith(PROBLEM)
    assert "retry after 2 s" in throttled.json()["detail"]
    client.post("/v1/status-sync", content=b"{not json", headers={**auth, "Content-Type": "x"})
    assert client.get("/admin/syncs", headers=ADMIN).json()["records"] == []  # not judged

    record = client.get(OUTAGE, headers=ADMIN).json()
    assert (record["status"], record["retry_after_s"], record["refused_total"]) == (429, 2, 2)
    assert [e["dossier_code"] for e in record["refused"]] == [sync_body()["MaHoSo"], None]
    first, second = (e["at_s"] for e in record["refused"])
    assert 0 <= first <= second < 30
    assert record["let_through"] == []


def test_each_refused_dossier_s_first_sync_after_the_end_is_recorded_once(
    client: TestClient, auth: dict[str, str]
) -> None:
    refused, untouched = sync_body(), sync_body(f"{AGENCY}-250115-0002")
    client.put(OUTAGE, json={"duration_s": 30}, headers=ADMIN)
    assert client.post("/v1/status-sync", json=refused, headers=auth).status_code == 503
    assert client.delete(OUTAGE, headers=ADMIN).status_code == 204
    assert client.post("/v1/status-sync", json=untouched, headers=auth).status_code == 200
    assert client.post("/v1/status-sync", json=refused, headers=auth).status_code == 200
    assert client.post("/v1/status-sync", json=sync_body(status=4), headers=auth).status_code == 200

    record = client.get(OUTAGE, headers=ADMIN).json()  # still readable after the end
    assert record["remaining_s"] == 0
    [back] = record["let_through"]
    assert back["dossier_code"] == refused["MaHoSo"]
    assert back["at_s"] >= record["refused"][0]["at_s"]


def test_the_record_follows_its_contract_and_a_new_outage_starts_a_new_one(
    client: TestClient, auth: dict[str, str]
) -> None:
    client.put(OUTAGE, json={"duration_s": 30, "status": 429}, headers=ADMIN)
    client.post("/v1/status-sync", json=sync_body(), headers=auth)
    record = client.get(OUTAGE, headers=ADMIN).json()
    SchemaValidator("portal.yaml", "OutageRecord").check(record)
    assert record["retry_after_s"] == 1  # the default
    again = client.put(OUTAGE, json={"duration_s": 5}, headers=ADMIN).json()
    assert (again["status"], again["refused_total"], again["refused"]) == (503, 0, [])


def test_reading_an_outage_needs_the_admin_token_and_one_to_have_started(
    client: TestClient,
) -> None:
    missing = client.get(OUTAGE, headers=ADMIN)
    assert missing.status_code == 404 and missing.headers["content-type"].startswith(PROBLEM)
    assert "PUT" in missing.json()["detail"]
    client.put(OUTAGE, json={"duration_s": 1}, headers=ADMIN)
    assert client.get(OUTAGE).status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        {"duration_s": 1, "status": 500},
        {"duration_s": 1, "status": "429"},
        {"duration_s": 1, "retry_after_s": 0},
        {"duration_s": 1, "retry_after_s": 31},
        {"duration_s": 1, "retry_after_s": 1.5},
        {"duration_s": 1, "status": 504, "hold_s": 31},
        {"duration_s": 1, "status": 504, "hold_s": -1},
    ],
)
def test_outage_settings_out_of_bounds_are_a_422(client: TestClient, body: dict[str, Any]) -> None:
    response = client.put(OUTAGE, json=body, headers=ADMIN)
    assert response.status_code == 422 and response.headers["content-type"].startswith(PROBLEM)


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def monotonic(self) -> float:
        return self.now


def test_times_are_offsets_from_the_start_and_a_flood_is_counted_not_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = _Clock()
    monkeypatch.setattr(outages_module.time, "monotonic", clock.monotonic)
    outages = Outages()
    outages.start("A", 2.5, status=429, retry_after_s=2)
    for step in range(MAX_RECORDED + 5):
        clock.now = 100.0 + step * 0.001
        assert outages.is_down("A", clock.now)
        with pytest.raises(ProblemError) as refused:
            outages.refuse("A", "A-1" if step == 0 else "A-2", clock.now)
        assert refused.value.status == 429
    clock.now = 102.6
    assert not outages.is_down("A", clock.now) and not outages.is_down("B", clock.now)
    outages.note_through("A", "A-1", 102.6)
    outages.note_through("A", "A-1", 103.0)  # only the first comes back
    record = outages.record("A")
    assert record is not None
    assert record["refused"][0] == {"at_s": 0.0, "dossier_code": "A-1"}
    assert len(record["refused"]) == MAX_RECORDED
    assert record["refused_total"] == MAX_RECORDED + 5
    assert record["let_through"] == [{"at_s": 2.6, "dossier_code": "A-1"}]
    assert outages.record("B") is None


def test_a_hang_holds_each_sync_then_answers_504_without_retry_after(
    client: TestClient, auth: dict[str, str]
) -> None:
    settings = {"duration_s": 30, "status": 504, "hold_s": 0.3}
    assert client.put(OUTAGE, json=settings, headers=ADMIN).status_code == 200
    started = time.monotonic()
    hung = client.post("/v1/status-sync", json=sync_body(), headers=auth)
    assert time.monotonic() - started >= 0.3
    assert hung.status_code == 504 and "retry-after" not in hung.headers
    assert hung.headers["content-type"].startswith(PROBLEM)
    assert client.get("/admin/syncs", headers=ADMIN).json()["records"] == []  # not judged
    record = client.get(OUTAGE, headers=ADMIN).json()
    assert (record["status"], record["hold_s"], record["refused_total"]) == (504, 0.3, 1)


def test_ending_a_hang_lets_the_syncs_it_holds_go_at_once() -> None:
    outages = Outages()
    outages.start(AGENCY, 30, status=504, hold_s=20)

    async def held_then_ended() -> float:
        started = time.monotonic()
        holding = asyncio.create_task(outages.hold(AGENCY, started))
        await asyncio.sleep(0.1)
        outages.end(AGENCY)
        await holding
        return time.monotonic() - started

    assert asyncio.run(held_then_ended()) < 1.0
