"""The citizen's actions on a submitted dossier at the portal: pay online, supplement,
withdraw — each allowed in the statuses the agency synced, each delivered once through the
outbox in the agency contract's shape and after the dossier it concerns."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

from simulators.common.validation import SchemaValidator
from simulators.portal import PortalStore
from simulators.portal.outbox import DeliveryPolicy, Outbox, OutboxWorker

AGENCY = "000.00.01.H29"
ADMIN = {"Authorization": "Bearer admin"}
FAST = DeliveryPolicy(max_attempts=3, base_delay_s=0.0, max_delay_s=0.0)
FEE = 15000  # 1.004194, specs/procedures.yaml
SUPPLEMENT = {"TaiLieuNop": [{"TenTepDinhKem": "so-ho-khau.pdf"}], "GhiChu": "Bổ sung"}


@pytest.fixture
def client(portal_client: Callable[[dict[str, str]], TestClient]) -> TestClient:
    return portal_client({AGENCY: "http://agency.test"})


@pytest.fixture
def agency_sync(client: TestClient, make_token: Callable[..., str]) -> Callable[..., None]:
    """Sync statuses as the agency would, one after another."""
    token = make_token("urn:lienthong:portal", "portal.sync", subject=AGENCY, agency_id=AGENCY)

    def sync(code: str, *statuses: int, at: str | None = None) -> None:
        for status in statuses:
            payload: dict[str, Any] = {
                "MaHoSo": code,
                "MaTTHC": "1.004194",
                "TrangThaiHoSo": status,
                "NgayTiepNhan": code_day(code),
                "DonViXuLy": AGENCY,
                **({"NgayCapNhat": at} if at else {}),
            }
            response = client.post(
                "/v1/status-sync", json=payload, headers={"Authorization": f"Bearer {token}"}
            )
            assert response.status_code == 200, response.text

    return sync


def code_day(code: str) -> str:
    return f"20{code.split('-')[1]}080000"


def submit(client: TestClient) -> str:
    body = {
        "MaTTHC": "1.004194",
        "DonViXuLy": AGENCY,
        "ChuHoSo": {
            "SoDinhDanh": "001090000001",
            "HoVaTen": "Nguyễn Văn An",
            "NgaySinh": "19900101",
        },
        "DuLieuHoSo": {"ThanhToanTrucTuyen": True},
    }
    response = client.post("/v1/citizen/dossiers", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["MaHoSo"])


def messages(client: TestClient, kind: str) -> list[dict[str, Any]]:
    found = client.get("/admin/outbox", headers=ADMIN).json()["messages"]
    return [m for m in found if m["kind"] == kind]


def queued_body(portal_store: PortalStore, key: str) -> dict[str, Any]:
    (row,) = portal_store.db.execute("SELECT body FROM outbox WHERE idempotency_key = ?", (key,))
    body: dict[str, Any] = orjson.loads(row["body"])
    return body


def assert_status_conflict(response: httpx.Response, current: int, allowed: list[int]) -> None:
    assert response.status_code == 409, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert (problem["TrangThaiHoSo"], problem["allowed_statuses"]) == (current, allowed)


# -- payment --------------------------------------------------------------------------------


def test_paying_a_requested_fee_records_it_and_notifies_the_agency_once(
    client: TestClient, portal_store: PortalStore, agency_sync: Callable[..., None]
) -> None:
    code = submit(client)
    agency_sync(code, 2, 6)
    paid = client.post(f"/v1/citizen/dossiers/{code}/payment", json={"SoTien": FEE})
    assert paid.status_code == 201, paid.text
    receipt = paid.json()
    assert receipt["MaHoSo"] == code and receipt["SoTien"] == FEE and receipt["TrangThai"] == "paid"
    again = client.post(f"/v1/citizen/dossiers/{code}/payment", json={"SoTien": FEE})
    assert (again.status_code, again.json()) == (200, receipt)
    [message] = messages(client, "payment")
    assert message["idempotency_key"] == f"payment:{receipt['MaGiaoDich']}"
    body = queued_body(portal_store, message["idempotency_key"])
    SchemaValidator("agency.yaml", "Payment").check(body)  # the agency contract's shape
    assert body == {
        "MaGiaoDich": receipt["MaGiaoDich"],
        "SoTien": FEE,
        "NgayThanhToan": receipt["NgayThanhToan"],
        "HinhThucThu": 2,
    }
    # The status is the agency's to change: still 6 until it syncs 4.
    assert client.get(f"/v1/citizen/dossiers/{code}").json()["TrangThaiHoSo"] == 6
    agency_sync(code, 4)
    assert client.get(f"/v1/citizen/dossiers/{code}").json()["TrangThaiHoSo"] == 4


def test_a_payment_must_be_requested_and_of_the_amount_owed(
    client: TestClient, agency_sync: Callable[..., None]
) -> None:
    code = submit(client)
    agency_sync(code, 2, 4)
    early = client.post(f"/v1/citizen/dossiers/{code}/payment", json={"SoTien": FEE})
    assert_status_conflict(early, 4, [6])
    agency_sync(code, 6)
    wrong = client.post(f"/v1/citizen/dossiers/{code}/payment", json={"SoTien": FEE + 1})
    assert wrong.status_code == 422
    assert [e["field"] for e in wrong.json()["errors"]] == ["/SoTien"]
    assert messages(client, "payment") == []


def test_a_second_payment_request_is_a_second_transaction(
    client: TestClient, agency_sync: Callable[..., None]
) -> None:
    code = submit(client)
    # Payment requests are told apart by when the agency made them.
    agency_sync(code, 2, 6, at=code_day(code)[:8] + "090000")
    first = client.post(f"/v1/citizen/dossiers/{code}/payment", json={"SoTien": FEE}).json()
    agency_sync(code, 4, at=code_day(code)[:8] + "100000")
    agency_sync(code, 6, at=code_day(code)[:8] + "110000")
    second = client.post(f"/v1/citizen/dossiers/{code}/payment", json={"SoTien": FEE})
    assert second.status_code == 201
    assert second.json()["MaGiaoDich"] != first["MaGiaoDich"]
    assert len(messages(client, "payment")) == 2


# -- supplement -----------------------------------------------------------------------------


def test_a_supplement_answers_the_request_once(
    client: TestClient, portal_store: PortalStore, agency_sync: Callable[..., None]
) -> None:
    code = submit(client)
    agency_sync(code, 2)
    early = client.post(f"/v1/citizen/dossiers/{code}/supplement", json=SUPPLEMENT)
    assert_status_conflict(early, 2, [5])
    agency_sync(code, 5)
    sent = client.post(f"/v1/citizen/dossiers/{code}/supplement", json=SUPPLEMENT)
    assert sent.status_code == 202, sent.text
    assert sent.json() == {
        "MaHoSo": code,
        "YeuCau": "supplement",
        "TrangThaiHoSo": 5,
        "DonViXuLy": AGENCY,
    }
    assert (
        client.post(f"/v1/citizen/dossiers/{code}/supplement", json=SUPPLEMENT).status_code == 200
    )
    [message] = messages(client, "supplement")
    body = queued_body(portal_store, message["idempotency_key"])
    SchemaValidator("agency.yaml", "Supplement").check(body)
    assert body["TaiLieuNop"] == SUPPLEMENT["TaiLieuNop"] and len(body["NgayBoSung"]) == 14


def test_a_supplement_without_documents_is_a_422(
    client: TestClient, agency_sync: Callable[..., None]
) -> None:
    code = submit(client)
    agency_sync(code, 2, 5)
    response = client.post(f"/v1/citizen/dossiers/{code}/supplement", json={"TaiLieuNop": []})
    assert response.status_code == 422


# -- withdrawal -----------------------------------------------------------------------------


def test_a_withdrawal_is_queued_once_and_the_status_follows_the_agency(
    client: TestClient, agency_sync: Callable[..., None]
) -> None:
    code = submit(client)
    body = {"LyDo": "Không còn nhu cầu"}
    first = client.post(f"/v1/citizen/dossiers/{code}/withdrawal", json=body)
    assert first.status_code == 202 and first.json()["TrangThaiHoSo"] == 1
    assert client.post(f"/v1/citizen/dossiers/{code}/withdrawal", json=body).status_code == 200
    assert len(messages(client, "withdrawal")) == 1
    agency_sync(code, 1, 7)
    done = client.post(f"/v1/citizen/dossiers/{code}/withdrawal", json=body)
    assert (done.status_code, done.json()["TrangThaiHoSo"]) == (200, 7)


def test_a_refused_dossier_cannot_be_withdrawn(
    client: TestClient, agency_sync: Callable[..., None]
) -> None:
    code = submit(client)
    agency_sync(code, 3)
    response = client.post(f"/v1/citizen/dossiers/{code}/withdrawal", json={"LyDo": "x"})
    assert_status_conflict(response, 3, [1, 2, 4, 5, 6])


@pytest.mark.parametrize("action", ["payment", "supplement", "withdrawal"])
def test_actions_on_an_unknown_dossier_are_a_404(client: TestClient, action: str) -> None:
    body = {"payment": {"SoTien": 1}, "supplement": SUPPLEMENT, "withdrawal": {"LyDo": "x"}}
    response = client.post(f"/v1/citizen/dossiers/{AGENCY}-250101-9999/{action}", json=body[action])
    assert response.status_code == 404


# -- delivery -------------------------------------------------------------------------------


def _drain(
    portal_store: PortalStore, answers: dict[str, list[int]], rounds: int
) -> list[httpx.Request]:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        queue = answers.get(request.url.path, [])
        return httpx.Response(queue.pop(0) if queue else 202, json={})

    async def run() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handle)) as http:

            async def token(agency_id: str) -> str:
                return "t"

            worker = OutboxWorker(Outbox(portal_store.db), portal_store.route, http, token, FAST)
            for _ in range(rounds):
                await worker.drain_once()

    asyncio.run(run())
    return seen


def test_each_action_goes_to_its_operation_after_the_dossier_itself(
    client: TestClient, portal_store: PortalStore, agency_sync: Callable[..., None]
) -> None:
    code = submit(client)
    client.post(f"/v1/citizen/dossiers/{code}/withdrawal", json={"LyDo": "x"})
    # The agency is down for the submission twice: the withdrawal must wait behind it.
    seen = _drain(portal_store, {"/dossiers": [503, 503]}, rounds=4)
    paths = [(r.url.path, r.headers["idempotency-key"]) for r in seen]
    assert paths == [
        ("/dossiers", f"submit:{code}"),
        ("/dossiers", f"submit:{code}"),
        ("/dossiers", f"submit:{code}"),
        (f"/dossiers/{code}/withdrawal", f"withdrawal:{code}"),
    ]
    assert orjson.loads(seen[-1].content) == {"LyDo": "x"}


def test_payment_and_supplement_reach_their_operations(
    client: TestClient, portal_store: PortalStore, agency_sync: Callable[..., None]
) -> None:
    code = submit(client)
    agency_sync(code, 2, 5)
    client.post(f"/v1/citizen/dossiers/{code}/supplement", json=SUPPLEMENT)
    agency_sync(code, 4, 6)
    client.post(f"/v1/citizen/dossiers/{code}/payment", json={"SoTien": FEE})
    seen = _drain(portal_store, {}, rounds=3)
    assert [r.url.path for r in seen] == [
        "/dossiers",
        f"/dossiers/{code}/supplements",
        f"/dossiers/{code}/payments",
    ]
    assert Outbox(portal_store.db).counts() == {"pending": 0, "delivered": 3, "dead": 0}
