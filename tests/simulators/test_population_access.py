"""Population lookups need scopes and a registered purpose with a legal basis, or a live
VNeID consent; verify normalises names but never folds diacritics; hard cases behave."""

from __future__ import annotations

import unicodedata
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from starlette.exceptions import StarletteDeprecationWarning

from simulators.population.generator import generate_population
from simulators.population.store import PopulationStore

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

AUDIENCE = "urn:lienthong:population"
ADMIN = "admin-secret"
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN}"}
PROBLEM = "application/problem+json"
PURPOSE = {"purpose": "administrative-procedure", "legal_basis": "Nghị định 104/2022/NĐ-CP"}
ALL_READ = "citizen.read.identity citizen.read.residence citizen.read.family"


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def bearer_factory(make_token: Callable[..., str]) -> Callable[..., dict[str, str]]:
    def headers(scope: str = "citizen.verify " + ALL_READ, **kw: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {make_token(AUDIENCE, scope, **kw)}"}

    return headers


COUNT = 3000  # enough for every hard case to occur


@pytest.fixture(scope="module")
def population_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("population") / "population.db"
    generate_population(path, COUNT, seed=11)
    return str(path)


@pytest.fixture()
def population_store(population_db: str, tmp_path: Any) -> Iterator[PopulationStore]:
    """Overrides conftest.py's: a copy of the module's larger population, on SQLite."""
    import shutil

    shutil.copy(population_db, tmp_path / "p.db")
    population = PopulationStore(tmp_path / "p.db")
    yield population
    population.close()


@pytest.fixture()
def store(population_store: PopulationStore) -> PopulationStore:
    return population_store


@pytest.fixture()
def client(population_client: TestClient) -> TestClient:
    return population_client


@pytest.fixture()
def bearer(make_token: Callable[..., str]) -> Callable[..., dict[str, str]]:
    return bearer_factory(make_token)


def _case(client: TestClient, kind: str) -> dict[str, Any]:
    response = client.get(f"/admin/citizens/hard-cases/{kind}", headers=ADMIN_HEADERS)
    assert response.status_code == 200, response.text
    citizens: list[dict[str, Any]] = response.json()["citizens"]
    assert citizens, f"no {kind} citizen generated"
    return citizens[0]


def _verify(client: TestClient, bearer: Any, citizen: dict[str, Any], **changes: Any) -> Any:
    body = {k: citizen[k] for k in ("pin", "full_name", "date_of_birth")} | changes
    response = client.post("/v1/citizens/verify", json=body, headers=bearer())
    assert response.status_code == 200, response.text
    return response.json()


def _lookup(client: TestClient, headers: dict[str, str], pin: str, **params: Any) -> Any:
    return client.get(f"/v1/citizens/{pin}", params=params, headers=headers)


def _last_audit(client: TestClient) -> dict[str, Any]:
    entries = client.get("/admin/audit", headers=ADMIN_HEADERS).json()["entries"]
    return dict(entries[-1])


# -- verify and the hard cases -------------------------------------------------------


def test_nfd_stored_names_match_nfc_input_and_back(client: TestClient, bearer: Any) -> None:
    citizen = _case(client, "nfd")
    nfc = unicodedata.normalize("NFC", citizen["full_name"])
    assert _verify(client, bearer, citizen, full_name=nfc)["result"] == "match"
    assert _verify(client, bearer, citizen)["result"] == "match"


def test_lookalike_names_do_not_match_each_other(client: TestClient, bearer: Any) -> None:
    citizen = _case(client, "lookalike")
    bare = "".join(
        c
        for c in unicodedata.normalize("NFD", citizen["full_name"])
        if not 0x300 <= ord(c) <= 0x323
    )
    wrong = unicodedata.normalize("NFC", bare)
    if wrong == unicodedata.normalize("NFC", citizen["full_name"]):
        wrong = citizen["full_name"] + "́"
    answer = _verify(client, bearer, citizen, full_name=wrong)
    assert answer["fields"]["full_name"] == "mismatch"


def test_former_name_is_reported_as_such(client: TestClient, bearer: Any) -> None:
    citizen = _case(client, "renamed")
    answer = _verify(client, bearer, citizen, full_name=citizen["former_name"])
    assert answer == {
        "result": "mismatch",
        "fields": {"full_name": "former_name", "date_of_birth": "match"},
    }


def test_superseded_pin_still_verifies_and_says_so(client: TestClient, bearer: Any) -> None:
    citizen = _case(client, "superseded")
    answer = _verify(client, bearer, citizen, pin=citizen["previous_pin"])
    assert answer["result"] == "match" and answer["pin_status"] == "superseded"
    response = _lookup(client, bearer(), citizen["previous_pin"], fields="sex", **PURPOSE)
    assert response.json()["pin"] == citizen["pin"]


def test_deceased_is_said_only_on_a_full_match(client: TestClient, bearer: Any) -> None:
    citizen = _case(client, "deceased")
    assert _verify(client, bearer, citizen)["status"] == "deceased"
    other = _verify(client, bearer, citizen, full_name="Ai Đó Khác")
    assert "status" not in other


def test_unissued_pins_are_not_found(client: TestClient, bearer: Any) -> None:
    response = client.get("/admin/citizens/hard-cases/unissued?count=5", headers=ADMIN_HEADERS)
    for pin in response.json()["pins"]:
        year = 1900 + int(pin[3]) // 2 * 100 + int(pin[4:6])
        body = {"pin": pin, "full_name": "Nguyễn Văn An", "date_of_birth": f"{year}-06-01"}
        answer = client.post("/v1/citizens/verify", json=body, headers=bearer())
        assert answer.json() == {"result": "not_found"}


def test_century_digit_inconsistent_with_birth_date_is_422(
    client: TestClient, bearer: Any, store: PopulationStore
) -> None:
    citizen = store.sample_adults(1)[0]
    body = {k: citizen[k] for k in ("pin", "full_name")} | {"date_of_birth": "2090-01-01"}
    found = problem(client.post("/v1/citizens/verify", json=body, headers=bearer()), 422)
    assert found["errors"][0]["field"] == "/pin" and "birth year" in found["errors"][0]["message"]


def test_verify_checks_optional_sex_and_cmnd(
    client: TestClient, bearer: Any, store: PopulationStore
) -> None:
    citizen = next(c for c in store.sample_adults(50) if c["cmnd"])
    answer = _verify(client, bearer, citizen, sex=citizen["sex"], cmnd="000000000")
    assert answer["fields"] == {
        "full_name": "match",
        "date_of_birth": "match",
        "sex": "match",
        "cmnd": "mismatch",
    }
    assert citizen["cmnd"] not in str(answer)


# -- purpose, legal basis, consent -------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({}, 422, "purpose"),
        ({"purpose": "curiosity", "legal_basis": "none at all"}, 422, "purpose"),
        ({"purpose": "administrative-procedure"}, 422, "legal_basis"),
        ({"purpose": "administrative-procedure", "legal_basis": " "}, 422, "legal_basis"),
        ({"consent_id": "nope"}, 403, "consent_id"),
    ],
)
def test_lookup_without_a_valid_purpose_is_refused(
    client: TestClient, bearer: Any, store: PopulationStore, params: Any, status: int, field: str
) -> None:
    pin = store.sample_adults(1)[0]["pin"]
    found = problem(_lookup(client, bearer(), pin, fields="full_name", **params), status)
    assert found["errors"][0]["field"] == field and found["errors"][0]["fix"]


