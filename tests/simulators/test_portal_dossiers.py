"""Due dates in working days, the paused clock, overdue derived — and the store that keeps
dossiers, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import pytest

from simulators.common.clock import VN_TZ, shift_working_days, working_days_between
from simulators.portal.dossiers import (
    DossierState,
    due_date,
    effective_due,
    facts_from_sync,
    is_overdue,
    with_status,
)
from simulators.portal.lifecycle import load_lifecycle
from simulators.portal.store import PortalStore

AGENCY = "000.00.01.H29"


def at(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=VN_TZ)


def dossier(**changes: object) -> DossierState:
    base = DossierState(
        code=f"{AGENCY}-250303-0001",
        agency_id=AGENCY,
        procedure="1.004194",
        status=2,
        received_at="20250303090000",
        due_at="20250306170000",
        synced=True,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("received", "days", "due"),
    [
        ("2025-03-03 09:00", 3, "20250306170000"),  # Monday morning: Thursday
        ("2025-03-03 15:00", 3, "20250307170000"),  # at the cut-off: counts from Tuesday
        ("2025-03-07 10:00", 1, "20250310170000"),  # Friday: Monday
        ("2025-01-24 10:00", 2, "20250204170000"),  # Tết 2025 (27 Jan – 1 Feb) is skipped
        ("2025-04-04 10:00", 1, "20250408170000"),  # Hùng Kings day (7 Apr) is skipped
    ],
)
def test_due_dates_count_working_days_with_lunar_holidays(
    received: str, days: int, due: str
) -> None:
    assert due_date(at(received), days) == due


def test_a_pause_costs_the_working_days_it_spans() -> None:
    assert working_days_between(at("2025-03-03 10:00"), at("2025-03-03 16:00")) == 0
    assert working_days_between(at("2025-03-07 10:00"), at("2025-03-10 09:00")) == 1
    assert working_days_between(at("2025-01-24 10:00"), at("2025-02-04 09:00")) == 2
    assert shift_working_days(at("2025-03-07 17:00"), 1) == at("2025-03-10 17:00")


def test_the_clock_stops_in_paused_statuses_and_restarts_after() -> None:
    lifecycle = load_lifecycle()
    state = with_status(dossier(status=4), 5, at("2025-03-04 10:00"), lifecycle)
    assert state.paused_since == "20250304100000"
    # Still paused on Friday: three working days lost so far, so not overdue yet.
    assert effective_due(state, at("2025-03-07 10:00")) == at("2025-03-11 17:00")
    assert not is_overdue(state, at("2025-03-07 18:00"))
    resumed = with_status(state, 4, at("2025-03-06 10:00"), lifecycle)
    assert (resumed.paused_since, resumed.paused_days) == (None, 2)
    assert effective_due(resumed, at("2025-03-20 10:00")) == at("2025-03-10 17:00")


def test_overdue_is_derived_from_the_due_date_never_stored() -> None:
    lifecycle = load_lifecycle()
    state = dossier(status=4)
    assert not is_overdue(state, at("2025-03-06 16:59"))
    assert is_overdue(state, at("2025-03-06 17:01"))
    late = with_status(state, 9, at("2025-03-07 09:00"), lifecycle)
    early = with_status(state, 9, at("2025-03-05 09:00"), lifecycle)
    assert is_overdue(late, at("2025-03-01 00:00"))  # judged at its finish, whenever read
    assert not is_overdue(early, at("2026-01-01 00:00"))
    assert not is_overdue(dossier(status=3), at("2026-01-01 00:00"))
    assert "overdue" not in {f.name for f in dataclasses.fields(DossierState)}


def test_sync_payloads_feed_the_index_facts() -> None:
    payload = {
        "DanhSachLePhi": [{"Gia": 15000, "HinhThucThu": 2}],
        "TaiLieuNop": [{"DuocTaiSuDung": True}, {"TenTepDinhKem": "a.pdf"}],
        "DanhSachGiayToKetQua": [{"TenGiayTo": "Xác nhận"}],
        "LoaiDoiTuong": 1,
        "MaDoiTuong": "001090000001",
        "HinhThuc": 1,
    }
    facts = facts_from_sync(dossier(), payload)
    assert (facts.has_fee, facts.paid_online, facts.e_result) == (True, True, True)
    assert (facts.components, facts.reused_components, facts.channel) == (2, 1, 1)
    assert facts.applicant_pin == "001090000001"
    assert facts_from_sync(facts, {}).e_result  # a later sync without the list keeps it


def test_the_store_keeps_dossiers_on_both_engines(database_url: str) -> None:
    store = PortalStore(database_url)
    state = dossier(paused_since="20250304100000", has_fee=True)
    store.save_dossier(state, submission={"MaHoSo": state.code}, idempotency_key="k-1")
    assert store.dossier(state.code) == state
    store.save_dossier(dataclasses.replace(state, status=4))
    assert store.dossier(state.code) == dataclasses.replace(state, status=4)
    assert store.submission(state.code) == {"MaHoSo": state.code}  # kept on update
    assert store.code_for_key("k-1") == state.code
    assert store.dossiers(AGENCY) == [dataclasses.replace(state, status=4)]
    assert store.agencies() == [AGENCY]
    store.close()


def test_dossier_codes_are_numbered_per_agency_and_day(database_url: str) -> None:
    store = PortalStore(database_url)
    with store.transaction():
        codes = [store.next_dossier_code(AGENCY, "250303") for _ in range(3)]
    assert codes == [f"{AGENCY}-250303-000{n}" for n in (1, 2, 3)]
    assert store.next_dossier_code(AGENCY, "250304").endswith("-250304-0001")
    assert store.next_dossier_code("000.00.02.H29", "250303").endswith("-0001")
    store.close()


def test_the_sync_log_works_on_both_engines(database_url: str) -> None:
    store = PortalStore(database_url)
    first = store.record(AGENCY, AGENCY, "X-250101-0001", 2, True, None, {"a": 1})
    store.record(AGENCY, "u1", "X-250101-0001", 10, False, {"status": 409}, {}, "legacy")
    assert store.last_accepted_status("X-250101-0001") == 2
    records = store.records(dossier_code="X-250101-0001")
    assert (records[0]["id"], records[0]["accepted"], records[0]["channel"]) == (
        first,
        True,
        "rest",
    )
    assert records[1]["problem"] == {"status": 409} and records[1]["channel"] == "legacy"
    store.close()


def test_a_sync_log_from_before_channels_is_migrated(tmp_path: object) -> None:
    import sqlite3
    from pathlib import Path

    path = Path(str(tmp_path)) / "old.db"
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE syncs (id INTEGER PRIMARY KEY AUTOINCREMENT, received_at TEXT NOT NULL,"
        " agency_id TEXT, client_id TEXT, dossier_code TEXT, status INTEGER,"
        " accepted INTEGER NOT NULL, problem TEXT, payload TEXT NOT NULL)"
    )
    conn.execute(
        "INSERT INTO syncs (received_at, accepted, payload) VALUES ('2025-01-01T00:00', 1, '{}')"
    )
    conn.commit()
    conn.close()
    store = PortalStore(path)
    assert store.records()[0]["channel"] == "rest"
    store.close()
