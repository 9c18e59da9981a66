"""The citizen side and the outbox: intake is durable and idempotent, delivery retries with
backoff, refusals and exhausted retries become visible dead letters."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
import pytest
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

from simulators.common.clock import VN_TZ
from simulators.population.clock import SimClock
from simulators.portal import PortalStore
from simulators.portal.outbox import DeliveryPolicy, Outbox, OutboxWorker

AGENCY = "000.00.01.H29"
ADMIN = {"Authorization": "Bearer admin"}
FAST = DeliveryPolicy(max_attempts=3, base_delay_s=0.0, max_delay_s=0.0)
PROBLEM = "application/problem+json"


@pytest.fixture
def client(portal_client: Callable[[dict[str, str]], TestClient]) -> TestClient:
    return portal_client({AGENCY: "http://agency.test"})


def submission(**overrides: Any) -> dict[str, Any]:
    body = {
        "MaTTHC": "1.004194",
        "DonViXuLy": AGENCY,
        "ChuHoSo": {
            "SoDinhDanh": "001090000001",
            "HoVaTen": "Nguyễn Văn An",
            "NgaySinh": "19900101",
        },
    }
    return {**body, **overrides}


def test_a_submission_is_acknowledged_with_code_and_due_date(client: TestClient) -> None:
    response = client.post("/v1/citizen/dossiers", json=submission())
    assert response.status_code == 201, response.text
    dossier = response.json()
    assert dossier["MaHoSo"].startswith(f"{AGENCY}-") and dossier["MaHoSo"].endswith("-0001")
    assert dossier["TrangThaiHoSo"] == 1 and dossier["QuaHan"] is False
    assert dossier["NgayHenTra"] > dossier["NgayTiepNhan"]
    tracked = client.get(f"/v1/citizen/dossiers/{dossier['MaHoSo']}").json()
    assert tracked == dossier
    outbox = client.get("/admin/outbox", headers=ADMIN, params={"state": "pending"}).json()
    assert [m["MaHoSo"] for m in outbox["messages"]] == [dossier["MaHoSo"]]


def test_the_same_idempotency_key_returns_the_same_dossier(client: TestClient) -> None:
    headers = {"Idempotency-Key": "citizen-42"}
    first = client.post("/v1/citizen/dossiers", json=submission(), headers=headers)
    again = client.post("/v1/citizen/dossiers", json=submission(), headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["MaHoSo"] == again.json()["MaHoSo"]
    assert client.get("/admin/outbox", headers=ADMIN).json()["counts"]["pending"] == 1


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"MaTTHC": "9.999999"}, "/MaTTHC"),
        ({"DonViXuLy": "000.00.99.H29"}, "/DonViXuLy"),
        ({"ChuHoSo": {"SoDinhDanh": "123"}}, "/ChuHoSo/SoDinhDanh"),
    ],
)
def test_bad_submissions_name_the_field(
    client: TestClient, overrides: dict[str, Any], field: str
) -> None:
    response = client.post("/v1/citizen/dossiers", json=submission(**overrides))
    assert response.status_code == 422
    assert field in [e["field"] for e in response.json()["errors"]]


def test_feedback_gets_its_own_deadline_and_ratings_need_a_result(client: TestClient) -> None:
    filed = client.post(
        "/v1/citizen/feedback",
        json={"DonViXuLy": AGENCY, "LoaiPhanAnh": "complaint", "NoiDung": "Chậm trả kết quả"},
    )
    assert filed.status_code == 201 and len(filed.json()["NgayHenTraLoi"]) == 14
    code = client.post("/v1/citizen/dossiers", json=submission()).json()["MaHoSo"]
    refused = client.post(f"/v1/citizen/dossiers/{code}/rating", json={"MucDo": 1})
    assert refused.status_code == 409


def test_the_index_sees_routed_dossiers_the_agency_never_synced(client: TestClient) -> None:
    client.post("/v1/citizen/dossiers", json=submission())
    [index] = client.get("/v1/index-766", params={"agency_id": AGENCY}).json()["agencies"]
    sync = next(row for row in index["indicators"] if row["id"] == "1.4")
    assert (sync["numerator"], sync["denominator"]) == (0, 1)
    page = client.get("/dashboard/766")
    assert page.headers["content-type"].startswith("text/html") and AGENCY in page.text


# -- delivery ---------------------------------------------------------------------------


def _worker(
    portal_store: PortalStore, answers: list[int], seen: list[httpx.Request]
) -> OutboxWorker:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        status = answers.pop(0) if answers else 202
        return httpx.Response(status, json={"detail": "x"})

    http = httpx.AsyncClient(transport=httpx.MockTransport(handle))

    async def token(agency_id: str) -> str:
        return f"token-for-{agency_id}"

    portal_store.set_route(AGENCY, "http://agency.test")
    return OutboxWorker(Outbox(portal_store.db), portal_store.route, http, token, FAST)


def _drain(worker: OutboxWorker, rounds: int) -> None:
    async def run() -> None:
        for _ in range(rounds):
            await worker.drain_once()
        await worker.http.aclose()

    asyncio.run(run())


def test_delivery_retries_with_the_same_idempotency_key(portal_store: PortalStore) -> None:
    outbox = Outbox(portal_store.db)
    outbox.enqueue(f"{AGENCY}-250303-0001", AGENCY, "submit", {"MaHoSo": "x"})
    seen: list[httpx.Request] = []
    _drain(_worker(portal_store, [503, 500], seen), rounds=4)
    assert len(seen) == 3
    assert {r.headers["idempotency-key"] for r in seen} == {f"submit:{AGENCY}-250303-0001"}
    assert seen[0].headers["authorization"] == f"Bearer token-for-{AGENCY}"
    assert str(seen[0].url) == "http://agency.test/dossiers"
    assert outbox.counts() == {"pending": 0, "delivered": 1, "dead": 0}


def test_a_refusal_or_exhausted_retries_become_dead_letters(
    client: TestClient, portal_store: PortalStore
) -> None:
    outbox = Outbox(portal_store.db)
    outbox.enqueue("A-250303-0001", AGENCY, "submit", {})
    outbox.enqueue("A-250303-0002", AGENCY, "submit", {})
    seen: list[httpx.Request] = []
    _drain(_worker(portal_store, [422, 503, 503, 503], seen), rounds=5)
    dead = client.get("/admin/outbox", headers=ADMIN, params={"state": "dead"}).json()
    assert len(dead["messages"]) == 2
    assert {m["last_error"][:8] for m in dead["messages"]} == {"HTTP 422", "HTTP 503"}
    requeued = client.post(f"/admin/outbox/{dead['messages'][0]['id']}/requeue", headers=ADMIN)
    assert requeued.json()["state"] == "pending"
    assert client.post("/admin/outbox/999/requeue", headers=ADMIN).status_code == 404


def test_backoff_grows_and_is_capped() -> None:
    policy = DeliveryPolicy(base_delay_s=1.0, max_delay_s=8.0)
    assert 0.5 <= policy.delay(1) <= 1.0
    assert 2.0 <= policy.delay(3) <= 4.0
    assert 4.0 <= policy.delay(10) <= 8.0


def test_a_day_without_dossier_codes_left_is_a_503_that_says_when(
    client: TestClient, portal_store: PortalStore, portal_clock: SimClock
) -> None:
    """`<agency id>-<yyMMdd>-<NNNN>` holds 9,999 dossiers per agency and day."""
    portal_clock.set(datetime(2025, 3, 3, 23, 0, tzinfo=VN_TZ))
    portal_store.db.execute(
        "INSERT INTO code_counters (agency_id, day, last) VALUES (?, ?, 9999)", (AGENCY, "250303")
    )
    response = client.post("/v1/citizen/dossiers", json=submission())
    assert response.status_code == 503 and response.headers["content-type"] == PROBLEM
    assert [e["field"] for e in response.json()["errors"]] == ["/DonViXuLy"]
    assert 3500 <= int(response.headers["retry-after"]) <= 3600
    assert Outbox(portal_store.db).counts()["pending"] == 0