def test_unregistered_purpose_is_403_and_audited(
    client: TestClient, bearer: Any, store: PopulationStore
) -> None:
    pin = store.sample_adults(1)[0]["pin"]
    client.put(
        "/admin/clients/agency-9/purposes",
        json={"purposes": ["identity-check"]},
        headers=ADMIN_HEADERS,
    )
    headers = bearer(subject="agency-9")
    found = problem(_lookup(client, headers, pin, fields="full_name", **PURPOSE), 403)
    assert found["type"].endswith("/purpose-not-registered")
    entry = _last_audit(client)
    assert (entry["client_id"], entry["result"], entry["purpose"]) == (
        "agency-9",
        "refused",
        "administrative-procedure",
    )
    ok = _lookup(
        client,
        headers,
        pin,
        fields="full_name",
        purpose="identity-check",
        legal_basis="Luật Căn cước 2023",
    )
    assert ok.status_code == 200


def test_over_asking_for_the_purpose_is_refused_and_recorded(
    client: TestClient, bearer: Any, store: PopulationStore
) -> None:
    citizen = store.sample_adults(1)[0]
    response = _lookup(client, bearer(), citizen["pin"], fields="full_name,father_pin", **PURPOSE)
    found = problem(response, 403)
    assert found["type"].endswith("/over-asking") and "father_pin" in found["detail"]
    assert citizen["full_name"] not in response.text
    assert _last_audit(client)["fields"] == ["full_name", "father_pin"]


