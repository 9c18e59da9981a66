"""The population simulator's HTTP contract (specs/population.yaml)."""

from __future__ import annotations

import time
import unicodedata
import warnings
from collections.abc import Callable
from typing import Any

import pytest
from starlette.exceptions import StarletteDeprecationWarning

# Starlette 1.x warns at import when its test client runs on httpx rather than httpx2;
# with filterwarnings=error that warning would fail collection.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

from simulators.common.db import Database
from simulators.population.access import FIELD_SCOPES
from simulators.population.pin import encode_pin
from simulators.population.store import PopulationStore

AUDIENCE = "urn:lienthong:population"
ADMIN = "admin-secret"
PROBLEM = "application/problem+json"
PURPOSE = {"purpose": "administrative-procedure", "legal_basis": "Nghị định 104/2022/NĐ-CP"}


# Every test here runs on SQLite and on PostgreSQL (skipped, with the reason, without it);
# the store and app come from conftest.py (200 people, seed 1).
@pytest.fixture()
def store(population_store: PopulationStore) -> PopulationStore:
    return population_store


@pytest.fixture()
def client(population_client: TestClient) -> TestClient:
    return population_client


@pytest.fixture()
def citizen(store: PopulationStore) -> dict[str, Any]:
    return store.sample_adults(1)[0]


@pytest.fixture()
def bearer(make_token: Callable[..., str]) -> Callable[..., dict[str, str]]:
    def headers(scope: str = "citizen.verify citizen.read.identity", **kw: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {make_token(AUDIENCE, scope, **kw)}"}

    return headers


def _admin(client: TestClient, path: str, **params: Any) -> Any:
    response = client.get(path, params=params, headers={"Authorization": f"Bearer {ADMIN}"})
    assert response.status_code == 200, response.text
    return response.json()


def _verify(client: TestClient, headers: dict[str, str], **body: Any) -> Any:
    return client.post("/v1/citizens/verify", json=body, headers=headers)


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def _unused_pin(store: PopulationStore) -> str:
    serial = 0
    while store.get(pin := encode_pin("001", "male", 1980, serial)):
        serial += 1
    return pin


# -- verify ---------------------------------------------------------------------------


def test_verify_match(client: TestClient, bearer: Any, citizen: dict[str, Any]) -> None:
    body = {k: citizen[k] for k in ("pin", "full_name", "date_of_birth")}
    response = _verify(client, bearer(), **body)
    assert response.status_code == 200
    assert response.json() == {
        "result": "match",
        "fields": {"full_name": "match", "date_of_birth": "match"},
    }


def test_verify_mismatch_names_the_field(
    client: TestClient, bearer: Any, citizen: dict[str, Any]
) -> None:
    response = _verify(
        client,
        bearer(),
        pin=citizen["pin"],
        full_name=citizen["full_name"],
        date_of_birth=citizen["date_of_birth"][:4] + "-01-01"
        if citizen["date_of_birth"][5:] != "01-01"
        else citizen["date_of_birth"][:4] + "-01-02",
    )
    assert response.json() == {
        "result": "mismatch",
        "fields": {"full_name": "match", "date_of_birth": "mismatch"},
    }


def test_verify_not_found(client: TestClient, bearer: Any, store: PopulationStore) -> None:
    response = _verify(
        client,
        bearer(),
        pin=_unused_pin(store),
        full_name="Nguyễn Văn An",
        date_of_birth="1980-01-01",
    )
    assert response.status_code == 200
    assert response.json() == {"result": "not_found"}


def test_verify_name_is_nfc_case_and_space_insensitive(
    client: TestClient, bearer: Any, citizen: dict[str, Any]
) -> None:
    decomposed = unicodedata.normalize("NFD", citizen["full_name"])
    assert decomposed != citizen["full_name"] or citizen["full_name"].isascii()
    variant = "  " + decomposed.upper().replace(" ", " \t ") + " "
    response = _verify(
        client,
        bearer(),
        pin=citizen["pin"],
        full_name=variant,
        date_of_birth=citizen["date_of_birth"],
    )
    assert response.json()["result"] == "match"


def test_verify_leaks_no_record_data(
    client: TestClient, bearer: Any, citizen: dict[str, Any]
) -> None:
    response = _verify(
        client,
        bearer(),
        pin=citizen["pin"],
        full_name="Không Phải Tên",
        date_of_birth=citizen["date_of_birth"][:4] + "-12-31",
    )
    text = response.text
    assert response.json()["result"] == "mismatch"
    for secret in (citizen["full_name"], citizen["date_of_birth"], citizen["permanent_address"]):
        assert secret not in text


def test_verify_needs_its_scope_and_records_the_refusal(
    client: TestClient, bearer: Any, citizen: dict[str, Any]
) -> None:
    response = _verify(
        client,
        bearer("citizen.read.identity"),
        pin=citizen["pin"],
        full_name="x",
        date_of_birth="1990-01-01",
    )
    _problem(response, 403)
    entry = _admin(client, "/admin/audit")["entries"][-1]
    assert (entry["operation"], entry["result"]) == ("verify", "refused")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"pin": "12345", "full_name": "A", "date_of_birth": "1990-01-01"}, "pin"),
        ({"pin": "003090000001", "full_name": "A", "date_of_birth": "1990-01-01"}, "pin"),
        ({"pin": "001790000001", "full_name": "A", "date_of_birth": "1990-01-01"}, "pin"),
        ({"pin": "001090000001", "full_name": "A", "date_of_birth": "2023-02-30"}, "date_of_birth"),
        ({"pin": "001090000001", "full_name": "", "date_of_birth": "1990-01-01"}, "full_name"),
        ({"pin": "001090000001", "date_of_birth": "1990-01-01"}, "full_name"),
        ({"pin": "001090000001", "full_name": "A", "date_of_birth": "1990-1-1"}, "date_of_birth"),
        ({"pin": "001090000001", "full_name": "A", "date_of_birth": "1990-01-01", "x": 1}, "/"),
    ],
)
def test_verify_rejects_invalid_bodies(
    client: TestClient, bearer: Any, body: dict[str, Any], field: str
) -> None:
    problem = _problem(client.post("/v1/citizens/verify", json=body, headers=bearer()), 422)
    assert any(field in e["field"] for e in problem["errors"])


