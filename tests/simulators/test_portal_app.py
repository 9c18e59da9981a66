from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.exceptions import StarletteDeprecationWarning

# Starlette 1.x warns at import when the test client runs on httpx rather than httpx2;
# the venv has httpx only, and filterwarnings=error would turn that into a failure.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

from simulators.common.tokens import TokenVerifier
from simulators.common.validation import SchemaValidator
from simulators.portal import PortalStore, create_app

AUDIENCE = "urn:lienthong:portal"
AGENCY = "000.00.01.H29"
ADMIN_TOKEN = "sandbox-admin-secret"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
PROBLEM = "application/problem+json"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[PortalStore]:
    portal_store = PortalStore(tmp_path / "portal.sqlite")
    yield portal_store
    portal_store.close()


@pytest.fixture
def client(store: PortalStore, verifier_for: Callable[[str], TokenVerifier]) -> TestClient:
    app = create_app(store=store, verifier=verifier_for(AUDIENCE), admin_token=ADMIN_TOKEN)
    return TestClient(app)


@pytest.fixture
def auth(make_token: Callable[..., str]) -> dict[str, str]:
    token = make_token(AUDIENCE, "portal.sync", subject=AGENCY, agency_id=AGENCY)
    return {"Authorization": f"Bearer {token}"}


def sync_body(status: int = 2, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "MaHoSo": f"{AGENCY}-250115-0001",
        "MaTTHC": "1.004194",
        "TrangThaiHoSo": status,
        "NgayTiepNhan": "20250115143000",
        "NgayHenTra": "20250120170000",
        "DonViXuLy": AGENCY,
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def synced_records(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/admin/syncs", headers=ADMIN, params=params)
    assert response.status_code == 200, response.text
    records: list[dict[str, Any]] = response.json()["records"]
    return records


def assert_problem(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    if field is not None:
        assert field in [error["field"] for error in problem["errors"]], problem
    return problem


def test_valid_syncs_are_accepted_and_listed(client: TestClient, auth: dict[str, str]) -> None:
    first = client.post("/v1/status-sync", json=sync_body(2), headers=auth)
    second = client.post("/v1/status-sync", json=sync_body(4), headers=auth)
    assert first.status_code == 200, first.text
    assert second.json() == {
        "id": second.json()["id"],
        "MaHoSo": f"{AGENCY}-250115-0001",
        "TrangThaiHoSo": 4,
        "accepted": True,
    }
    records = synced_records(client, agency_id=AGENCY)
    assert [(r["status"], r["accepted"], r["problem"]) for r in records] == [
        (2, True, None),
        (4, True, None),
    ]
    assert records[0]["payload"] == sync_body(2)
    assert records[0]["received_at"].endswith("+07:00")
    assert records[0]["client_id"] == AGENCY


def test_answers_follow_the_contract_schemas(client: TestClient, auth: dict[str, str]) -> None:
    receipt = client.post("/v1/status-sync", json=sync_body(2), headers=auth).json()
    refused = client.post("/v1/status-sync", json=sync_body(10), headers=auth).json()
    assert SchemaValidator("portal.yaml", "SyncReceipt").errors(receipt) == ()
    assert SchemaValidator("portal.yaml", "Problem").errors(refused) == ()
    for record in synced_records(client):
        assert SchemaValidator("portal.yaml", "SyncRecord").errors(record) == ()


def test_repeating_a_status_is_accepted(client: TestClient, auth: dict[str, str]) -> None:
    for _ in range(2):
        response = client.post("/v1/status-sync", json=sync_body(2), headers=auth)
        assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"NgayTiepNhan": "2025-01-15 14:30"}, "/NgayTiepNhan"),
        ({"NgayHenTra": "20240230120000"}, "/NgayHenTra"),
        ({"NgayTra": "20251315000000"}, "/NgayTra"),
        ({"NgayHenTra": "20250110170000"}, "/NgayHenTra"),
        ({"MaTTHC": "9.999999"}, "/MaTTHC"),
        ({"MaHoSo": None}, "/MaHoSo"),
        ({"TrangThaiHoSo": "2"}, "/TrangThaiHoSo"),
        ({"Extra": 1}, "/"),
    ],
)
def test_invalid_syncs_are_refused_naming_the_field(
    client: TestClient,
    auth: dict[str, str],
    overrides: dict[str, Any],
    field: str,
) -> None:
    response = client.post("/v1/status-sync", json=sync_body(2, **overrides), headers=auth)
    problem = assert_problem(response, 422, field)
    assert all(error.get("fix") for error in problem["errors"])


