"""Life-event writes and the change feed, the controllable clock, rate limits, injected
faults and batch verification jobs — on SQLite and PostgreSQL alike."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from starlette.exceptions import StarletteDeprecationWarning

from simulators.common.tokens import TokenVerifier
from simulators.population.app import create_app
from simulators.population.store import PopulationStore

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

AUDIENCE = "urn:lienthong:population"
ADMIN_HEADERS = {"Authorization": "Bearer admin-secret"}
JUSTICE = "justice.civil-status"
POLICE = "police.residence"
FEED = "citizen.changes"


POPULATION_SIZE, POPULATION_SEED = 300, 5  # the draw of conftest.py's population_store


@pytest.fixture()
def store(population_store: PopulationStore) -> PopulationStore:
    return population_store


@pytest.fixture()
def client(population_client: TestClient) -> TestClient:
    return population_client


@pytest.fixture()
def bearer(make_token: Callable[..., str]) -> Callable[..., dict[str, str]]:
    def headers(scope: str, **kw: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {make_token(AUDIENCE, scope, **kw)}"}

    return headers


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    return body


def _feed(client: TestClient, bearer: Any, after: int = 0) -> dict[str, Any]:
    response = client.get("/v1/changes", params={"after": after}, headers=bearer(FEED))
    assert response.status_code == 200, response.text
    return dict(response.json())


def _couple(store: PopulationStore) -> tuple[dict[str, Any], dict[str, Any]]:
    husband = next(
        c
        for c in store.sample_adults(300)
        if c["sex"] == "male" and c["spouse_pin"] and c["date_of_birth"] < "1990"
    )
    wife = store.get(husband["spouse_pin"])
    assert wife is not None
    return husband, wife


# -- life events ---------------------------------------------------------------------


def test_birth_assigns_a_pin_encoding_province_sex_and_year(
    client: TestClient, bearer: Any, store: PopulationStore
) -> None:
    father, mother = _couple(store)
    body = {
        "full_name": "Nguyễn Văn Mới",
        "date_of_birth": "2025-06-01",
        "sex": "male",
        "birth_registration_province": "001",
        "father_pin": father["pin"],
        "mother_pin": mother["pin"],
    }
    response = client.post("/v1/births", json=body, headers=bearer(JUSTICE))
    assert response.status_code == 201, response.text
    pin = response.json()["pin"]
    assert pin.startswith("001225")
    child = store.get(pin)
    assert child is not None
    assert (child["father_pin"], child["legal_representative_pin"]) == (
        father["pin"],
        father["pin"],
    )
    assert child["household_id"] is None and child["current_address"] is None
    assert _feed(client, bearer)["changes"][-1] | {"at": ""} == {
        "seq": 1,
        "at": "",
        "kind": "birth",
        "pin": pin,
        "data": {"date_of_birth": "2025-06-01"},
    }


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"birth_registration_province": "003"}, 422, "/birth_registration_province"),
        ({"date_of_birth": "2999-01-01"}, 422, "/date_of_birth"),
        ({"date_of_birth": "2025-02-30"}, 422, "/date_of_birth"),
        ({"father_pin": "001080999999"}, 404, "father_pin"),
        ({"father_pin": "12"}, 422, "/father_pin"),
        ({"extra": 1}, 422, "/"),
    ],
)
def test_bad_births_are_precise_problems(
    client: TestClient, bearer: Any, change: dict[str, Any], status: int, field: str
) -> None:
    body = {
        "full_name": "Trần Thị Bé",
        "date_of_birth": "2025-06-01",
        "sex": "female",
        "birth_registration_province": "079",
    } | change
    found = _problem(client.post("/v1/births", json=body, headers=bearer(JUSTICE)), status)
    assert any(field in e["field"] for e in found["errors"])


def test_writes_need_their_scope(client: TestClient, bearer: Any) -> None:
    body = {"pin": "001080000001", "date_of_death": "2025-01-01"}
    _problem(client.post("/v1/deaths", json=body, headers=bearer(POLICE)), 403)
    residence = {"pin": "001080000001", "kind": "temporary", "ward": "00070", "address": "Số 1"}
    _problem(client.post("/v1/residence-changes", json=residence, headers=bearer(JUSTICE)), 403)
    _problem(client.get("/v1/changes", headers=bearer(JUSTICE)), 403)


def test_death_clears_residence_widows_the_spouse_and_is_final(
    client: TestClient, bearer: Any, store: PopulationStore
) -> None:
    husband, wife = _couple(store)
    body = {"pin": husband["pin"], "date_of_death": "2025-05-05"}
    assert client.post("/v1/deaths", json=body, headers=bearer(JUSTICE)).status_code == 200
    dead, widow = store.get(husband["pin"]), store.get(wife["pin"])
    assert dead is not None and widow is not None
    assert (dead["date_of_death"], dead["household_id"]) == ("2025-05-05", None)
    assert widow["marital_status"] == "widowed"
    again = _problem(client.post("/v1/deaths", json=body, headers=bearer(JUSTICE)), 409)
    assert "died" in again["detail"]
    verify = {k: husband[k] for k in ("pin", "full_name", "date_of_birth")}
    answer = client.post("/v1/citizens/verify", json=verify, headers=bearer("citizen.verify"))
    assert answer.json()["status"] == "deceased"
    assert _feed(client, bearer)["changes"][-1]["kind"] == "death"


def test_residence_changes_move_the_current_address(
    client: TestClient, bearer: Any, store: PopulationStore
) -> None:
    citizen, spouse = _couple(store)
    temporary = {"pin": citizen["pin"], "kind": "temporary", "ward": "00070", "address": "Số 5"}
    response = client.post("/v1/residence-changes", json=temporary, headers=bearer(POLICE))
    assert response.status_code == 200, response.text
    assert response.json()["current_address"] == "Số 5, Phường Hoàn Kiếm"
    assert response.json()["household_id"] == citizen["household_id"]
    join = {"pin": spouse["pin"], "kind": "permanent", "ward": "00070", "address": "x"}
    join |= {"household_id": "HO-none"}
    _problem(client.post("/v1/residence-changes", json=join, headers=bearer(POLICE)), 404)
    bad = temporary | {"ward": "99999"}
    assert _problem(client.post("/v1/residence-changes", json=bad, headers=bearer(POLICE)), 422)
    feed = _feed(client, bearer)
    assert [c["kind"] for c in feed["changes"]] == ["residence"]
    assert _feed(client, bearer, feed["next"])["changes"] == []


# -- clock, rate limits, faults --------------------------------------------------------


def test_the_clock_moves_ages_and_audit_time(
    client: TestClient, bearer: Any, store: PopulationStore
) -> None:
    before = len(store.sample_adults(1000))
    moved = client.put(
        "/admin/clock", json={"now": "2045-01-01T08:00:00+07:00"}, headers=ADMIN_HEADERS
    )
    assert moved.json()["now"].startswith("2045-01-01T08:00")
    assert len(store.sample_adults(1000)) > before  # today's children have grown up
    client.post("/v1/citizens/verify", json={}, headers=bearer("citizen.verify"))
    client.get("/v1/citizens/001080000001", params={"fields": "sex"}, headers=bearer("x"))
    entries = client.get("/admin/audit", headers=ADMIN_HEADERS).json()["entries"]
    assert entries[-1]["at"].startswith("2045-01-01")
    assert store.setting("clock_offset_s") is not None  # survives a restart
    back = client.put("/admin/clock", json={"reset": True}, headers=ADMIN_HEADERS).json()
    assert abs(back["offset_s"]) < 1
    _problem(client.put("/admin/clock", json={"now": "2045-01-01"}, headers=ADMIN_HEADERS), 422)
    _problem(
        client.put("/admin/clock", json={"reset": True, "advance_s": 1}, headers=ADMIN_HEADERS), 422
    )


def test_rate_limit_answers_429_with_retry_after(client: TestClient, bearer: Any) -> None:
    limit = {"requests_per_second": 0.5, "burst": 2}
    client.put("/admin/clients/limited/rate-limit", json=limit, headers=ADMIN_HEADERS)
    headers = bearer("citizen.verify", subject="limited")
    statuses = [
        client.post("/v1/citizens/verify", json={}, headers=headers).status_code for _ in range(3)
    ]
    assert statuses == [422, 422, 429]
    throttled = client.post("/v1/citizens/verify", json={}, headers=headers)
    assert int(throttled.headers["Retry-After"]) >= 1
    other = client.post("/v1/citizens/verify", json={}, headers=bearer("citizen.verify"))
    assert other.status_code == 422  # the limit is per client
    client.delete("/admin/clients/limited/rate-limit", headers=ADMIN_HEADERS)
    assert client.post("/v1/citizens/verify", json={}, headers=headers).status_code == 422


def test_injected_faults_hit_only_their_client_and_expire(client: TestClient, bearer: Any) -> None:
    faulty = bearer("citizen.verify", subject="fragile")
    client.put("/admin/clients/fragile/faults", json={"error_rate": 1.0}, headers=ADMIN_HEADERS)
    found = _problem(client.post("/v1/citizens/verify", json={}, headers=faulty), 503)
    assert found["type"].endswith("/injected-error")
    assert (
        client.post("/v1/citizens/verify", json={}, headers=bearer("citizen.verify")).status_code
        == 422
    )
    storm = {"throttle_rate": 1.0, "latency_ms": 50, "duration_s": 0.3}
    client.put("/admin/clients/fragile/faults", json=storm, headers=ADMIN_HEADERS)
    started = time.perf_counter()
    assert client.post("/v1/citizens/verify", json={}, headers=faulty).status_code == 429
    assert time.perf_counter() - started >= 0.05
    time.sleep(0.35)
    assert client.post("/v1/citizens/verify", json={}, headers=faulty).status_code == 422
    hang = {"timeout_rate": 1.0, "timeout_s": 0.05}
    client.put("/admin/clients/fragile/faults", json=hang, headers=ADMIN_HEADERS)
    assert client.post("/v1/citizens/verify", json={}, headers=faulty).status_code == 504
    assert client.delete("/admin/clients/fragile/faults", headers=ADMIN_HEADERS).status_code == 204


def test_limits_and_faults_survive_a_restart_and_expired_faults_stay_off(
    client: TestClient,
    store: PopulationStore,
    bearer: Any,
    verifier_for: Callable[[str], TokenVerifier],
) -> None:
    limit = {"requests_per_second": 0.5, "burst": 1}
    client.put("/admin/clients/limited/rate-limit", json=limit, headers=ADMIN_HEADERS)
    client.put("/admin/clients/fragile/faults", json={"error_rate": 1.0}, headers=ADMIN_HEADERS)
    brief = {"error_rate": 1.0, "duration_s": 0.2}
    client.put("/admin/clients/brief/faults", json=brief, headers=ADMIN_HEADERS)
    time.sleep(0.3)  # the brief fault ends while the sandbox is "down"

    restarted = create_app(store=store, verifier=verifier_for(AUDIENCE), admin_token="admin-secret")
    with TestClient(restarted) as again:

        def verify(subject: str) -> int:
            headers = bearer("citizen.verify", subject=subject)
            return again.post("/v1/citizens/verify", json={}, headers=headers).status_code

        assert [verify("limited"), verify("limited")] == [422, 429]
        assert verify("fragile") == 503
        assert verify("brief") == 422
        again.delete("/admin/clients/fragile/faults", headers=ADMIN_HEADERS)
    with TestClient(
        create_app(store=store, verifier=verifier_for(AUDIENCE), admin_token="admin-secret")
    ) as third:
        headers = bearer("citizen.verify", subject="fragile")
        assert third.post("/v1/citizens/verify", json={}, headers=headers).status_code == 422


# -- batch verification ---------------------------------------------------------------


def _wait_done(client: TestClient, headers: dict[str, str], job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job = client.get(f"/v1/verification-jobs/{job_id}", headers=headers).json()
        if job["status"] in ("done", "failed"):
            return dict(job)
        time.sleep(0.02)
    raise AssertionError("job did not finish")


def test_a_job_verifies_every_record_in_order(
    client: TestClient, bearer: Any, store: PopulationStore
) -> None:
    citizens = store.sample_adults(200)
    records: list[Any] = [
        {"ref": f"r{i}", **{k: c[k] for k in ("pin", "full_name", "date_of_birth")}}
        for i, c in enumerate(citizens)
    ]
    records[3]["full_name"] = "Sai Tên"
    records += [{"pin": "12", "full_name": "x", "date_of_birth": "2000-01-01"}, "junk"]
    headers = bearer("citizen.verify")
    response = client.post("/v1/verification-jobs", json={"records": records * 6}, headers=headers)
    assert response.status_code == 202, response.text
    job = _wait_done(client, headers, response.json()["id"])
    assert job["processed"] == job["total"] == 1212
    assert job["results"] == {"match": 1194, "mismatch": 6, "invalid": 12}
    lines = client.get(job["result_url"], headers=headers).text.splitlines()
    first = [orjson.loads(line) for line in lines[:202]]
    assert [line["ref"] for line in first[:3]] == ["r0", "r1", "r2"]
    assert first[3]["fields"]["full_name"] == "mismatch"
    assert first[200]["result"] == first[201]["result"] == "invalid"
    other = bearer("citizen.verify", subject="someone-else")
    _problem(client.get(f"/v1/verification-jobs/{job['id']}", headers=other), 404)


def test_a_finished_job_outlives_a_restart_and_a_cut_short_one_is_failed_with_why(
    client: TestClient,
    bearer: Any,
    store: PopulationStore,
    verifier_for: Callable[[str], TokenVerifier],
) -> None:
    headers = bearer("citizen.verify")
    citizen = store.sample_adults(1)[0]
    record = {k: citizen[k] for k in ("pin", "full_name", "date_of_birth")}
    posted = client.post(
        "/v1/verification-jobs", json={"records": [record] * 1500}, headers=headers
    )
    done = _wait_done(client, headers, posted.json()["id"])
    before = client.get(done["result_url"], headers=headers).text
    # A job the previous process was still running when it stopped.
    store.db.execute(
        "INSERT INTO jobs (id, client_id, status, total, processed, results, created_at) "
        "VALUES ('cut-short', 'client-1', 'running', 10, 3, '{}', 'x')"
    )

    app = create_app(store=store, verifier=verifier_for(AUDIENCE), admin_token="admin-secret")
    with TestClient(app) as restarted:
        assert restarted.get(done["result_url"], headers=headers).text == before
        assert len(before.splitlines()) == 1500
        cut = restarted.get("/v1/verification-jobs/cut-short", headers=headers).json()
        assert cut["status"] == "failed" and "restart" in cut["error"]
        _problem(restarted.get("/v1/verification-jobs/cut-short/result", headers=headers), 409)


def test_oversize_and_malformed_batches_are_refused(client: TestClient, bearer: Any) -> None:
    from simulators.population import jobs

    headers = bearer("citizen.verify")
    too_many: dict[str, Any] = {"records": [{}] * (jobs.MAX_RECORDS + 1)}
    _problem(client.post("/v1/verification-jobs", json=too_many, headers=headers), 413)
    _problem(client.post("/v1/verification-jobs", json={"records": []}, headers=headers), 422)
    _problem(client.post("/v1/verification-jobs", json={"rows": [1]}, headers=headers), 422)
    _problem(client.get("/v1/verification-jobs/nope/result", headers=headers), 404)
