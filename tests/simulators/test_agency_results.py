"""The reference agency finishing a dossier when the form asks (`DuLieuHoSo.XuLyNgay`):
4 → 9 → 10 with the result, after any supplement or payment; and the three faults that get
timestamps, due dates and results wrong — seen, as the harness sees them, in the portal's
sync log."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import pytest

from simulators.agencies.catalogue import FAULTS, REFERENCE
from simulators.agencies.processing import _calendar_due
from simulators.common.clock import VN_TZ, add_working_days, parse_dvc
from simulators.identity.credentials import issue_credentials
from simulators.sandbox import Sandbox

pytestmark = pytest.mark.slow

_FAULTS = ("utc-timestamps", "calendar-day-deadlines", "result-without-documents")
_AGENCIES = {
    "reference": ("000.00.71.H29", REFERENCE),
    **{name: (f"000.00.{72 + i}.H29", FAULTS[name].behaviour) for i, name in enumerate(_FAULTS)},
}
_serial = itertools.count(1)
_POLL_S = 10.0
_SUPPLEMENT = {"NgayBoSung": "20250116090000", "TaiLieuNop": [{"TenTepDinhKem": "giay-to.pdf"}]}


@dataclass
class World:
    sandbox: Sandbox
    http: httpx.Client
    urls: dict[str, str]
    citizen: dict[str, Any]

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.sandbox.info.admin_token}"}

    def token(self, name: str) -> dict[str, str]:
        response = self.http.post(
            f"{self.sandbox.info.identity_url}/admin/tokens",
            headers=self.admin,
            json={
                "audience": f"urn:lienthong:agency:{_AGENCIES[name][0]}",
                "scope": "dossier.submit dossier.read",
            },
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    def submit(self, name: str, **form: Any) -> str:
        code = f"{_AGENCIES[name][0]}-250115-{next(_serial):04d}"
        body = {
            "MaHoSo": code,
            "MaTTHC": "1.004194",
            "NgayNopHoSo": "20250115143000",
            "KenhNop": 2,
            "TrichYeuHoSo": "Đăng ký tạm trú",
            "ChuHoSo": {
                "SoDinhDanh": self.citizen["pin"],
                "HoVaTen": self.citizen["full_name"],
                "NgaySinh": self.citizen["date_of_birth"].replace("-", ""),
            },
            "DuLieuHoSo": {"ThoiHanTamTru": 12, **form},
        }
        response = self.http.post(
            f"{self.urls[name]}/dossiers", json=body, headers=self.token(name)
        )
        assert response.status_code == 202, response.text
        return code

    def act(self, name: str, code: str, path: str, body: dict[str, Any], **headers: str) -> int:
        response = self.http.post(
            f"{self.urls[name]}/dossiers/{code}/{path}",
            json=body,
            headers={**self.token(name), **headers},
        )
        assert response.status_code == 202, response.text
        return int(response.json()["TrangThaiHoSo"])

    def syncs(self, code: str) -> list[dict[str, Any]]:
        response = self.http.get(
            f"{self.sandbox.info.portal_url}/admin/syncs",
            headers=self.admin,
            params={"dossier_code": code},
        )
        assert response.status_code == 200, response.text
        records: list[dict[str, Any]] = response.json()["records"]
        return records

    def syncs_until(self, code: str, last: int) -> list[dict[str, Any]]:
        """The dossier's sync log once its last record has status `last` (or the timeout)."""
        deadline = time.monotonic() + _POLL_S
        while True:
            records = self.syncs(code)
            if (records and records[-1]["status"] == last) or time.monotonic() > deadline:
                return records
            time.sleep(0.05)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    state_dir = tmp_path_factory.mktemp("sandbox")
    with (
        Sandbox(state_dir, population_size=50, seed=11) as sandbox,
        httpx.Client(timeout=10.0) as http,
    ):
        urls = {
            name: sandbox.start_agency(
                issue_credentials(state_dir, agency_id), behaviour=behaviour, name=name
            ).url
            for name, (agency_id, behaviour) in _AGENCIES.items()
        }
        sample = http.get(
            f"{sandbox.info.population_url}/admin/citizens/sample",
            params={"count": 1},
            headers={"Authorization": f"Bearer {sandbox.info.admin_token}"},
        )
        assert sample.status_code == 200, sample.text
        yield World(sandbox, http, urls, sample.json()["citizens"][0])


def _statuses(records: list[dict[str, Any]]) -> list[tuple[int, bool]]:
    return [(r["status"], r["accepted"]) for r in records]


