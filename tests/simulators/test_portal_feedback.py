"""Feedback: the citizen files it, only the agency it is addressed to answers it, the
citizen sees the answer, and a late answer costs the agency in the 766 index (5.2)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

from simulators.common.clock import VN_TZ
from simulators.population.clock import SimClock

AGENCY = "000.00.01.H29"
OTHER = "000.00.02.H29"
PROBLEM = "application/problem+json"
APPLICANT = {"SoDinhDanh": "001090000001", "HoVaTen": "Nguyễn Văn An", "NgaySinh": "19900101"}


@pytest.fixture
def client(portal_client: Callable[..., TestClient]) -> TestClient:
    return portal_client({AGENCY: "http://agency.test", OTHER: "http://other.test"})


@pytest.fixture
def as_agency(make_token: Callable[..., str]) -> Callable[..., dict[str, str]]:
    def headers(agency: str = AGENCY, scope: str = "portal.sync") -> dict[str, str]:
        token = make_token("urn:lienthong:portal", scope, subject=agency, agency_id=agency)
        return {"Authorization": f"Bearer {token}"}

    return headers


def file(client: TestClient, **extra: Any) -> int:
    body = {"DonViXuLy": AGENCY, "LoaiPhanAnh": "complaint", "NoiDung": "Chậm trả kết quả"}
    response = client.post("/v1/citizen/feedback", json=body | extra)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def answer(
    client: TestClient, headers: dict[str, str], feedback_id: int | str, text: Any = "Đã xử lý"
) -> Any:
    return client.post(f"/v1/feedback/{feedback_id}/answer", json={"TraLoi": text}, headers=headers)


def assert_problem(response: Any, status: int, field: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    errors = response.json()["errors"]
    assert field in [e["field"] for e in errors] and all(e.get("fix") for e in errors)


def vn(day: str, hour: int = 9) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=VN_TZ)


def test_the_agency_answers_and_the_citizen_sees_it(
    client: TestClient, as_agency: Callable[..., dict[str, str]]
) -> None:
    submitted = client.post(
        "/v1/citizen/dossiers",
        json={"MaTTHC": "1.004194", "DonViXuLy": AGENCY, "ChuHoSo": APPLICANT},
    ).json()
    feedback_id = file(client, MaHoSo=submitted["MaHoSo"])
    open_ = client.get(f"/v1/citizen/feedback/{feedback_id}").json()
    assert (open_["TrangThai"], open_["TraLoi"], open_["QuaHan"]) == ("open", None, False)

    answered = answer(client, as_agency(), feedback_id)
    assert answered.status_code == 200, answered.text
    view = client.get(f"/v1/citizen/feedback/{feedback_id}").json()
    assert (view["TrangThai"], view["TraLoi"]) == ("answered", "Đã xử lý")
    assert view == answered.json() and len(view["NgayTraLoi"]) == 14
    dossier = client.get(f"/v1/citizen/dossiers/{submitted['MaHoSo']}").json()
    assert [(f["id"], f["TraLoi"]) for f in dossier["PhanAnh"]] == [(feedback_id, "Đã xử lý")]


def test_an_answer_is_final_and_a_repeat_is_harmless(
    client: TestClient, as_agency: Callable[..., dict[str, str]]
) -> None:
    feedback_id = file(client)
    first = answer(client, as_agency(), feedback_id)
    again = answer(client, as_agency(), feedback_id)
    assert (first.status_code, again.status_code) == (200, 200)
    assert first.json()["NgayTraLoi"] == again.json()["NgayTraLoi"]
    assert_problem(answer(client, as_agency(), feedback_id, "Khác"), 409, "/TraLoi")


def test_only_the_agency_it_is_addressed_to_may_answer(
    client: TestClient, as_agency: Callable[..., dict[str, str]]
) -> None:
    feedback_id = file(client)
    assert_problem(answer(client, as_agency(OTHER), feedback_id), 403, "feedback_id")
    assert answer(client, {}, feedback_id).status_code == 401
    no_scope = answer(client, as_agency(scope="dossier.read"), feedback_id)
    assert no_scope.status_code == 403 and no_scope.headers["content-type"] == PROBLEM
    assert client.get(f"/v1/citizen/feedback/{feedback_id}").json()["TrangThai"] == "open"


@pytest.mark.parametrize(
    ("path_id", "text", "status", "field"),
    [
        ("1", "", 422, "/TraLoi"),
        ("1", "   ", 422, "/TraLoi"),
        ("1", 42, 422, "/TraLoi"),
        ("x1", "Đã xử lý", 400, "feedback_id"),
        ("99999999999999999999", "Đã xử lý", 400, "feedback_id"),
        ("999", "Đã xử lý", 404, "feedback_id"),
    ],
)
def test_bad_answers_name_the_field(
    client: TestClient,
    as_agency: Callable[..., dict[str, str]],
    path_id: str,
    text: Any,
    status: int,
    field: str,
) -> None:
    file(client)
    assert_problem(answer(client, as_agency(), path_id, text), status, field)


def test_an_unknown_feedback_is_a_404_for_the_citizen(client: TestClient) -> None:
    assert_problem(client.get("/v1/citizen/feedback/7"), 404, "feedback_id")


def test_the_agency_lists_its_own_open_and_answered_feedback(
    client: TestClient, as_agency: Callable[..., dict[str, str]]
) -> None:
    first, second = file(client), file(client)
    theirs = file(client, DonViXuLy=OTHER)
    answer(client, as_agency(), first)

    def listed(**params: Any) -> list[int]:
        response = client.get("/v1/feedback", params=params, headers=as_agency())
        assert response.status_code == 200, response.text
        return [f["id"] for f in response.json()["feedback"]]

    assert listed() == [first, second] and theirs not in listed()
    assert listed(state="open") == [second]
    assert listed(state="answered") == [first]
    assert listed(after_id=first) == [second]
    bad = client.get("/v1/feedback", params={"state": "late"}, headers=as_agency())
    assert_problem(bad, 400, "state")


def test_a_late_answer_counts_against_the_agency(
    client: TestClient, portal_clock: SimClock, as_agency: Callable[..., dict[str, str]]
) -> None:
    portal_clock.set(vn("2025-03-03"))  # a Monday: due 10 working days later, 17 March
    late, on_time, pending = file(client), file(client), file(client)
    assert client.get(f"/v1/citizen/feedback/{late}").json()["NgayHenTraLoi"] == "20250317170000"
    portal_clock.set(vn("2025-03-17", 16))
    answer(client, as_agency(), on_time)
    portal_clock.set(vn("2025-03-18"))
    late_view = answer(client, as_agency(), late).json()
    assert late_view["QuaHan"] is True
    assert client.get(f"/v1/citizen/feedback/{on_time}").json()["QuaHan"] is False
    # Unanswered past its deadline: overdue too, and judged by the index.
    assert client.get(f"/v1/citizen/feedback/{pending}").json()["QuaHan"] is True
    [index] = client.get("/v1/index-766", params={"agency_id": AGENCY}).json()["agencies"]
    handled = next(row for row in index["indicators"] if row["id"] == "5.2")
    assert (handled["numerator"], handled["denominator"]) == (1, 3)


def test_feedback_not_yet_due_is_not_judged(
    client: TestClient, portal_clock: SimClock, as_agency: Callable[..., dict[str, str]]
) -> None:
    portal_clock.set(vn("2025-03-03"))
    answer(client, as_agency(), file(client))
    file(client)  # open, and still within its 10 working days
    [index] = client.get("/v1/index-766", params={"agency_id": AGENCY}).json()["agencies"]
    handled = next(row for row in index["indicators"] if row["id"] == "5.2")
    assert (handled["numerator"], handled["denominator"]) == (1, 1)