def test_an_impossible_date_gets_an_example_of_the_right_form(
    client: TestClient,
    auth: dict[str, str],
) -> None:
    body = sync_body(2, NgayTiepNhan="20240230120000")
    problem = assert_problem(client.post("/v1/status-sync", json=body, headers=auth), 422)
    assert problem["errors"] == [
        {
            "field": "/NgayTiepNhan",
            "message": "'20240230120000' is not a date",
            "fix": "a real date as yyyyMMddHHmmss in Asia/Ho_Chi_Minh, e.g. 20250115143000",
        }
    ]


def test_an_unknown_procedure_lists_where_codes_come_from(
    client: TestClient,
    auth: dict[str, str],
) -> None:
    body = sync_body(2, MaTTHC="9.999999")
    problem = assert_problem(client.post("/v1/status-sync", json=body, headers=auth), 422)
    assert "1.004194" in problem["errors"][0]["fix"]


def test_an_illegal_transition_is_a_conflict(client: TestClient, auth: dict[str, str]) -> None:
    client.post("/v1/status-sync", json=sync_body(2), headers=auth)
    response = client.post("/v1/status-sync", json=sync_body(10), headers=auth)
    problem = assert_problem(response, 409, "/TrangThaiHoSo")
    assert problem["allowed_statuses"] == [2, 4, 5, 6, 7, 8]
    assert "4 (in process)" in problem["errors"][0]["fix"]


def test_a_first_sync_must_use_an_initial_status(client: TestClient, auth: dict[str, str]) -> None:
    response = client.post("/v1/status-sync", json=sync_body(4), headers=auth)
    problem = assert_problem(response, 409, "/TrangThaiHoSo")
    assert problem["allowed_statuses"] == [1, 2, 3]


def test_a_refused_transition_does_not_move_the_dossier(
    client: TestClient,
    auth: dict[str, str],
) -> None:
    client.post("/v1/status-sync", json=sync_body(2), headers=auth)
    client.post("/v1/status-sync", json=sync_body(10), headers=auth)
    assert client.post("/v1/status-sync", json=sync_body(4), headers=auth).status_code == 200


def test_another_agencys_dossier_is_forbidden(client: TestClient, auth: dict[str, str]) -> None:
    body = sync_body(2, DonViXuLy="000.00.02.H29")
    assert_problem(client.post("/v1/status-sync", json=body, headers=auth), 403, "/DonViXuLy")


def test_a_missing_token_is_unauthorized_and_not_recorded(client: TestClient) -> None:
    response = client.post("/v1/status-sync", json=sync_body(2))
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert synced_records(client) == []


def test_a_token_for_another_audience_is_unauthorized(
    client: TestClient,
    make_token: Callable[..., str],
) -> None:
    token = make_token("urn:lienthong:population", "portal.sync", subject=AGENCY, agency_id=AGENCY)
    response = client.post(
        "/v1/status-sync", json=sync_body(2), headers={"Authorization": f"Bearer {token}"}
    )
    assert_problem(response, 401)
    assert synced_records(client) == []


def test_a_token_without_the_scope_is_forbidden_and_recorded(
    client: TestClient,
    make_token: Callable[..., str],
) -> None:
    token = make_token(AUDIENCE, "population.read", subject=AGENCY, agency_id=AGENCY)
    response = client.post(
        "/v1/status-sync", json=sync_body(2), headers={"Authorization": f"Bearer {token}"}
    )
    assert_problem(response, 403)
    [record] = synced_records(client)
    assert record["accepted"] is False
    assert record["problem"]["status"] == 403


