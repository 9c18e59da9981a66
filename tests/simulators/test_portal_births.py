"""The birth group's child PIN: queued to the population database when the birth
registration is processed, stored with the group from the answer, and shown in its view —
or, with no population database, a view that says so."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from joserfc.jwk import ECKey

from simulators.population.clock import SimClock
from simulators.portal import PortalStore
from simulators.portal.app import Delivery, PopulationAccess
from simulators.portal.births import Births, birth_registration
from simulators.portal.outbox import (
    POPULATION_TARGET,
    DeliveryPolicy,
    Outbox,
    OutboxWorker,
    PopulationLink,
)

POPULATION_URL = "http://population.test"
FAST = DeliveryPolicy(max_attempts=3, base_delay_s=0.0, max_delay_s=0.0)
PIN = "001225000123"
CHILD = {
    "HoVaTen": "Nguyễn Văn Bé",
    "NgaySinh": "20250301",
    "GioiTinh": "male",
    "NoiDangKyKhaiSinh": "001",
}


def _delivery() -> Delivery:
    key = ECKey.generate_key("P-256", auto_kid=True)
    population = PopulationAccess(POPULATION_URL, "PORTAL.DVCQG.HOTICH", key)
    return Delivery("http://idp.test/oauth2/token", "PORTAL.DVCQG", key, population=population)


@pytest.fixture
def births(groups_on: Callable[..., Any]) -> Any:
    """Group helpers on a portal with a population database configured (the outbox
    worker is driven by hand: the test client runs no lifespan)."""
    return groups_on(delivery=_delivery())


def _handler(portal_store: PortalStore, clock: SimClock) -> Births:
    return Births(portal_store.db, Outbox(portal_store.db), clock, configured=True)


def _deliver(
    portal_store: PortalStore, births: Births, answers: list[httpx.Response]
) -> list[httpx.Request]:
    """Run the outbox worker against a population database that gives `answers`."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        if not str(request.url).startswith(POPULATION_URL):
            return httpx.Response(202, json={})  # the member dossiers, to their agencies
        seen.append(request)
        return answers.pop(0) if answers else httpx.Response(503, json={})

    async def agency_token(agency_id: str) -> str:
        return f"agency-token-{agency_id}"

    async def population_token(scope: str) -> str:
        return f"population-token-{scope}"

    async def run() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handle)) as http:
            link = PopulationLink(POPULATION_URL, population_token, births.assigned)
            worker = OutboxWorker(
                Outbox(portal_store.db),
                portal_store.route,
                http,
                agency_token,
                FAST,
                population=link,
            )
            for _ in range(4):
                await worker.drain_once()

    asyncio.run(run())
    return seen


def _birth_messages(portal_store: PortalStore) -> list[dict[str, Any]]:
    return [m for m in Outbox(portal_store.db).messages() if m["agency_id"] == POPULATION_TARGET]


def test_the_pin_is_asked_for_once_the_birth_registration_is_processed(
    births: Any, portal_store: PortalStore, portal_clock: SimClock
) -> None:
    group = births.declare("birth")
    assert group["DinhDanhTre"]["TrangThai"] == "waiting"
    civil = births.member(group, "civil-status")
    births.sync(civil, 2, 4)
    assert _birth_messages(portal_store) == []
    births.sync(civil, 9)
    births.sync(civil, 10)  # a re-finish asks nothing twice
    [message] = _birth_messages(portal_store)
    assert message["kind"] == "birth" and message["MaHoSo"] == group["MaNhom"]
    assert births.track(group["MaNhom"])["DinhDanhTre"]["TrangThai"] == "pending"

    created = httpx.Response(201, json={"pin": PIN, "full_name": CHILD["HoVaTen"]})
    [request] = _deliver(portal_store, _handler(portal_store, portal_clock), [created])
    assert str(request.url) == f"{POPULATION_URL}/v1/births"
    assert request.headers["authorization"] == "Bearer population-token-justice.civil-status"
    assert request.headers["idempotency-key"] == f"birth:{group['MaNhom']}"
    assert orjson.loads(request.content) == {
        "full_name": "Nguyễn Văn Bé",
        "date_of_birth": "2025-03-01",
        "sex": "male",
        "birth_registration_province": "001",
        "father_pin": births.declarant["SoDinhDanh"],
    }
    child = births.track(group["MaNhom"])["DinhDanhTre"]
    assert (child["TrangThai"], child["SoDinhDanh"]) == ("assigned", PIN)
    assert len(child["NgayCap"]) == 14


