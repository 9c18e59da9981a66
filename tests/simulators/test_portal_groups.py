"""Interconnected groups at the portal: one declaration, dossiers released step by step to
their own agencies, the group's status derived from theirs."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pytest
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

from simulators.portal import PortalStore
from simulators.portal.groups import derive_group_status
from simulators.portal.outbox import Outbox

ADMIN = {"Authorization": "Bearer admin"}
AGENCIES = {
    "civil-status": "000.00.10.H29",
    "residence": "000.00.11.H29",
    "health-insurance": "000.00.12.H29",
    "social-security": "000.00.12.H29",
    "labour-social-affairs": "000.00.13.H29",
}
DECLARANT = {"SoDinhDanh": "001090000001", "HoVaTen": "Nguyễn Văn An", "NgaySinh": "19900101"}
FINISHED = frozenset({9, 10})


@pytest.fixture
def client(portal_client: Callable[[dict[str, str]], TestClient]) -> TestClient:
    return portal_client({a: f"http://{a}.test" for a in set(AGENCIES.values())})


@pytest.fixture
def sync(client: TestClient, make_token: Callable[..., str]) -> Callable[..., None]:
    """Sync a member's statuses as its own agency would."""

    def run(member: dict[str, Any], *statuses: int) -> None:
        agency = member["DonViXuLy"]
        token = make_token("urn:lienthong:portal", "portal.sync", subject=agency, agency_id=agency)
        for status in statuses:
            payload = {
                "MaHoSo": member["MaHoSo"],
                "MaTTHC": member["MaTTHC"],
                "TrangThaiHoSo": status,
                "NgayTiepNhan": f"20{member['MaHoSo'].split('-')[1]}080000",
                "DonViXuLy": agency,
            }
            response = client.post(
                "/v1/status-sync", json=payload, headers={"Authorization": f"Bearer {token}"}
            )
            assert response.status_code == 200, response.text

    return run


def declare(client: TestClient, kind: str, **extra: Any) -> dict[str, Any]:
    body = {"NhomLienThong": kind, "ChuHoSo": DECLARANT, "CoQuan": AGENCIES, **extra}
    response = client.post("/v1/citizen/groups", json=body)
    assert response.status_code == 201, response.text
    group: dict[str, Any] = response.json()
    return group


def track(client: TestClient, code: str) -> dict[str, Any]:
    response = client.get(f"/v1/citizen/groups/{code}")
    assert response.status_code == 200, response.text
    group: dict[str, Any] = response.json()
    return group


def member(group: dict[str, Any], role: str) -> dict[str, Any]:
    return next(m for m in group["HoSoThanhPhan"] if m["VaiTro"] == role)


def test_the_birth_group_releases_residence_and_insurance_after_civil_status(
    client: TestClient, portal_store: PortalStore, sync: Callable[..., None]
) -> None:
    group = declare(client, "birth", DuLieuHoSo={"HoTenTre": "Nguyễn Văn Bé"})
    assert group["TrangThaiNhom"] == "in-progress"
    roles = [(m["VaiTro"], m["Buoc"], m["DonViXuLy"]) for m in group["HoSoThanhPhan"]]
    assert roles == [
        ("civil-status", 1, AGENCIES["civil-status"]),
        ("health-insurance", 2, AGENCIES["health-insurance"]),
        ("residence", 2, AGENCIES["residence"]),
    ]
    civil = member(group, "civil-status")
    assert civil["MaHoSo"].startswith(AGENCIES["civil-status"]) and civil["TrangThaiHoSo"] == 1
    assert member(group, "residence")["MaHoSo"] is None
    assert [m["agency_id"] for m in Outbox(portal_store.db).messages()] == [
        AGENCIES["civil-status"]
    ]

    sync(civil, 2, 4)
    assert member(track(client, group["MaNhom"]), "residence")["MaHoSo"] is None
    sync(civil, 9)
    group = track(client, group["MaNhom"])
    residence, insurance = member(group, "residence"), member(group, "health-insurance")
    assert residence["MaHoSo"] and insurance["MaHoSo"]
    queued = {(m["agency_id"], m["kind"]) for m in Outbox(portal_store.db).messages()}
    assert queued == {
        (a, "submit")
        for a in (AGENCIES["civil-status"], AGENCIES["residence"], AGENCIES["health-insurance"])
    }

    sync(residence, 2, 4, 9)
    assert track(client, group["MaNhom"])["TrangThaiNhom"] == "in-progress"
    sync(insurance, 2, 4, 9, 10)
    assert track(client, group["MaNhom"])["TrangThaiNhom"] == "done"
    sync(civil, 10)  # a re-finish releases nothing twice
    assert len(Outbox(portal_store.db).messages()) == 3