def _consent(client: TestClient, pin: str, **overrides: Any) -> dict[str, Any]:
    body = {
        "pin": pin,
        "client_id": "client-1",
        "purpose": "social-insurance",
        "fields": ["full_name", "permanent_address"],
        "valid_for_s": 3600,
    } | overrides
    response = client.post("/admin/consents", json=body, headers=ADMIN_HEADERS)
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_consent_releases_its_fields_until_withdrawn(
    client: TestClient, bearer: Any, store: PopulationStore
) -> None:
    citizen = store.sample_adults(1)[0]
    consent = _consent(client, citizen["pin"])
    ok = _lookup(
        client, bearer(), citizen["pin"], fields="permanent_address", consent_id=consent["id"]
    )
    assert ok.json()["permanent_address"] == citizen["permanent_address"]
    assert _last_audit(client)["consent_id"] == consent["id"]
    over = _lookup(client, bearer(), citizen["pin"], fields="father_pin", consent_id=consent["id"])
    assert problem(over, 403)["type"].endswith("/over-asking")
    assert (
        client.get(f"/v1/consents/{consent['id']}", headers=bearer()).json()["status"] == "active"
    )
    client.post(f"/admin/consents/{consent['id']}/withdraw", headers=ADMIN_HEADERS)
    gone = _lookup(client, bearer(), citizen["pin"], fields="full_name", consent_id=consent["id"])
    assert problem(gone, 403)["type"].endswith("/consent-withdrawn")


def test_consent_expires_when_the_clock_moves(
    client: TestClient, bearer: Any, store: PopulationStore
) -> None:
    citizen = store.sample_adults(1)[0]
    consent = _consent(client, citizen["pin"], valid_for_s=60)
    client.put("/admin/clock", json={"advance_s": 120}, headers=ADMIN_HEADERS)
    late = _lookup(client, bearer(), citizen["pin"], fields="full_name", consent_id=consent["id"])
    assert problem(late, 403)["type"].endswith("/consent-expired")
    other = _consent(client, citizen["pin"], client_id="someone-else")
    stolen = _lookup(client, bearer(), citizen["pin"], fields="full_name", consent_id=other["id"])
    assert problem(stolen, 403)["errors"][0]["field"] == "consent_id"


def test_household_lists_members_at_one_address(
    client: TestClient, bearer: Any, store: PopulationStore
) -> None:
    citizen = next(c for c in store.sample_adults(100) if c["spouse_pin"])
    response = client.get(
        f"/v1/citizens/{citizen['pin']}/household",
        params=PURPOSE | {"purpose": "civil-status"},
        headers=bearer(),
    )
    assert response.status_code == 200, response.text
    members = response.json()["members"]
    assert citizen["pin"] in {m["pin"] for m in members}
    assert sum(m["relationship_to_head"] == "chủ hộ" for m in members) == 1
    assert _last_audit(client)["operation"] == "household"
    refused = client.get(
        f"/v1/citizens/{citizen['pin']}/household", params=PURPOSE, headers=bearer()
    )
    assert problem(refused, 403)["type"].endswith("/over-asking")


def test_usage_counts_calls_per_operation_and_result(
    client: TestClient, bearer: Any, store: PopulationStore
) -> None:
    citizen = store.sample_adults(1)[0]
    headers = bearer(subject="agency-3")
    for _ in range(3):
        _lookup(client, headers, citizen["pin"], fields="sex", **PURPOSE)
    _lookup(client, headers, citizen["pin"], fields="father_pin", **PURPOSE)
    usage = client.get("/admin/clients/agency-3/usage", headers=ADMIN_HEADERS).json()
    assert usage == {
        "client_id": "agency-3",
        "total": 4,
        "operations": {"lookup": {"ok": 3, "refused": 1}},
    }


def test_sample_pages_with_a_cursor(client: TestClient) -> None:
    first = client.get("/admin/citizens/sample", params={"count": 5}, headers=ADMIN_HEADERS).json()
    second = client.get(
        "/admin/citizens/sample", params={"count": 5, "after": first["next"]}, headers=ADMIN_HEADERS
    ).json()
    pins = [c["pin"] for c in first["citizens"] + second["citizens"]]
    assert pins == sorted(set(pins)) and len(pins) == 10
    seen: list[str] = []
    cursor = ""
    while cursor is not None:
        params = {"count": 1000, "after": cursor}
        page = client.get("/admin/citizens/sample", params=params, headers=ADMIN_HEADERS).json()
        seen += [c["pin"] for c in page["citizens"]]
        cursor = page.get("next")
    assert seen == sorted(set(seen)) and 1000 < len(seen) < COUNT


def test_scope_is_still_needed_with_a_purpose(
    client: TestClient, bearer: Any, store: PopulationStore
) -> None:
    pin = store.sample_adults(1)[0]["pin"]
    response = _lookup(
        client, bearer("citizen.read.identity"), pin, fields="permanent_address", **PURPOSE
    )
    assert problem(response, 403)["type"].endswith("/insufficient-scope")
    assert ALL_READ