def test_a_refusal_is_a_dead_letter_the_group_view_explains(
    births: Any, portal_store: PortalStore, portal_clock: SimClock
) -> None:
    group = births.declare("birth")
    births.sync(births.member(group, "civil-status"), 2, 4, 9)
    refused = httpx.Response(404, json={"detail": "no citizen has the PIN 001090000001"})
    _deliver(portal_store, _handler(portal_store, portal_clock), [refused])
    child = births.track(group["MaNhom"])["DinhDanhTre"]
    assert child["TrangThai"] == "failed" and child["SoDinhDanh"] is None
    assert "HTTP 404" in child["GhiChu"] and "/requeue" in child["GhiChu"]


def test_an_answer_without_a_pin_is_never_retried(
    births: Any, portal_store: PortalStore, portal_clock: SimClock
) -> None:
    """A 201 means the child was registered: asking again would register a second one."""
    group = births.declare("birth")
    births.sync(births.member(group, "civil-status"), 2, 4, 9)
    seen = _deliver(
        portal_store, _handler(portal_store, portal_clock), [httpx.Response(201, text="oops")]
    )
    assert len(seen) == 1
    [message] = _birth_messages(portal_store)
    assert message["state"] == "dead" and "answer unusable" in message["last_error"]


def test_without_a_population_database_the_group_says_so(
    groups: Any, portal_store: PortalStore
) -> None:
    group = groups.declare("birth")
    groups.sync(groups.member(group, "civil-status"), 2, 4, 9)
    group = groups.track(group["MaNhom"])
    child = group["DinhDanhTre"]
    assert child["TrangThai"] == "not-configured" and "population" in child["GhiChu"]
    assert _birth_messages(portal_store) == []
    # The rest of the group goes on regardless.
    assert groups.member(group, "residence")["MaHoSo"] is not None


def test_a_refused_registration_asks_for_no_pin(births: Any) -> None:
    group = births.declare("birth")
    births.sync(births.member(group, "civil-status"), 3)
    assert births.track(group["MaNhom"])["DinhDanhTre"]["TrangThai"] == "not-requested"


def test_the_death_group_has_no_child(births: Any) -> None:
    assert "DinhDanhTre" not in births.declare("death")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"TreEm": None}, "/TreEm"),
        ({"TreEm": {**CHILD, "NgaySinh": "20250230"}}, "/TreEm/NgaySinh"),
        ({"TreEm": {**CHILD, "NgaySinh": "29990101"}}, "/TreEm/NgaySinh"),
        ({"TreEm": {**CHILD, "NoiDangKyKhaiSinh": "003"}}, "/TreEm/NoiDangKyKhaiSinh"),
        ({"TreEm": {**CHILD, "GioiTinh": "boy"}}, "/TreEm/GioiTinh"),
        ({"NhomLienThong": "death", "TreEm": CHILD}, "/TreEm"),
    ],
)
def test_a_declaration_with_a_wrong_child_names_the_field(
    births: Any, change: dict[str, Any], field: str
) -> None:
    body = {k: v for k, v in births.body("birth", **change).items() if v is not None}
    response = births.client.post("/v1/citizen/groups", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    [error] = response.json()["errors"]
    assert error["field"] == field and error["fix"]


def test_the_child_maps_onto_the_population_contract() -> None:
    child = {**CHILD, "SoDinhDanhMe": "001190000002", "DanToc": "01"}
    assert birth_registration(child) == {
        "full_name": "Nguyễn Văn Bé",
        "date_of_birth": "2025-03-01",
        "sex": "male",
        "birth_registration_province": "001",
        "mother_pin": "001190000002",
        "ethnicity": "01",
    }


def test_a_store_from_before_the_pin_gains_its_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE dossier_groups (code TEXT PRIMARY KEY, kind TEXT NOT NULL,"
            " declaration TEXT NOT NULL, received_at TEXT NOT NULL, idempotency_key TEXT UNIQUE)"
        )
    store = PortalStore(path)
    try:
        columns = {row["name"] for row in store.db.execute("PRAGMA table_info(dossier_groups)")}
        assert {"child_pin", "child_pin_at"} <= columns
    finally:
        store.close()