def test_verify_wrong_media_type_and_bad_json(client: TestClient, bearer: Any) -> None:
    headers = bearer()
    _problem(client.post("/v1/citizens/verify", content=b"{}", headers=headers), 415)
    headers["Content-Type"] = "application/json"
    _problem(client.post("/v1/citizens/verify", content=b"{", headers=headers), 400)


# -- lookup ---------------------------------------------------------------------------


def test_lookup_returns_the_requested_fields(
    client: TestClient, bearer: Any, citizen: dict[str, Any]
) -> None:
    response = client.get(
        f"/v1/citizens/{citizen['pin']}",
        params={"fields": "full_name, sex", **PURPOSE},
        headers=bearer(),
    )
    assert response.status_code == 200
    assert response.json() == {
        "pin": citizen["pin"],
        "full_name": citizen["full_name"],
        "sex": citizen["sex"],
    }


def test_lookup_answers_every_field_asked_for_and_no_other(
    client: TestClient, bearer: Any, citizen: dict[str, Any], store: PopulationStore
) -> None:
    every_scope = "citizen.read.identity citizen.read.residence citizen.read.family"
    response = client.get(
        f"/v1/citizens/{citizen['pin']}",
        params={
            "fields": ",".join(FIELD_SCOPES),
            "purpose": "residence-management",
            "legal_basis": PURPOSE["legal_basis"],
        },
        headers=bearer(every_scope),
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert set(answer) == {"pin", *FIELD_SCOPES}
    record = store.get(citizen["pin"])
    assert record is not None
    assert {f: answer[f] for f in FIELD_SCOPES if f != "temporary_absence"} == {
        f: record[f] for f in FIELD_SCOPES if f != "temporary_absence"
    }
    assert answer["temporary_absence"] == store.open_absence(citizen["pin"])


def test_lookup_over_asking_is_refused_and_audited(
    client: TestClient, bearer: Any, citizen: dict[str, Any]
) -> None:
    response = client.get(
        f"/v1/citizens/{citizen['pin']}",
        params={"fields": "full_name,permanent_address,father_pin", **PURPOSE},
        headers=bearer(subject="agency-7"),
    )
    problem = _problem(response, 403)
    assert {e["field"] for e in problem["errors"]} == {"permanent_address", "father_pin"}
    assert citizen["full_name"] not in response.text
    entries = _admin(client, "/admin/audit", client_id="agency-7")["entries"]
    assert len(entries) == 1
    assert entries[0]["pin"] == citizen["pin"]
    assert entries[0]["fields"] == ["full_name", "permanent_address", "father_pin"]
    assert entries[0]["result"] == "refused"


def test_lookup_with_every_scope_reads_family_fields(
    client: TestClient, bearer: Any, citizen: dict[str, Any]
) -> None:
    scopes = "citizen.read.identity citizen.read.residence citizen.read.family"
    response = client.get(
        f"/v1/citizens/{citizen['pin']}",
        params={
            "fields": "permanent_address,spouse_pin,mother_pin",
            "purpose": "social-insurance",
            "legal_basis": "Luật BHXH 2024",
        },
        headers=bearer(scopes),
    )
    assert response.status_code == 200
    assert response.json()["permanent_address"] == citizen["permanent_address"]
    assert response.json()["spouse_pin"] == citizen["spouse_pin"]


def test_lookup_unknown_field_is_422_listing_allowed_names(
    client: TestClient, bearer: Any, citizen: dict[str, Any]
) -> None:
    response = client.get(
        f"/v1/citizens/{citizen['pin']}", params={"fields": "full_name,salary"}, headers=bearer()
    )
    error = _problem(response, 422)["errors"][0]
    assert error["field"] == "fields"
    assert "salary" in error["message"]
    assert "date_of_birth" in error["fix"]


@pytest.mark.parametrize("params", [{}, {"fields": ""}, {"fields": "x" * 501}])
def test_lookup_fields_parameter_is_required_and_bounded(
    client: TestClient, bearer: Any, citizen: dict[str, Any], params: dict[str, str]
) -> None:
    response = client.get(f"/v1/citizens/{citizen['pin']}", params=params, headers=bearer())
    assert _problem(response, 422)["errors"][0]["field"] == "fields"


@pytest.mark.parametrize(
    ("pin", "words"),
    [
        ("12345", "12 digits"),
        ("00109000000A", "digits"),
        ("003090000001", "province"),
        ("001890000001", "century"),
    ],
)
def test_lookup_bad_pin_is_422_naming_pin(
    client: TestClient, bearer: Any, pin: str, words: str
) -> None:
    response = client.get(f"/v1/citizens/{pin}", params={"fields": "sex"}, headers=bearer())
    error = _problem(response, 422)["errors"][0]
    assert error["field"] == "pin"
    assert words in error["message"]


def test_lookup_unknown_citizen_is_404(
    client: TestClient, bearer: Any, store: PopulationStore
) -> None:
    pin = _unused_pin(store)
    params = {"fields": "sex", **PURPOSE}
    _problem(client.get(f"/v1/citizens/{pin}", params=params, headers=bearer()), 404)
    entry = _admin(client, "/admin/audit")["entries"][-1]
    assert (entry["pin"], entry["result"]) == (pin, "not_found")


# -- tokens ---------------------------------------------------------------------------


def test_missing_token_is_401(client: TestClient, citizen: dict[str, Any]) -> None:
    problem = _problem(client.get(f"/v1/citizens/{citizen['pin']}?fields=sex"), 401)
    assert "Bearer" in problem["detail"]
    _problem(client.post("/v1/citizens/verify", json={}), 401)


def test_wrong_audience_is_401(
    client: TestClient, make_token: Callable[..., str], citizen: dict[str, Any]
) -> None:
    token = make_token("urn:lienthong:portal", "citizen.verify citizen.read.identity")
    response = client.get(
        f"/v1/citizens/{citizen['pin']}",
        params={"fields": "sex"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert "audience" in _problem(response, 401)["detail"]


def test_expired_token_is_401(client: TestClient, bearer: Any, citizen: dict[str, Any]) -> None:
    response = client.get(
        f"/v1/citizens/{citizen['pin']}", params={"fields": "sex"}, headers=bearer(lifetime_s=-600)
    )
    _problem(response, 401)


# -- admin ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/admin/audit", "/admin/citizens/sample"])
def test_admin_endpoints_need_the_admin_token(client: TestClient, bearer: Any, path: str) -> None:
    _problem(client.get(path), 401)
    _problem(client.get(path, headers={"Authorization": "Bearer wrong"}), 401)
    _problem(client.get(path, headers=bearer()), 401)


def test_audit_records_who_which_pin_fields_and_result(
    client: TestClient, bearer: Any, citizen: dict[str, Any]
) -> None:
    body = {k: citizen[k] for k in ("pin", "full_name", "date_of_birth")}
    _verify(client, bearer(subject="agency-1"), **body)
    client.get(
        f"/v1/citizens/{citizen['pin']}",
        params={"fields": "sex,full_name", **PURPOSE},
        headers=bearer(subject="agency-2"),
    )
    entries = _admin(client, "/admin/audit")["entries"]
    assert [
        (e["client_id"], e["operation"], e["pin"], e["fields"], e["result"]) for e in entries
    ] == [
        ("agency-1", "verify", citizen["pin"], ["full_name", "date_of_birth"], "match"),
        ("agency-2", "lookup", citizen["pin"], ["sex", "full_name"], "ok"),
    ]
    assert all(e["at"].endswith("+07:00") for e in entries)
    later = _admin(client, "/admin/audit", after_id=entries[0]["id"])["entries"]
    assert [e["id"] for e in later] == [entries[1]["id"]]
    assert len(_admin(client, "/admin/audit", limit=1)["entries"]) == 1
    assert _admin(client, "/admin/audit", client_id="agency-2")["entries"] == entries[1:]


def test_audit_keeps_every_entry_in_the_order_recorded(store: PopulationStore) -> None:
    pins = [encode_pin("001", "male", 1980, n) for n in range(700)]  # several write batches
    for pin in pins:
        store.record_access("agency-9", "verify", pin, ["full_name"], "match")
    entries = store.audit_entries("agency-9", limit=1000)
    assert [e["pin"] for e in entries] == pins
    assert [e["id"] for e in entries] == sorted(e["id"] for e in entries)


def test_audit_entries_reach_the_database_without_a_reader_asking(
    store: PopulationStore, database_url: str
) -> None:
    store.record_access("agency-9", "verify", None, [], "refused")
    other = Database(database_url)  # another process's view: it cannot flush our queue
    try:
        deadline = time.monotonic() + 10
        while not other.execute("SELECT id FROM audit WHERE client_id = 'agency-9'"):
            assert time.monotonic() < deadline, "the audit entry was not written within 10 s"
            time.sleep(0.05)
    finally:
        other.close()


def test_closing_the_store_writes_the_queued_entries(database_url: str) -> None:
    store = PopulationStore(database_url)
    store.record_access("agency-9", "verify", None, [], "refused")
    store.close()
    reopened = PopulationStore(database_url)
    try:
        assert [e["client_id"] for e in reopened.audit_entries()] == ["agency-9"]
    finally:
        reopened.close()


@pytest.mark.parametrize(
    ("path", "params", "name"),
    [
        ("/admin/audit", {"after_id": "abc"}, "after_id"),
        ("/admin/audit", {"after_id": "-1"}, "after_id"),
        ("/admin/audit", {"after_id": "99999999999999999999"}, "after_id"),
        ("/admin/audit", {"limit": "0"}, "limit"),
        ("/admin/audit", {"limit": "1001"}, "limit"),
        ("/admin/audit", {"limit": "1.5"}, "limit"),
        ("/admin/audit", {"client_id": "c" * 201}, "client_id"),
        ("/admin/citizens/sample", {"count": "x"}, "count"),
        ("/admin/citizens/sample", {"count": "1001"}, "count"),
        ("/admin/citizens/sample", {"count": "٣"}, "count"),
    ],
)
def test_admin_query_errors_are_400_naming_the_parameter(
    client: TestClient, path: str, params: dict[str, str], name: str
) -> None:
    response = client.get(path, params=params, headers={"Authorization": f"Bearer {ADMIN}"})
    assert _problem(response, 400)["errors"][0]["field"] == name


def test_sample_returns_living_adults_with_identity_fields(client: TestClient) -> None:
    citizens = _admin(client, "/admin/citizens/sample", count=5)["citizens"]
    assert len(citizens) == 5
    assert all(set(c) == {"pin", "full_name", "date_of_birth", "sex"} for c in citizens)
    assert all(c["date_of_birth"] <= "2007-12-31" for c in citizens)
    assert _admin(client, "/admin/citizens/sample")["citizens"] == citizens[:1]
