"""The judging functions of SYNC-TIMESTAMPS, SYNC-DUE-DATE and SYNC-RESULT, over hand-built
sync records (the portal's SyncRecord shape): cheap, and each rule seen to fail."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from harness.checks.sync import (
    DueDateClaim,
    due_date_claims,
    due_date_issues,
    order_issues,
    parse_stamp,
    result_documents,
    result_issues,
    zone_issues,
)

RECEIVED = "20250115143000"  # NgayTiepNhan of every dossier here


def record(
    status: int, at: str = "2025-01-15T14:30:05.000+07:00", accepted: bool = True, **payload: Any
) -> dict[str, Any]:
    """A sync record as GET /admin/syncs returns it; `payload` overrides the sync's fields."""
    body = {
        "MaHoSo": "000.00.01.H29-250115-0001",
        "MaTTHC": "1.004194",
        "TrangThaiHoSo": status,
        "NgayTiepNhan": RECEIVED,
        "NgayHenTra": "20250120170000",
        "NgayCapNhat": "20250115143005",
        "DonViXuLy": "000.00.01.H29",
        **payload,
    }
    body = {k: v for k, v in body.items() if v is not None}
    return {"status": status, "accepted": accepted, "received_at": at, "payload": body}


def titles(issues: list[Any]) -> list[str]:
    return [issue.title for issue in issues]


# -- SYNC-TIMESTAMPS: order ------------------------------------------------------------------


def test_a_dossier_synced_in_order_has_no_order_issue() -> None:
    records = [
        record(2, NgayCapNhat="20250115143005"),
        record(4, NgayCapNhat="20250115143005"),  # same second: not backwards
        record(9, NgayCapNhat="20250116080000"),
    ]
    assert order_issues(records) == []


def test_ngay_cap_nhat_going_backwards_is_an_issue() -> None:
    records = [record(2, NgayCapNhat="20250115150000"), record(4, NgayCapNhat="20250115143010")]
    assert titles(order_issues(records)) == ["NgayCapNhat went backwards"]


def test_ngay_cap_nhat_before_reception_is_an_issue() -> None:
    # What a server on UTC writes: 07:30 for 14:30 Vietnam time.
    issues = order_issues([record(2, NgayCapNhat="20250115073005")])
    assert titles(issues) == ["NgayCapNhat is before the dossier's reception"]


def test_a_changing_reception_time_is_an_issue() -> None:
    records = [record(2), record(4, NgayTiepNhan="20250115143001", NgayCapNhat="20250115143006")]
    assert titles(order_issues(records)) == [
        "NgayTiepNhan changed between two syncs of one dossier"
    ]


@pytest.mark.parametrize("hostile", [None, 20250115143005, ["x"], {"a": 1}, "2025-01-15", "9" * 14])
def test_unreadable_timestamps_are_not_judged_and_do_not_crash(hostile: Any) -> None:
    records = [record(2, NgayCapNhat=hostile, NgayTiepNhan=hostile), {"payload": "not a dict"}]
    assert order_issues(records) == []
    assert zone_issues(records) == []


# -- SYNC-TIMESTAMPS: zone -------------------------------------------------------------------


def test_vietnam_time_within_the_tolerance_has_no_zone_issue() -> None:
    records = [
        record(2, at="2025-01-15T14:30:05.120+07:00"),
        # A sync that waited 4 minutes in a retry queue is still Vietnam time.
        record(4, at="2025-01-15T14:34:05.000+07:00", NgayCapNhat="20250115143006"),
        # The portal's clock in another offset is the same instant.
        record(9, at="2025-01-15T07:36:00.000+00:00", NgayCapNhat="20250115143600"),
    ]
    assert zone_issues(records) == []


def test_a_utc_update_time_is_seven_hours_off() -> None:
    issues = zone_issues([record(2, NgayCapNhat="20250115073005")])
    assert titles(issues) == ["NgayCapNhat is not Vietnam time"]
    assert "-7.0 h" in issues[0].observed


def test_a_reception_time_in_the_future_is_not_vietnam_time() -> None:
    # Converted twice (+7 h on a time already in UTC+7).
    issues = zone_issues([record(2, NgayTiepNhan="20250115213000")])
    assert titles(issues) == ["NgayTiepNhan is not Vietnam time"]


def test_a_reception_time_older_than_the_journey_is_not_vietnam_time() -> None:
    stale = record(2, NgayTiepNhan="20250115073000")  # UTC: 7 h before the submission
    assert titles(zone_issues([stale], max_age=timedelta(seconds=30))) == [
        "NgayTiepNhan is not Vietnam time"
    ]
    # A journey that lasted long enough could have been received then.
    assert zone_issues([stale], max_age=timedelta(hours=8)) == []


def test_result_dates_are_judged_too() -> None:
    issues = zone_issues(
        [record(10, NgayKetThucXuLy="20250115073004", NgayTra="20250115143005")],
        max_age=timedelta(seconds=30),
    )
    assert titles(issues) == ["NgayKetThucXuLy is not Vietnam time"]


# -- SYNC-DUE-DATE ---------------------------------------------------------------------------


