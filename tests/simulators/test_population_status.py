"""Temporary absence and a court's declaration that a person is missing: the writes, what
lookups and verifications then say, the change feed, and every refusal as problem+json —
on SQLite and PostgreSQL alike."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from starlette.exceptions import StarletteDeprecationWarning

from simulators.population.generator import generate_population
from simulators.population.store import PopulationStore

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

AUDIENCE = "urn:lienthong:population"
ADMIN = {"Authorization": "Bearer admin-secret"}
POLICE = "police.residence"
JUSTICE = "justice.civil-status"
READ = "citizen.read.identity citizen.read.residence"
LOOKUP = {"purpose": "residence-management", "legal_basis": "Luật Cư trú 2020"}


POPULATION_SEED = 11  # the draw of conftest.py's population_store


@pytest.fixture()
def store(population_store: PopulationStore) -> PopulationStore:
    return population_store


@pytest.fixture()
def client(population_client: TestClient) -> TestClient:
    return population_client


@pytest.fixture()
def bearer(make_token: Callable[..., str]) -> Callable[[str], dict[str, str]]:
    def headers(scope: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {make_token(AUDIENCE, scope)}"}

    return headers


@pytest.fixture()
def adult(store: PopulationStore) -> dict[str, Any]:
    return store.sample_adults(1)[0]


def _problem(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    if field is not None:
        assert field in [e["field"] for e in body.get("errors", [])], body
    return body


def _today(store: PopulationStore, days: int = 0) -> str:
    return (store.clock.today() + timedelta(days=days)).isoformat()


def _absence(store: PopulationStore, pin: str, **extra: Any) -> dict[str, Any]:
    return {
        "pin": pin,
        "departed_on": _today(store),
        "returns_on": _today(store, 90),
        "destination": "Thôn 3, xã Đắk Mil, Lâm Đồng",
        **extra,
    }


def _lookup(client: TestClient, bearer: Any, pin: str, fields: str) -> dict[str, Any]:
    response = client.get(
        f"/v1/citizens/{pin}", params={"fields": fields, **LOOKUP}, headers=bearer(READ)
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def _feed_kinds(client: TestClient, bearer: Any) -> list[tuple[str, str]]:
    response = client.get("/v1/changes", headers=bearer("citizen.changes"))
    assert response.status_code == 200, response.text
    return [(c["kind"], c["pin"]) for c in response.json()["changes"]]


# -- temporary absence -------------------------------------------------------------------


def test_an_absence_is_recorded_shown_by_lookup_and_ended_by_the_return(
    client: TestClient, store: PopulationStore, bearer: Any, adult: dict[str, Any]
) -> None:
    pin = adult["pin"]
    created = client.post(
        "/v1/temporary-absences", json=_absence(store, pin), headers=bearer(POLICE)
    )
    assert created.status_code == 201, created.text
    absence = created.json()
    assert absence["status"] == "absent" and created.headers["location"].endswith(
        f"/{absence['id']}"
    )
    shown = _lookup(client, bearer, pin, "temporary_absence,current_ward")["temporary_absence"]
    assert shown["id"] == absence["id"] and shown["destination"].startswith("Thôn 3")

    back = client.post(
        f"/v1/temporary-absences/{absence['id']}/return",
        json={"returned_on": _today(store)},
        headers=bearer(POLICE),
    )
    assert back.status_code == 200 and back.json()["status"] == "returned"
    assert _lookup(client, bearer, pin, "temporary_absence")["temporary_absence"] is None
    assert [k for k, p in _feed_kinds(client, bearer) if p == pin] == [
        "temporary-absence",
        "return",
    ]


def test_an_absence_lapses_when_the_simulated_clock_passes_its_return_date(
    client: TestClient, store: PopulationStore, bearer: Any, adult: dict[str, Any]
) -> None:
    body = _absence(
        store, adult["pin"], departed_on=_today(store, 10), returns_on=_today(store, 40)
    )
    absence = client.post("/v1/temporary-absences", json=body, headers=bearer(POLICE)).json()
    assert absence["status"] == "planned"
    for days, status in ((20, "absent"), (60, "lapsed")):
        moment = (store.clock.now() + timedelta(days=days)).isoformat()
        assert client.put("/admin/clock", json={"now": moment}, headers=ADMIN).status_code == 200
        read = client.get(f"/v1/temporary-absences/{absence['id']}", headers=bearer(POLICE))
        assert read.json()["status"] == status
        client.put("/admin/clock", json={"offset_s": 0}, headers=ADMIN)
    # A lapsed absence no longer blocks a new one.
    store.clock.offset = timedelta(days=60)
    again = _absence(store, adult["pin"])
    assert (
        client.post("/v1/temporary-absences", json=again, headers=bearer(POLICE)).status_code == 201
    )


def test_a_second_open_absence_a_return_twice_and_a_return_before_leaving_are_refused(
    client: TestClient, store: PopulationStore, bearer: Any, adult: dict[str, Any]
) -> None:
    first = client.post(
        "/v1/temporary-absences", json=_absence(store, adult["pin"]), headers=bearer(POLICE)
    ).json()
    second = client.post(
        "/v1/temporary-absences", json=_absence(store, adult["pin"]), headers=bearer(POLICE)
    )
    assert str(first["id"]) in _problem(second, 409, "/pin")["errors"][0]["message"]
    early = client.post(
        f"/v1/temporary-absences/{first['id']}/return",
        json={"returned_on": _today(store, -1)},
        headers=bearer(POLICE),
    )
    _problem(early, 409, "/returned_on")
    path = f"/v1/temporary-absences/{first['id']}/return"
    assert client.post(path, json={"returned_on": _today(store)}, headers=bearer(POLICE)).is_success
    twice = client.post(path, json={"returned_on": _today(store)}, headers=bearer(POLICE))
    _problem(twice, 409, "absence_id")


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"returns_on": "2020-01-01"}, 409, "/returns_on"),
        ({"departed_on": "2025-02-30"}, 422, "/departed_on"),
        ({"destination": " "}, 422, "/destination"),
        ({"pin": "001"}, 422, "/pin"),
        ({"pin": "999190000001"}, 422, "/pin"),
        ({"colour": "blue"}, 422, None),
    ],
)
def test_malformed_absences_are_precise_problems(
    client: TestClient,
    store: PopulationStore,
    bearer: Any,
    adult: dict[str, Any],
    change: dict[str, Any],
    status: int,
    field: str | None,
) -> None:
    body = {**_absence(store, adult["pin"]), **change}
    response = client.post("/v1/temporary-absences", json=body, headers=bearer(POLICE))
    _problem(response, status, field)


def test_absences_need_the_police_scope_and_a_known_id(
    client: TestClient, store: PopulationStore, bearer: Any, adult: dict[str, Any]
) -> None:
    wrong = client.post(
        "/v1/temporary-absences", json=_absence(store, adult["pin"]), headers=bearer(JUSTICE)
    )
    _problem(wrong, 403)
    _problem(client.get("/v1/temporary-absences/987654", headers=bearer(POLICE)), 404, "absence_id")
    _problem(client.get("/v1/temporary-absences/x1", headers=bearer(POLICE)), 400, "absence_id")


def test_the_dead_cannot_leave(
    client: TestClient, store: PopulationStore, bearer: Any, adult: dict[str, Any]
) -> None:
    death = {"pin": adult["pin"], "date_of_death": _today(store, -3)}
    assert client.post("/v1/deaths", json=death, headers=bearer(JUSTICE)).status_code == 200
    response = client.post(
        "/v1/temporary-absences", json=_absence(store, adult["pin"]), headers=bearer(POLICE)
    )
    assert "died" in _problem(response, 409, "pin")["errors"][0]["message"]


# -- disappearance -----------------------------------------------------------------------


def _declare(client: TestClient, store: PopulationStore, bearer: Any, pin: str) -> Any:
    body = {"pin": pin, "declared_on": _today(store), "decision_ref": "12/2025/QĐST-DS"}
    return client.post("/v1/disappearances", json=body, headers=bearer(JUSTICE))


def test_a_missing_person_is_flagged_by_lookup_verify_and_the_feed_until_revoked(
    client: TestClient, store: PopulationStore, bearer: Any, adult: dict[str, Any]
) -> None:
    pin = adult["pin"]
    declared = _declare(client, store, bearer, pin)
    assert declared.status_code == 201 and declared.json()["missing_since"] == _today(store)
    assert _lookup(client, bearer, pin, "missing_since,full_name")["missing_since"] == _today(store)
    check = {k: adult[k] for k in ("pin", "full_name", "date_of_birth")}
    verified = client.post("/v1/citizens/verify", json=check, headers=bearer("citizen.verify"))
    assert verified.json()["status"] == "missing"
    # Missing people neither leave nor go missing twice.
    _problem(_declare(client, store, bearer, pin), 409, "pin")
    absent = client.post(
        "/v1/temporary-absences", json=_absence(store, pin), headers=bearer(POLICE)
    )
    _problem(absent, 409, "pin")

    revoked = client.post(
        f"/v1/disappearances/{pin}/revocation",
        json={"revoked_on": _today(store), "decision_ref": "3/2026/QĐST-DS"},
        headers=bearer(JUSTICE),
    )
    assert revoked.status_code == 200 and revoked.json()["missing_since"] is None
    assert _lookup(client, bearer, pin, "missing_since")["missing_since"] is None
    verified = client.post("/v1/citizens/verify", json=check, headers=bearer("citizen.verify"))
    assert "status" not in verified.json()
    kinds = [k for k, p in _feed_kinds(client, bearer) if p == pin]
    assert kinds == ["disappearance", "disappearance-revoked"]


def test_a_mismatched_verification_never_reveals_that_someone_is_missing(
    client: TestClient, store: PopulationStore, bearer: Any, adult: dict[str, Any]
) -> None:
    _declare(client, store, bearer, adult["pin"])
    guess = {
        "pin": adult["pin"],
        "full_name": "Không Phải Người Này",
        "date_of_birth": adult["date_of_birth"],
    }
    verified = client.post("/v1/citizens/verify", json=guess, headers=bearer("citizen.verify"))
    assert verified.json()["result"] == "mismatch" and "status" not in verified.json()


def test_recording_the_death_of_a_missing_person_ends_the_declaration(
    client: TestClient, store: PopulationStore, bearer: Any, adult: dict[str, Any]
) -> None:
    _declare(client, store, bearer, adult["pin"])
    died = client.post(
        "/v1/deaths",
        json={"pin": adult["pin"], "date_of_death": _today(store)},
        headers=bearer(JUSTICE),
    )
    assert died.status_code == 200, died.text
    assert store.missing_since(adult["pin"]) is None


def test_disappearance_refusals_name_the_field(
    client: TestClient, store: PopulationStore, bearer: Any, adult: dict[str, Any]
) -> None:
    body = {"pin": adult["pin"], "declared_on": _today(store), "decision_ref": "1/QĐ"}
    future = {**body, "declared_on": _today(store, 5)}
    post = client.post
    _problem(post("/v1/disappearances", json=future, headers=bearer(JUSTICE)), 422, "/declared_on")
    _problem(post("/v1/disappearances", json=body, headers=bearer(POLICE)), 403)
    revocation = {"revoked_on": _today(store), "decision_ref": "2/QĐ"}
    never = post(
        f"/v1/disappearances/{adult['pin']}/revocation", json=revocation, headers=bearer(JUSTICE)
    )
    _problem(never, 404, "pin")
    bad = post("/v1/disappearances/12ab/revocation", json=revocation, headers=bearer(JUSTICE))
    _problem(bad, 422, "pin")


# -- in a generated population -------------------------------------------------------------


def test_a_generated_population_has_absent_and_missing_people_handed_out_as_hard_cases(
    client: TestClient, store: PopulationStore, bearer: Any
) -> None:
    absent = client.get("/admin/citizens/hard-cases/absent", headers=ADMIN).json()["citizens"]
    missing = client.get("/admin/citizens/hard-cases/missing", headers=ADMIN).json()["citizens"]
    assert absent and missing
    assert {c["pin"] for c in absent}.isdisjoint(c["pin"] for c in missing)
    away = absent[0]["temporary_absence"]
    assert away["status"] == "absent" and away["departed_on"] <= _today(store) <= away["returns_on"]
    assert missing[0]["missing_since"] <= _today(store) and missing[0]["date_of_death"] is None
    sampled = {c["pin"] for c in store.sample_adults(200)}
    assert missing[0]["pin"] not in sampled  # the harness's applicants are never missing
    check = {k: missing[0][k] for k in ("pin", "full_name", "date_of_birth")}
    verified = client.post("/v1/citizens/verify", json=check, headers=bearer("citizen.verify"))
    assert verified.json()["status"] == "missing"


def test_the_rule_picks_about_one_adult_in_a_hundred_and_is_repeatable(tmp_path: Any) -> None:
    counts = []
    for name in ("a", "b"):
        generate_population(tmp_path / f"{name}.db", 20_000, seed=3)
        population = PopulationStore(tmp_path / f"{name}.db")
        away = population.db.execute("SELECT pin FROM absences ORDER BY pin")
        gone = population.db.execute("SELECT pin FROM disappearances ORDER BY pin")
        population.close()
        counts.append(([r["pin"] for r in away], [r["pin"] for r in gone]))
    assert counts[0] == counts[1]
    assert 60 <= len(counts[0][0]) <= 250 and 1 <= len(counts[0][1]) <= 10


# -- the purpose catalogue and refused lookups ---------------------------------------------


def test_the_purpose_catalogue_names_what_each_purpose_releases(
    client: TestClient, bearer: Any
) -> None:
    response = client.get("/v1/purposes", headers=bearer("citizen.verify"))
    assert response.status_code == 200, response.text
    catalogue = response.json()
    assert "cmnd" in catalogue["purposes"]["identity-check"]
    assert "permanent_address" not in catalogue["purposes"]["identity-check"]
    assert "temporary_absence" in catalogue["purposes"]["residence-management"]
    assert catalogue["registered"] == sorted(catalogue["purposes"])  # unregistered: all
    _problem(client.get("/v1/purposes"), 401)


def test_a_lookup_without_a_purpose_is_refused_and_recorded(
    client: TestClient, store: PopulationStore, bearer: Any, adult: dict[str, Any]
) -> None:
    pin = adult["pin"]
    asked = client.get(f"/v1/citizens/{pin}", params={"fields": "full_name"}, headers=bearer(READ))
    _problem(asked, 422, "purpose")
    entry = store.audit_entries(pin=pin, operation="lookup")[-1]
    assert entry["result"] == "refused" and entry["fields"] == ["full_name"]
    assert entry.get("purpose") is None


# -- births with an idempotency key --------------------------------------------------------


def test_a_repeated_birth_registration_with_its_key_returns_the_first_pin(
    client: TestClient, store: PopulationStore, bearer: Any
) -> None:
    birth = {
        "full_name": "Nguyễn Bảo An",
        "date_of_birth": _today(store, -2),
        "sex": "female",
        "birth_registration_province": "001",
    }
    headers = {**bearer(JUSTICE), "Idempotency-Key": "birth:G-1"}
    first = client.post("/v1/births", json=birth, headers=headers)
    again = client.post("/v1/births", json=birth, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert (
        store.db.execute(
            "SELECT count(*) AS n FROM citizens WHERE full_name = ?", (birth["full_name"],)
        )[0]["n"]
        == 1
    )
    changed = client.post("/v1/births", json={**birth, "sex": "male"}, headers=headers)
    _problem(changed, 422, "Idempotency-Key")
    other = client.post(
        "/v1/births", json=birth, headers={**bearer(JUSTICE), "Idempotency-Key": "birth:G-2"}
    )
    assert other.status_code == 201 and other.json()["pin"] != first.json()["pin"]
    too_long = {**bearer(JUSTICE), "Idempotency-Key": "k" * 201}
    _problem(client.post("/v1/births", json=birth, headers=too_long), 400, "Idempotency-Key")
