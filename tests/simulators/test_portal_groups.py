"""Interconnected groups at the portal: one declaration, dossiers released step by step to
their own agencies, the group's status derived from theirs."""

from __future__ import annotations

from typing import Any

import pytest

from simulators.portal import PortalStore
from simulators.portal.groups import derive_group_status
from simulators.portal.outbox import Outbox

FINISHED = frozenset({9, 10})


def test_the_birth_group_releases_residence_and_insurance_after_civil_status(
    groups: Any, portal_store: PortalStore
) -> None:
    group = groups.declare("birth", DuLieuHoSo={"HoTenTre": "Nguyễn Văn Bé"})
    assert group["TrangThaiNhom"] == "in-progress"
    roles = [(m["VaiTro"], m["Buoc"], m["DonViXuLy"]) for m in group["HoSoThanhPhan"]]
    assert roles == [
        ("civil-status", 1, groups.agencies["civil-status"]),
        ("health-insurance", 2, groups.agencies["health-insurance"]),
        ("residence", 2, groups.agencies["residence"]),
    ]
    civil = groups.member(group, "civil-status")
    assert (
        civil["MaHoSo"].startswith(groups.agencies["civil-status"]) and civil["TrangThaiHoSo"] == 1
    )
    assert groups.member(group, "residence")["MaHoSo"] is None
    assert [m["agency_id"] for m in Outbox(portal_store.db).messages()] == [
        groups.agencies["civil-status"]
    ]

    groups.sync(civil, 2, 4)
    assert groups.member(groups.track(group["MaNhom"]), "residence")["MaHoSo"] is None
    groups.sync(civil, 9)
    group = groups.track(group["MaNhom"])
    residence, insurance = (
        groups.member(group, "residence"),
        groups.member(group, "health-insurance"),
    )
    assert residence["MaHoSo"] and insurance["MaHoSo"]
    queued = {(m["agency_id"], m["kind"]) for m in Outbox(portal_store.db).messages()}
    assert queued == {
        (a, "submit")
        for a in (
            groups.agencies["civil-status"],
            groups.agencies["residence"],
            groups.agencies["health-insurance"],
        )
    }

    groups.sync(residence, 2, 4, 9)
    assert groups.track(group["MaNhom"])["TrangThaiNhom"] == "in-progress"
    groups.sync(insurance, 2, 4, 9, 10)
    assert groups.track(group["MaNhom"])["TrangThaiNhom"] == "done"
    groups.sync(civil, 10)  # a re-finish releases nothing twice
    assert len(Outbox(portal_store.db).messages()) == 3


def test_a_refused_birth_registration_stops_the_group(groups: Any) -> None:
    group = groups.declare("birth")
    groups.sync(groups.member(group, "civil-status"), 3)
    group = groups.track(group["MaNhom"])
    assert group["TrangThaiNhom"] == "refused"
    assert groups.member(group, "residence")["MaHoSo"] is None


def test_the_death_group_routes_benefits_by_case(groups: Any) -> None:
    group = groups.declare(
        "death", ThuTucChon=["funeral-allowance", "survivor-benefit"], DoiTuong="merit"
    )
    assert len(group["HoSoThanhPhan"]) == 4
    groups.sync(groups.member(group, "civil-status"), 2, 4, 9)
    group = groups.track(group["MaNhom"])
    assert (
        groups.member(group, "funeral-allowance")["DonViXuLy"]
        == groups.agencies["labour-social-affairs"]
    )
    assert (
        groups.member(group, "survivor-benefit")["DonViXuLy"]
        == groups.agencies["labour-social-affairs"]
    )
    groups.sync(groups.member(group, "residence"), 2, 4, 9)
    groups.sync(groups.member(group, "funeral-allowance"), 2, 4, 9)
    groups.sync(groups.member(group, "survivor-benefit"), 3)
    assert groups.track(group["MaNhom"])["TrangThaiNhom"] == "partly-refused"


def test_the_smallest_death_group_has_two_procedures_and_insured_go_to_social_security(
    groups: Any,
) -> None:
    assert len(groups.declare("death")["HoSoThanhPhan"]) == 2
    group = groups.declare("death", ThuTucChon=["funeral-allowance"], DoiTuong="insured")
    assert (
        groups.member(group, "funeral-allowance")["DonViXuLy"] == groups.agencies["social-security"]
    )


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
    groups: Any, extra: dict[str, Any], field: str
) -> None:
    response = groups.client.post("/v1/citizen/groups", json=groups.body("death", **extra))
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_the_same_idempotency_key_returns_the_same_group(
    groups: Any, portal_store: PortalStore
) -> None:
    body, headers = groups.body("birth"), {"Idempotency-Key": "birth-42"}
    first = groups.client.post("/v1/citizen/groups", json=body, headers=headers)
    again = groups.client.post("/v1/citizen/groups", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["MaNhom"] == again.json()["MaNhom"]
    assert len(Outbox(portal_store.db).messages()) == 1


def test_an_unknown_group_is_a_404(groups: Any) -> None:
    assert groups.client.get("/v1/citizen/groups/NHOM.BIRTH-250101-0001").status_code == 404


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