def _by_status(records: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {r["status"]: r["payload"] for r in records}


# -- the reference agency finishes a dossier --------------------------------------------------


def test_the_flag_finishes_the_dossier_with_its_result(world: World) -> None:
    code = world.submit("reference", XuLyNgay=True)
    records = world.syncs_until(code, 10)
    assert _statuses(records) == [(2, True), (4, True), (9, True), (10, True)]
    payloads = _by_status(records)
    ready, delivered = payloads[9], payloads[10]
    assert ready["DanhSachGiayToKetQua"] == delivered["DanhSachGiayToKetQua"]
    [document] = ready["DanhSachGiayToKetQua"]
    assert document["TenGiayTo"].startswith("Thông báo về kết quả giải quyết")
    assert document["SoKyHieu"] == f"{code.rsplit('-', 1)[1]}/TB-000.00.71.H29"
    assert document["NgayBanHanh"] == ready["NgayKetThucXuLy"] == delivered["NgayKetThucXuLy"]
    assert "NgayTra" not in ready
    assert delivered["HinhThuc"] == 2 and delivered["ThongTinTra"]
    assert delivered["NgayTra"] >= delivered["NgayKetThucXuLy"] >= delivered["NgayTiepNhan"]


def test_without_the_flag_the_dossier_stays_in_process(world: World) -> None:
    code = world.submit("reference")
    records = world.syncs_until(code, 4)
    time.sleep(0.5)  # room for a wrong 9 to arrive
    assert _statuses(world.syncs(code)) == _statuses(records) == [(2, True), (4, True)]


def test_a_supplement_asked_for_comes_before_the_result(world: World) -> None:
    code = world.submit("reference", XuLyNgay=True, ThieuGiayTo=True)
    assert _statuses(world.syncs_until(code, 5)) == [(2, True), (5, True)]
    key = {"Idempotency-Key": f"supplement:{code}"}
    assert world.act("reference", code, "supplements", _SUPPLEMENT, **key) == 4
    records = world.syncs_until(code, 10)
    assert _statuses(records) == [(2, True), (5, True), (4, True), (9, True), (10, True)]


def test_an_online_payment_asked_for_comes_before_the_result(world: World) -> None:
    code = world.submit("reference", XuLyNgay=True, ThanhToanTrucTuyen=True)
    assert _statuses(world.syncs_until(code, 6)) == [(2, True), (6, True)]
    payment = {
        "MaGiaoDich": f"GD-{code}",
        "SoTien": 15000,
        "NgayThanhToan": "20250116090000",
        "HinhThucThu": 2,
    }
    assert world.act("reference", code, "payments", payment) == 4
    records = world.syncs_until(code, 10)
    assert _statuses(records) == [(2, True), (6, True), (4, True), (9, True), (10, True)]
    # The fee paid is reported with the result too.
    assert _by_status(records)[10]["DanhSachLePhi"][0]["Gia"] == 15000


def test_a_withdrawal_while_waiting_means_no_result(world: World) -> None:
    code = world.submit("reference", XuLyNgay=True, ThieuGiayTo=True)
    world.syncs_until(code, 5)
    assert world.act("reference", code, "withdrawal", {"LyDo": "Không còn nhu cầu"}) == 7
    records = world.syncs_until(code, 7)
    time.sleep(0.5)
    assert _statuses(world.syncs(code)) == _statuses(records) == [(2, True), (5, True), (7, True)]


# -- the faults ------------------------------------------------------------------------------


def test_result_without_documents_delivers_but_lists_nothing(world: World) -> None:
    code = world.submit("result-without-documents", XuLyNgay=True)
    records = world.syncs_until(code, 10)
    assert _statuses(records) == [(2, True), (4, True), (9, True), (10, True)]
    assert not any("DanhSachGiayToKetQua" in r["payload"] for r in records)
    assert _by_status(records)[10]["NgayTra"]  # everything else is there


def test_utc_timestamps_put_ngay_cap_nhat_seven_hours_behind(world: World) -> None:
    code = world.submit("utc-timestamps")
    records = world.syncs_until(code, 4)
    assert _statuses(records) == [(2, True), (4, True)]  # the portal still accepts them
    for record in records:
        received = datetime.fromisoformat(record["received_at"])
        behind = received - parse_dvc(record["payload"]["NgayCapNhat"])
        assert timedelta(hours=6, minutes=50) < behind < timedelta(hours=7, minutes=10)
        assert abs(received - parse_dvc(record["payload"]["NgayTiepNhan"])) < timedelta(minutes=1)


def test_calendar_day_deadlines_sync_an_early_due_date(world: World) -> None:
    code = world.submit("calendar-day-deadlines")
    records = world.syncs_until(code, 4)
    assert _statuses(records) == [(2, True), (4, True)]
    payload = records[0]["payload"]
    received = parse_dvc(payload["NgayTiepNhan"])
    assert payload["NgayHenTra"][:8] == (received.date() + timedelta(days=2)).strftime("%Y%m%d")
    assert payload["NgayHenTra"][:8] != add_working_days(received, 3).strftime("%Y%m%d")


@pytest.mark.parametrize("days", [1, 2, 3, 5, 7, 15])
def test_the_calendar_day_fault_differs_on_every_day_and_hour(days: int) -> None:
    """Whatever day and time the catalogue runs, the fault's due day is wrong — so
    SYNC-DUE-DATE catches it on a Monday morning too (plain calendar days would not)."""
    day = date(2025, 1, 1)
    while day.year < 2027:
        for hour, minute in ((0, 0), (8, 0), (14, 59), (15, 0), (17, 0), (17, 30), (23, 59)):
            received = datetime(day.year, day.month, day.day, hour, minute, tzinfo=VN_TZ)
            wrong, right = _calendar_due(received, days), add_working_days(received, days)
            assert wrong.date() != right.date(), received
            assert wrong >= received  # so the portal still accepts the sync
        day += timedelta(days=1)