def test_claims_come_from_accepted_syncs_before_any_pause() -> None:
    records = [
        record(2, accepted=False, NgayHenTra="20250101170000"),
        record(2),
        record(5, NgayHenTra="20250121170000"),  # paused: the date may move later
        record(4, NgayHenTra="20250122170000"),
        record(4, NgayHenTra=None),
    ]
    assert due_date_claims(records) == [DueDateClaim(RECEIVED, "1.004194", "20250120170000", 2)]


def test_claims_without_a_due_date_or_of_the_wrong_type_are_left_out() -> None:
    assert due_date_claims([record(2, NgayHenTra=None), record(4, NgayHenTra=20250120)]) == []


def test_the_due_day_must_match_the_calculator_whatever_the_time() -> None:
    expected = {(RECEIVED, "1.004194"): "20250120170000"}
    right_day = DueDateClaim(RECEIVED, "1.004194", "20250120235959", 2)
    assert due_date_issues([right_day], expected) == []
    # Three calendar days from Wednesday 15 January: Saturday.
    wrong_day = DueDateClaim(RECEIVED, "1.004194", "20250118170000", 4)
    issues = due_date_issues([wrong_day], expected)
    assert titles(issues) == ["NgayHenTra is not the working-day due date"]
    assert "20250120" in issues[0].expected and "status 4" in issues[0].observed


def test_a_claim_the_calculator_was_not_asked_about_is_not_judged() -> None:
    claim = DueDateClaim("20250116090000", "1.004194", "20250101170000", 2)
    assert due_date_issues([claim], {}) == []


# -- SYNC-RESULT -----------------------------------------------------------------------------

DOCUMENT = {"TenGiayTo": "Thông báo kết quả", "SoKyHieu": "0001/TB", "NgayBanHanh": RECEIVED}


def finished(**overrides: Any) -> list[dict[str, Any]]:
    ready: dict[str, Any] = {
        "NgayKetThucXuLy": "20250115143010",
        "DanhSachGiayToKetQua": [DOCUMENT],
    }
    delivered: dict[str, Any] = {
        **ready,
        "NgayTra": "20250115143011",
        "HinhThuc": 2,
        "ThongTinTra": "Trả kết quả trực tuyến",
    }
    return [
        record(2),
        record(4),
        record(9, **{**ready, **overrides}),
        record(10, **{**delivered, **overrides}),
    ]


def test_a_delivered_result_with_documents_and_ordered_dates_passes() -> None:
    assert result_issues(finished(), 10) == []


def test_documents_in_the_9_sync_alone_are_enough() -> None:
    records = finished()
    del records[3]["payload"]["DanhSachGiayToKetQua"]
    assert result_issues(records, 10) == []


def test_a_dossier_left_in_process_fails_with_one_issue() -> None:
    issues = result_issues([record(2), record(4)], 4)
    assert titles(issues) == ["The result was never delivered to the portal"]
    assert "agency status 4" in issues[0].observed and "[2, 4]" in issues[0].observed


def test_a_result_without_documents_fails() -> None:
    assert titles(result_issues(finished(DanhSachGiayToKetQua=None), 10)) == [
        "The result documents were not synced"
    ]


@pytest.mark.parametrize(
    "documents", ["x", [], [1, "a"], [{"TenGiayTo": ""}], [{"TenGiayTo": 5}], [{"SoKyHieu": "1"}]]
)
def test_documents_without_a_name_are_not_documents(documents: Any) -> None:
    assert result_documents({"DanhSachGiayToKetQua": documents}) == []
    assert titles(result_issues(finished(DanhSachGiayToKetQua=documents), 10)) == [
        "The result documents were not synced"
    ]


def test_a_delivery_before_the_end_of_handling_fails() -> None:
    issues = result_issues(finished(NgayTra="20250115143009"), 10)
    assert titles(issues) == ["NgayTra is before NgayKetThucXuLy"]


def test_handling_ending_before_reception_fails() -> None:
    issues = result_issues(finished(NgayKetThucXuLy="20250115073010"), 10)
    assert titles(issues) == ["NgayKetThucXuLy is before NgayTiepNhan"]


def test_a_delivery_without_ngay_tra_fails() -> None:
    assert titles(result_issues(finished(NgayTra=None), 10)) == [
        "The delivery sync does not say when the result was delivered"
    ]


def test_no_end_of_handling_fails() -> None:
    assert titles(result_issues(finished(NgayKetThucXuLy=None), 10)) == [
        "No sync says when handling ended"
    ]


def test_refused_syncs_count_as_arrived_and_unreadable_dates_are_left_to_validity() -> None:
    """ISO dates: the portal refuses every sync, SYNC-STATUS-VALID fails; the result was
    still delivered with its documents, so SYNC-RESULT does not fail as well."""
    iso = {"NgayKetThucXuLy": "2025-01-15T14:30:10+07:00", "NgayTra": "2025-01-15T14:30:11+07:00"}
    records = [{**r, "accepted": False} for r in finished(**iso)]
    assert result_issues(records, 10) == []


def test_parse_stamp_reads_only_real_vietnam_times() -> None:
    moment = parse_stamp("20250115143000")
    assert moment is not None and moment.utcoffset() == timedelta(hours=7)
    assert parse_stamp("20250230120000") is None
    assert parse_stamp("2025011514300") is None
    assert parse_stamp(20250115143000) is None