def test_refused_syncs_are_recorded_with_their_problem(
    client: TestClient,
    auth: dict[str, str],
) -> None:
    client.post("/v1/status-sync", json=sync_body(2), headers=auth)
    refused = client.post("/v1/status-sync", json=sync_body(10), headers=auth).json()
    client.post("/v1/status-sync", json=sync_body(2, MaTTHC="bad"), headers=auth)
    records = synced_records(client, dossier_code=f"{AGENCY}-250115-0001")
    assert [(r["status"], r["accepted"]) for r in records] == [(2, True), (10, False), (2, False)]
    assert records[1]["problem"] == refused
    assert records[2]["problem"]["status"] == 422
    assert records[2]["payload"]["MaTTHC"] == "bad"


def test_a_body_that_is_not_an_object_is_recorded_as_empty(
    client: TestClient,
    auth: dict[str, str],
) -> None:
    response = client.post(
        "/v1/status-sync", content=b"[1, 2]", headers={**auth, "Content-Type": "application/json"}
    )
    assert_problem(response, 400)
    [record] = synced_records(client)
    assert (record["accepted"], record["payload"], record["agency_id"]) == (False, {}, AGENCY)


def test_admin_syncs_needs_the_admin_token(client: TestClient, auth: dict[str, str]) -> None:
    assert_problem(client.get("/admin/syncs"), 401)
    assert_problem(client.get("/admin/syncs", headers=auth), 401)


def test_admin_syncs_pages_with_after_id_and_limit(
    client: TestClient,
    auth: dict[str, str],
) -> None:
    for status in (2, 4, 5):
        client.post("/v1/status-sync", json=sync_body(status), headers=auth)
    first_id = synced_records(client)[0]["id"]
    page = synced_records(client, after_id=first_id, limit=1)
    assert [r["status"] for r in page] == [4]
    assert synced_records(client, agency_id="someone-else") == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "abc"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "+5"}, "limit"),
        ({"after_id": "-1"}, "after_id"),
        ({"after_id": "9" * 30}, "after_id"),
        ({"agency_id": "x" * 101}, "agency_id"),
    ],
)
def test_admin_syncs_rejects_bad_parameters(
    client: TestClient,
    params: dict[str, str],
    field: str,
) -> None:
    response = client.get("/admin/syncs", headers=ADMIN, params=params)
    assert_problem(response, 400, field)


# -- injected outages (RES-PORTAL-RETRY) ----------------------------------------------------


def test_an_outage_answers_one_agencys_syncs_503_unrecorded_until_it_ends(
    client: TestClient, auth: dict[str, str], make_token: Callable[..., str]
) -> None:
    started = client.put(f"/admin/agencies/{AGENCY}/outage", json={"duration_s": 30}, headers=ADMIN)
    assert started.status_code == 200 and started.json()["remaining_s"] > 29
    down = client.post("/v1/status-sync", json=sync_body(), headers=auth)
    assert down.status_code == 503 and down.headers["Retry-After"] == "1"
    assert down.headers["content-type"].startswith(PROBLEM)
    assert synced_records(client) == []  # the portal was down; it refused nothing
    other = "000.00.02.H29"
    token = make_token(AUDIENCE, "portal.sync", subject=other, agency_id=other)
    body = sync_body(MaHoSo=f"{other}-250115-0001", DonViXuLy=other)
    assert (
        client.post(
            "/v1/status-sync", json=body, headers={"Authorization": f"Bearer {token}"}
        ).status_code
        == 200
    )
    assert client.delete(f"/admin/agencies/{AGENCY}/outage", headers=ADMIN).status_code == 204
    assert client.post("/v1/status-sync", json=sync_body(), headers=auth).status_code == 200


@pytest.mark.parametrize("body", [{}, {"duration_s": 0}, {"duration_s": 61}, {"x": 1}])
def test_a_bad_outage_is_a_422_and_needs_the_admin_token(
    client: TestClient, body: dict[str, Any]
) -> None:
    path = f"/admin/agencies/{AGENCY}/outage"
    response = client.put(path, json=body, headers=ADMIN)
    assert response.status_code == 422 and response.headers["content-type"].startswith(PROBLEM)
    assert client.put(path, json={"duration_s": 1}).status_code == 401