def test_a_refused_birth_registration_stops_the_group(
    client: TestClient, sync: Callable[..., None]
) -> None:
    group = declare(client, "birth")
    sync(member(group, "civil-status"), 3)
    group = track(client, group["MaNhom"])
    assert group["TrangThaiNhom"] == "refused"
    assert member(group, "residence")["MaHoSo"] is None


def test_the_death_group_routes_benefits_by_case(
    client: TestClient, sync: Callable[..., None]
) -> None:
    group = declare(
        client, "death", ThuTucChon=["funeral-allowance", "survivor-benefit"], DoiTuong="merit"
    )
    assert len(group["HoSoThanhPhan"]) == 4
    sync(member(group, "civil-status"), 2, 4, 9)
    group = track(client, group["MaNhom"])
    assert member(group, "funeral-allowance")["DonViXuLy"] == AGENCIES["labour-social-affairs"]
    assert member(group, "survivor-benefit")["DonViXuLy"] == AGENCIES["labour-social-affairs"]
    sync(member(group, "residence"), 2, 4, 9)
    sync(member(group, "funeral-allowance"), 2, 4, 9)
    sync(member(group, "survivor-benefit"), 3)
    assert track(client, group["MaNhom"])["TrangThaiNhom"] == "partly-refused"


def test_the_smallest_death_group_has_two_procedures_and_insured_go_to_social_security(
    client: TestClient,
) -> None:
    assert len(declare(client, "death")["HoSoThanhPhan"]) == 2
    group = declare(client, "death", ThuTucChon=["funeral-allowance"], DoiTuong="insured")
    assert member(group, "funeral-allowance")["DonViXuLy"] == AGENCIES["social-security"]


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"ThuTucChon": ["survivor-benefit"]}, "/DoiTuong"),
        (
            {
                "ThuTucChon": ["survivor-benefit"],
                "DoiTuong": "merit",
                "CoQuan": {"civil-status": "000.00.10.H29", "residence": "000.00.11.H29"},
            },
            "/CoQuan/labour-social-affairs",
        ),
        ({"CoQuan": {"civil-status": "000.00.99.H29"}}, "/CoQuan/civil-status"),
    ],
)
def test_a_declaration_names_what_is_missing(
    client: TestClient, extra: dict[str, Any], field: str
) -> None:
    body = {"NhomLienThong": "death", "ChuHoSo": DECLARANT, "CoQuan": AGENCIES, **extra}
    response = client.post("/v1/citizen/groups", json=body)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_the_same_idempotency_key_returns_the_same_group(
    client: TestClient, portal_store: PortalStore
) -> None:
    body = {"NhomLienThong": "birth", "ChuHoSo": DECLARANT, "CoQuan": AGENCIES}
    headers = {"Idempotency-Key": "birth-42"}
    first = client.post("/v1/citizen/groups", json=body, headers=headers)
    again = client.post("/v1/citizen/groups", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["MaNhom"] == again.json()["MaNhom"]
    assert len(Outbox(portal_store.db).messages()) == 1


def test_an_unknown_group_is_a_404(client: TestClient) -> None:
    assert client.get("/v1/citizen/groups/NHOM.BIRTH-250101-0001").status_code == 404


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([1, None, None], "in-progress"),
        ([9, 10, 9], "done"),
        ([9, 4, None], "in-progress"),
        ([3, None, None], "refused"),
        ([9, 9, 3], "partly-refused"),
        ([9, 8, 4], "partly-refused"),
        ([7, None], "withdrawn"),
        ([9, 7], "partly-withdrawn"),
        ([9, 7, None], "partly-withdrawn"),
        ([4, 7], "in-progress"),
    ],
)
def test_the_group_status_is_derived(statuses: list[int | None], expected: str) -> None:
    assert derive_group_status(statuses, FINISHED) == expected
