"""The legacy adapter: session login with dstcode, then DongBoHoSoMC, CapNhatTienDoHoSoMC,
TraCuuHoSo and LayThuTuc — same validation as the REST API, its own error format."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

from simulators.common.tokens import TokenVerifier
from simulators.portal import PortalStore, create_app

AGENCY = "000.00.01.H29"
OTHER = "000.00.02.H29"
ADMIN = {"Authorization": "Bearer admin"}
DST = {"dstcode": "DVCQG"}
CODE = f"{AGENCY}-250115-0001"


@pytest.fixture
def client(database_url: str, verifier_for: Callable[[str], TokenVerifier]) -> Iterator[TestClient]:
    store = PortalStore(database_url)
    app = create_app(
        store=store, verifier=verifier_for("urn:lienthong:portal"), admin_token="admin"
    )
    client = TestClient(app)
    for user, agency in (("hcm-igate", AGENCY), ("other", OTHER)):
        account = {"username": user, "secret": "s3cret-pass", "agency_id": agency}
        assert client.post("/admin/legacy-accounts", json=account, headers=ADMIN).status_code == 200
    yield client
    store.close()


def login(client: TestClient, user: str = "hcm-igate") -> str:
    answer = client.post(
        "/legacy/auth", json={"username": user, "secret": "s3cret-pass"}, headers=DST
    ).json()
    assert answer["error_code"] == 0, answer
    return str(answer["session"])


def call(client: TestClient, service: str, session: str, **body: Any) -> dict[str, Any]:
    madonvi = body.pop("madonvi", AGENCY)
    envelope = {"session": session, "madonvi": madonvi, "service": service, **body}
    response = client.post("/legacy/integration", json=envelope, headers=DST)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    answer: dict[str, Any] = response.json()
    return answer


def item(status: int = 2, **overrides: Any) -> dict[str, Any]:
    data = {
        "MaHoSo": CODE,
        "MaTTHC": "1.004194",
        "TrangThaiHoSo": status,
        "NgayTiepNhan": "20250115083000",
        "NgayHenTra": "20250120170000",
        "SoBienNhan": "BN-0001",
        "LoaiDoiTuong": 1,
        "MaDoiTuong": "001090000001",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_login_needs_the_right_secret_and_dstcode(client: TestClient) -> None:
    wrong = {"username": "hcm-igate", "secret": "nope-nope"}
    assert client.post("/legacy/auth", json=wrong, headers=DST).json()["error_code"] == 2
    body = {"username": "hcm-igate", "secret": "s3cret-pass"}
    missing = client.post("/legacy/auth", json=body).json()
    assert missing["error_code"] == 2 and missing["errors"][0]["field"] == "dstcode"
    assert client.post("/legacy/auth", json=body, headers=DST).json()["madonvi"] == AGENCY


def test_sessions_are_checked_and_bound_to_their_agency(client: TestClient) -> None:
    assert call(client, "LayDanhSachTTHC", "forged")["error_code"] == 3
    session = login(client)
    assert call(client, "LayDanhSachTTHC", session, madonvi=OTHER)["error_code"] == 4
    assert call(client, "XoaHoSo", session)["error_code"] == 5


def test_dongbohoso_syncs_like_the_rest_api(client: TestClient) -> None:
    session = login(client)
    first = call(client, "DongBoHoSoMC", session, isUpdating=False, data=[item(2)])
    assert first["error_code"] == 0, first
    update = call(client, "DongBoHoSoMC", session, isUpdating="true", data=[item(4)])
    assert update["error_code"] == 0, update
    records = client.get("/admin/syncs", headers=ADMIN, params={"dossier_code": CODE}).json()
    assert [(r["status"], r["channel"], r["client_id"]) for r in records["records"]] == [
        (2, "legacy", "hcm-igate"),
        (4, "legacy", "hcm-igate"),
    ]
    assert records["records"][0]["payload"]["DonViXuLy"] == AGENCY  # filled from madonvi


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"NgayTiepNhan": "2025-01-15T08:30:00+07:00"}, "/data/0/NgayTiepNhan"),
        ({"NgayHenTra": "20250230170000"}, "/data/0/NgayHenTra"),
        ({"MaTTHC": "9.999999"}, "/data/0/MaTTHC"),
        ({"TrangThaiHoSo": 9}, "/data/0/TrangThaiHoSo"),
        ({"DonViXuLy": OTHER}, "/data/0/DonViXuLy"),
        ({"MaHoSo": None}, "/data/0/MaHoSo"),
    ],
)
def test_invalid_items_are_refused_naming_the_field(
    client: TestClient, overrides: dict[str, Any], field: str
) -> None:
    answer = call(client, "DongBoHoSoMC", login(client), data=[item(2, **overrides)])
    assert answer["error_code"] == 6
    [result] = answer["results"]
    assert field in [e["field"] for e in result["errors"]], result
    assert all(e.get("fix") for e in result["errors"])
    [record] = client.get("/admin/syncs", headers=ADMIN).json()["records"]
    assert record["accepted"] is False and record["channel"] == "legacy"


def test_duplicates_are_refused(client: TestClient) -> None:
    session = login(client)
    twice = call(client, "DongBoHoSoMC", session, isUpdating=False, data=[item(2), item(2)])
    assert [r["error_code"] for r in twice["results"]] == [0, 6]
    assert twice["results"][1]["errors"][0]["field"] == "/data/1/MaHoSo"
    again = call(client, "DongBoHoSoMC", session, isUpdating=False, data=[item(2)])
    assert "isUpdating true" in again["results"][0]["errors"][0]["fix"]
    unknown = item(2, MaHoSo=f"{AGENCY}-250115-0009")
    assert call(client, "DongBoHoSoMC", session, isUpdating=True, data=[unknown])["error_code"] == 6
    # Another agency cannot claim a code that is already someone else's dossier.
    stolen = item(2, DonViXuLy=OTHER)
    other = call(client, "DongBoHoSoMC", login(client, "other"), madonvi=OTHER, data=[stolen])
    assert "already belongs" in other["results"][0]["errors"][0]["message"]


def test_progress_steps_are_recorded_once_and_looked_up(client: TestClient) -> None:
    session = login(client)
    call(client, "DongBoHoSoMC", session, data=[item(2)])
    step = {
        "MaHoSo": CODE,
        "NguoiXuLy": "Trần Thị B",
        "ChucDanh": "Chuyên viên",
        "ThoiDiemXuLy": "20250116090000",
        "PhongBanXuLy": "Bộ phận một cửa",
        "NoiDungXuLy": "Chuyển xử lý",
        "TrangThai": 1,
        "NgayBatDau": "20250116090000",
        "NgayKetThucTheoQuyDinh": "20250120170000",
    }
    assert call(client, "CapNhatTienDoHoSoMC", session, data=[step])["error_code"] == 0
    repeated = call(client, "CapNhatTienDoHoSoMC", session, data=[step])
    assert repeated["error_code"] == 6
    bad = call(client, "CapNhatTienDoHoSoMC", session, data=[{**step, "ThoiDiemXuLy": "x"}])
    assert bad["results"][0]["errors"][0]["field"] == "/data/0/ThoiDiemXuLy"
    found = call(client, "TraCuuHoSo", session, MaHoSo=CODE)
    assert found["data"]["TrangThaiHoSo"] == 2 and len(found["data"]["TienDo"]) == 1
    hidden = call(client, "TraCuuHoSo", login(client, "other"), madonvi=OTHER, MaHoSo=CODE)
    assert hidden["error_code"] == 7


def test_lay_thu_tuc_serves_the_catalogue(client: TestClient) -> None:
    session = login(client)
    one = call(client, "LayThuTuc", session, MaTTHC="1.004194")
    assert one["data"]["ThoiHanGiaiQuyet"] == 3
    assert call(client, "LayThuTuc", session, MaTTHC="9.999999")["error_code"] == 7
    assert len(call(client, "LayThuTuc", session)["data"]) >= 25


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[1, 2]",
        b'{"session": 5}',
        b'{"session": "x", "madonvi": "' + b"9" * 5000 + b'", "service": "LayThuTuc"}',
        b"\xff\xfe",
        b'{"session": "x", "madonvi": null, "service": []}',
    ],
)
def test_malformed_envelopes_get_the_adapters_own_error(client: TestClient, body: bytes) -> None:
    for path in ("/legacy/auth", "/legacy/integration"):
        response = client.post(path, content=body, headers=DST)
        assert response.status_code == 200
        answer = response.json()
        assert answer["error_code"] != 0 and answer["message"]
        assert "Traceback" not in response.text


def test_malformed_batches_get_the_adapters_own_error(client: TestClient) -> None:
    session = login(client)
    assert call(client, "DongBoHoSoMC", session, data=[])["error_code"] == 1
    assert call(client, "DongBoHoSoMC", session, data="x")["error_code"] == 1
    assert (
        call(client, "DongBoHoSoMC", session, isUpdating="maybe", data=[item()])["error_code"] == 1
    )
    answer = call(client, "DongBoHoSoMC", session, data=[7])
    assert answer["results"][0]["errors"][0]["field"] == "/data/0"
