"""The reference agency and its faulty variants, end to end in a real sandbox.

The agency builds its token verifier from the identity provider's URL, so these tests run
it behind a real `Sandbox` (identity, population, portal on loopback) and call it over
HTTP with tokens minted by the sandbox's identity provider.
"""

from __future__ import annotations

import base64
import itertools
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from simulators.agencies.app import AgencyConfig, create_app
from simulators.agencies.catalogue import FAULTS, REFERENCE
from simulators.agencies.ratelimit import DEFAULT_RATE_LIMIT, RateLimit
from simulators.common.serving import bind_socket, serve_in_thread
from simulators.identity.credentials import ClientCredentials, issue_credentials
from simulators.sandbox import Sandbox

AGENCY = "000.00.01.H29"
AUDIENCE = f"urn:lienthong:agency:{AGENCY}"
SCOPES = "dossier.submit dossier.read"
PROBLEM = "application/problem+json"
POLL_S = 10.0

_serial = itertools.count(1)


@dataclass
class World:
    sandbox: Sandbox
    credentials: ClientCredentials
    agencies: dict[str, str]  # "reference" or a fault name → agency base URL
    http: httpx.Client
    citizen: dict[str, Any]

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.sandbox.info.admin_token}"}

    def mint(self, audience: str = AUDIENCE, scope: str = SCOPES, **extra: Any) -> str:
        response = self.http.post(
            f"{self.sandbox.info.identity_url}/admin/tokens",
            headers=self.admin,
            json={"audience": audience, "scope": scope, **extra},
        )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def auth(self, **kwargs: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.mint(**kwargs)}"}

    def syncs(self, code: str) -> list[dict[str, Any]]:
        response = self.http.get(
            f"{self.sandbox.info.portal_url}/admin/syncs",
            headers=self.admin,
            params={"dossier_code": code},
        )
        assert response.status_code == 200, response.text
        records: list[dict[str, Any]] = response.json()["records"]
        return records


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    state_dir: Path = tmp_path_factory.mktemp("sandbox")
    credentials = issue_credentials(state_dir, AGENCY)
    with (
        Sandbox(state_dir, population_size=50, seed=7) as sandbox,
        httpx.Client(timeout=10.0) as http,
    ):
        agencies = {"reference": sandbox.start_agency(credentials, name="reference").url}
        for name, fault in FAULTS.items():
            agencies[name] = sandbox.start_agency(
                credentials, behaviour=fault.behaviour, name=name
            ).url
        sample = http.get(
            f"{sandbox.info.population_url}/admin/citizens/sample",
            params={"count": 1},
            headers={"Authorization": f"Bearer {sandbox.info.admin_token}"},
        )
        assert sample.status_code == 200, sample.text
        citizen = sample.json()["citizens"][0]
        yield World(sandbox, credentials, agencies, http, citizen)


@pytest.fixture
def url(world: World) -> str:
    return world.agencies["reference"]


def new_code() -> str:
    return f"{AGENCY}-250115-{next(_serial):04d}"


def submission(world: World, **overrides: Any) -> dict[str, Any]:
    citizen = world.citizen
    body: dict[str, Any] = {
        "MaHoSo": new_code(),
        "MaTTHC": "1.004194",
        "NgayNopHoSo": "20250115143000",
        "KenhNop": 2,
        "TrichYeuHoSo": "Đăng ký tạm trú",
        "ChuHoSo": {
            "SoDinhDanh": citizen["pin"],
            "HoVaTen": citizen["full_name"],
            "NgaySinh": citizen["date_of_birth"].replace("-", ""),
        },
    }
    body.update(overrides)
    return body


def poll(check: Callable[[], Any], timeout_s: float = POLL_S) -> Any:
    """The first truthy result of `check`, or the last result after the timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.05)


def agency_status(world: World, base: str, code: str) -> int:
    response = world.http.get(f"{base}/dossiers/{code}", headers=world.auth())
    assert response.status_code == 200, response.text
    return int(response.json()["TrangThaiHoSo"])


def wait_for_status(world: World, base: str, code: str, status: int) -> int:
    return int(
        poll(lambda: agency_status(world, base, code) == status and status)
        or agency_status(world, base, code)
    )


def wait_for_syncs(world: World, code: str, count: int) -> list[dict[str, Any]]:
    def enough() -> list[dict[str, Any]] | None:
        records = world.syncs(code)
        return records if len(records) >= count else None

    found: list[dict[str, Any]] | None = poll(enough)
    return found if found is not None else world.syncs(code)


def assert_problem(
    response: httpx.Response, status: int, field: str | None = None
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    if field is not None:
        assert field in [error["field"] for error in problem.get("errors", [])], problem
    return problem


# -- the reference agency -------------------------------------------------------------------


def test_a_dossier_is_accepted_then_synced_2_then_4(world: World, url: str) -> None:
    body = submission(world)
    response = world.http.post(f"{url}/dossiers", json=body, headers=world.auth())
    assert response.status_code == 202, response.text
    receipt = response.json()
    assert receipt["MaHoSo"] == body["MaHoSo"]
    assert receipt["MaTTHC"] == "1.004194"
    assert receipt["TrangThaiHoSo"] in (1, 2, 4)
    assert len(receipt["NgayCapNhat"]) == 14

    assert wait_for_status(world, url, body["MaHoSo"], 4) == 4
    records = wait_for_syncs(world, body["MaHoSo"], 2)
    assert [(r["status"], r["accepted"]) for r in records] == [(2, True), (4, True)]
    assert {r["agency_id"] for r in records} == {AGENCY}
    payload = records[0]["payload"]
    assert payload["DonViXuLy"] == AGENCY
    assert payload["MaTTHC"] == "1.004194"
    assert payload["NgayHenTra"].endswith("170000")
    assert payload["NgayHenTra"] > payload["NgayTiepNhan"]


def test_an_applicant_whose_name_does_not_match_ends_at_status_3(world: World, url: str) -> None:
    body = submission(world)
    body["ChuHoSo"]["HoVaTen"] = "Không Phải Tên Này"
    assert world.http.post(f"{url}/dossiers", json=body, headers=world.auth()).status_code == 202
    assert wait_for_status(world, url, body["MaHoSo"], 3) == 3
    records = wait_for_syncs(world, body["MaHoSo"], 1)
    assert [(r["status"], r["accepted"]) for r in records] == [(3, True)]
    assert records[0]["payload"]["GhiChu"]


def test_an_unknown_applicant_ends_at_status_3(world: World, url: str) -> None:
    body = submission(world)
    body["ChuHoSo"]["SoDinhDanh"] = "999999999999"
    assert world.http.post(f"{url}/dossiers", json=body, headers=world.auth()).status_code == 202
    assert wait_for_status(world, url, body["MaHoSo"], 3) == 3


def test_resubmitting_the_same_dossier_returns_it_without_a_duplicate(
    world: World, url: str
) -> None:
    body = submission(world)
    first = world.http.post(f"{url}/dossiers", json=body, headers=world.auth())
    assert first.status_code == 202, first.text
    wait_for_status(world, url, body["MaHoSo"], 4)
    wait_for_syncs(world, body["MaHoSo"], 2)

    reordered = dict(reversed(list(body.items())))
    again = world.http.post(f"{url}/dossiers", json=reordered, headers=world.auth())
    assert again.status_code == 200, again.text
    assert again.json()["MaHoSo"] == body["MaHoSo"]
    assert again.json()["TrangThaiHoSo"] == 4
    time.sleep(0.5)  # a second processing run would sync again by now
    assert [r["status"] for r in world.syncs(body["MaHoSo"])] == [2, 4]


def test_the_same_code_with_different_content_is_a_conflict(world: World, url: str) -> None:
    body = submission(world)
    assert world.http.post(f"{url}/dossiers", json=body, headers=world.auth()).status_code == 202
    changed = {**body, "KenhNop": 1}
    response = world.http.post(f"{url}/dossiers", json=changed, headers=world.auth())
    assert_problem(response, 409, "/MaHoSo")


def test_a_missing_token_is_a_401_with_a_challenge(world: World, url: str) -> None:
    response = world.http.post(f"{url}/dossiers", json=submission(world))
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")
    status = world.http.get(f"{url}/dossiers/{AGENCY}-250115-0001")
    assert_problem(status, 401)


@pytest.mark.parametrize(
    "audience",
    ["urn:lienthong:portal", "urn:lienthong:agency:000.00.02.H29", "urn:lienthong:population"],
)
def test_a_token_for_another_audience_is_a_401(world: World, url: str, audience: str) -> None:
    response = world.http.post(
        f"{url}/dossiers", json=submission(world), headers=world.auth(audience=audience)
    )
    problem = assert_problem(response, 401)
    assert AUDIENCE in problem["detail"]
    assert "invalid_token" in response.headers["www-authenticate"]


def test_an_expired_token_is_a_401(world: World, url: str) -> None:
    response = world.http.post(
        f"{url}/dossiers", json=submission(world), headers=world.auth(lifetime_s=-600)
    )
    assert_problem(response, 401)


def test_a_token_from_another_identity_provider_is_a_401(
    world: World, url: str, make_token: Callable[..., str]
) -> None:
    token = make_token(AUDIENCE, SCOPES)
    response = world.http.post(
        f"{url}/dossiers", json=submission(world), headers={"Authorization": f"Bearer {token}"}
    )
    assert_problem(response, 401)


def test_submitting_without_the_submit_scope_is_a_403(world: World, url: str) -> None:
    response = world.http.post(
        f"{url}/dossiers", json=submission(world), headers=world.auth(scope="dossier.read")
    )
    assert_problem(response, 403)
    assert "dossier.submit" in response.headers["www-authenticate"]


def test_reading_without_the_read_scope_is_a_403(world: World, url: str) -> None:
    response = world.http.get(
        f"{url}/dossiers/{AGENCY}-250115-0001", headers=world.auth(scope="dossier.submit")
    )
    assert_problem(response, 403)
    assert "dossier.read" in response.headers["www-authenticate"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda b: b["ChuHoSo"].update(SoDinhDanh="12345"), "/ChuHoSo/SoDinhDanh"),
        (lambda b: b["ChuHoSo"].update(SoDinhDanh="00109000000A"), "/ChuHoSo/SoDinhDanh"),
        (lambda b: b.update(NgayNopHoSo="20240230120000"), "/NgayNopHoSo"),
        (lambda b: b.update(NgayNopHoSo="2025-01-15T14:30"), "/NgayNopHoSo"),
        (lambda b: b["ChuHoSo"].update(NgaySinh="19900231"), "/ChuHoSo/NgaySinh"),
        (lambda b: b.update(MaTTHC="1.000001"), "/MaTTHC"),
        (lambda b: b.update(MaTTHC="TAM-TRU"), "/MaTTHC"),
        (lambda b: b.update(MaHoSo="HS-1"), "/MaHoSo"),
        (lambda b: b.update(KenhNop=4), "/KenhNop"),
        (lambda b: b.pop("ChuHoSo"), "/ChuHoSo"),
        (lambda b: b.update(Extra=True), "/"),
    ],
    ids=[
        "short-pin",
        "letter-in-pin",
        "30-february",
        "iso-date",
        "31-february-birth",
        "unknown-procedure",
        "malformed-procedure",
        "malformed-code",
        "bad-channel",
        "no-applicant",
        "unknown-field",
    ],
)
def test_an_invalid_dossier_is_a_422_naming_the_field(
    world: World, url: str, change: Callable[[dict[str, Any]], Any], field: str
) -> None:
    body = submission(world)
    change(body)
    problem = assert_problem(
        world.http.post(f"{url}/dossiers", json=body, headers=world.auth()), 422, field
    )
    assert all(error.get("fix") for error in problem["errors"])


def test_a_refused_dossier_is_not_stored(world: World, url: str) -> None:
    body = submission(world, MaTTHC="1.000001")
    world.http.post(f"{url}/dossiers", json=body, headers=world.auth())
    response = world.http.get(f"{url}/dossiers/{body['MaHoSo']}", headers=world.auth())
    assert_problem(response, 404)


def test_malformed_json_is_a_400(world: World, url: str) -> None:
    headers = {**world.auth(), "Content-Type": "application/json"}
    assert_problem(world.http.post(f"{url}/dossiers", content=b'{"MaHoSo": ', headers=headers), 400)
    assert_problem(world.http.post(f"{url}/dossiers", content=b"[]", headers=headers), 400)


def test_another_content_type_is_a_415(world: World, url: str) -> None:
    response = world.http.post(f"{url}/dossiers", data={"MaHoSo": new_code()}, headers=world.auth())
    assert_problem(response, 415, "Content-Type")


def test_an_unknown_dossier_is_a_404(world: World, url: str) -> None:
    response = world.http.get(f"{url}/dossiers/{AGENCY}-991231-9999", headers=world.auth())
    assert_problem(response, 404)


@pytest.mark.parametrize("code", ["HS-1", "000.00.01.H29-2501-0001", "000.00.01.h29-250115-0001"])
def test_a_malformed_dossier_code_is_a_400(world: World, url: str, code: str) -> None:
    response = world.http.get(f"{url}/dossiers/{code}", headers=world.auth())
    assert_problem(response, 400, "dossier_code")


def test_an_unknown_path_and_method_are_problems(world: World, url: str) -> None:
    assert_problem(world.http.get(f"{url}/nowhere"), 404)
    assert_problem(world.http.delete(f"{url}/dossiers"), 405)


# -- the faulty catalogue -------------------------------------------------------------------


def test_the_catalogue_has_the_faults_these_tests_cover() -> None:
    # The strict profile's faults are covered in test_agency_strict.py.
    assert {name for name, fault in FAULTS.items() if fault.profile == "baseline"} == {
        "accepts-wrong-audience",
        "accepts-expired-tokens",
        "accepts-future-tokens",
        "accepts-foreign-issuer",
        "accepts-alg-none",
        "accepts-missing-token",
        "accepts-forged-signatures",
        "ignores-scope",
        "skips-applicant-verification",
        "never-syncs-status",
        "iso-dates-in-sync",
        # Timestamps, due dates and results: test_agency_results.py.
        "utc-timestamps",
        "calendar-day-deadlines",
        "result-without-documents",
        "reprocesses-resubmissions",
        "verbose-errors",
        "gives-up-on-outage",
        "drops-syncs-on-portal-outage",
        # Retry-After and time limits: test_agency_resilience.py.
        "ignores-retry-after",
        "waits-forever-on-population",
        "waits-forever-on-portal",
        "accepts-payment-after-withdrawal",
        "never-rate-limits",
        "sheds-load-with-503",
        # Reading the applicant's record: test_agency_lookups.py.
        "reads-without-purpose",
        "over-asks-fields",
        "uses-withdrawn-consent",
        # Procedures other than temporary residence: tests/harness/test_scenarios.py.
        "desk-fees-beyond-temporary-residence",
        # The contract (AGY-*): test_agency_contract_faults.py.
        "crashes-on-one-word-names",
        "undocumented-answers",
        "accepts-invalid-dossiers",
    }


def _unsigned_token(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        raw = json.dumps(data).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def _accepted(world: World, fault: str, headers: dict[str, str]) -> int:
    url = world.agencies[fault]
    return world.http.post(f"{url}/dossiers", json=submission(world), headers=headers).status_code


@pytest.mark.parametrize(
    ("fault", "token_options"),
    [
        ("accepts-expired-tokens", {"issued_offset_s": -1200, "lifetime_s": 600}),
        ("accepts-future-tokens", {"issued_offset_s": 900}),
        ("accepts-foreign-issuer", {"issuer": "https://attacker.example"}),
        ("ignores-scope", {"scope": "dossier.read"}),
    ],
)
def test_each_token_fault_accepts_exactly_its_defect(
    world: World, fault: str, token_options: dict[str, Any]
) -> None:
    defective = world.auth(**token_options)
    assert _accepted(world, fault, defective) == 202
    assert _accepted(world, "reference", defective) in (401, 403)


def test_accepts_alg_none_trusts_an_unsigned_token(world: World) -> None:
    now = int(time.time())
    claims = {
        "iss": world.sandbox.info.identity_url,
        "aud": AUDIENCE,
        "scope": SCOPES,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "sub": "x",
    }
    unsigned = {"Authorization": f"Bearer {_unsigned_token(claims)}"}
    assert _accepted(world, "accepts-alg-none", unsigned) == 202
    assert _accepted(world, "reference", unsigned) == 401


def test_reprocesses_resubmissions_answers_202_again(world: World) -> None:
    url = world.agencies["reprocesses-resubmissions"]
    body = submission(world)
    first = world.http.post(f"{url}/dossiers", json=body, headers=world.auth())
    again = world.http.post(f"{url}/dossiers", json=body, headers=world.auth())
    assert (first.status_code, again.status_code) == (202, 202)


def test_verbose_errors_leak_debug_data_and_versions(world: World) -> None:
    url = world.agencies["verbose-errors"]
    body = submission(world)
    body["ChuHoSo"]["NgaySinh"] = "19901340"
    response = world.http.post(f"{url}/dossiers", json=body, headers=world.auth())
    assert response.status_code == 422
    assert "Traceback" in response.text and body["ChuHoSo"]["SoDinhDanh"] in response.text
    assert "Python/" in response.headers["x-powered-by"]
    quiet = world.http.post(
        f"{world.agencies['reference']}/dossiers", json=body, headers=world.auth()
    )
    assert "Traceback" not in quiet.text and body["ChuHoSo"]["SoDinhDanh"] not in quiet.text


def test_accepts_wrong_audience_takes_a_token_for_another_service(world: World) -> None:
    base = world.agencies["accepts-wrong-audience"]
    body = submission(world)
    response = world.http.post(
        f"{base}/dossiers", json=body, headers=world.auth(audience="urn:lienthong:portal")
    )
    assert response.status_code == 202, response.text


def test_accepts_wrong_audience_still_checks_everything_else(world: World) -> None:
    base = world.agencies["accepts-wrong-audience"]
    expired = world.auth(audience="urn:lienthong:portal", lifetime_s=-600)
    assert_problem(
        world.http.post(f"{base}/dossiers", json=submission(world), headers=expired), 401
    )
    unscoped = world.auth(audience="urn:lienthong:portal", scope="")
    assert_problem(
        world.http.post(f"{base}/dossiers", json=submission(world), headers=unscoped), 403
    )


def test_skips_applicant_verification_accepts_an_applicant_who_does_not_match(
    world: World,
) -> None:
    base = world.agencies["skips-applicant-verification"]
    body = submission(world)
    body["ChuHoSo"]["HoVaTen"] = "Không Phải Tên Này"
    assert world.http.post(f"{base}/dossiers", json=body, headers=world.auth()).status_code == 202
    assert wait_for_status(world, base, body["MaHoSo"], 4) == 4
    records = wait_for_syncs(world, body["MaHoSo"], 2)
    assert [(r["status"], r["accepted"]) for r in records] == [(2, True), (4, True)]


def test_never_syncs_status_processes_but_leaves_the_portal_log_empty(world: World) -> None:
    base = world.agencies["never-syncs-status"]
    body = submission(world)
    assert world.http.post(f"{base}/dossiers", json=body, headers=world.auth()).status_code == 202
    assert wait_for_status(world, base, body["MaHoSo"], 4) == 4
    time.sleep(0.3)
    assert world.syncs(body["MaHoSo"]) == []


def test_iso_dates_in_sync_is_refused_by_the_portal(world: World) -> None:
    base = world.agencies["iso-dates-in-sync"]
    body = submission(world)
    assert world.http.post(f"{base}/dossiers", json=body, headers=world.auth()).status_code == 202
    assert wait_for_status(world, base, body["MaHoSo"], 4) == 4
    records = wait_for_syncs(world, body["MaHoSo"], 2)
    assert [r["accepted"] for r in records] == [False, False]
    problem = records[0]["problem"]
    assert problem["status"] == 422
    assert "/NgayTiepNhan" in [error["field"] for error in problem["errors"]]
    assert "T" in records[0]["payload"]["NgayTiepNhan"]


def test_a_dossier_code_with_a_trailing_newline_is_refused(world: World, url: str) -> None:
    body = submission(world, MaHoSo=new_code() + "\n")
    response = world.http.post(f"{url}/dossiers", json=body, headers=world.auth())
    assert_problem(response, 422, "/MaHoSo")


# -- processing when the population database is down ----------------------------------------


def _processor_with_population_answering(tmp_path: Path, status: int) -> tuple[Any, Any, str]:
    from simulators.agencies.catalogue import REFERENCE
    from simulators.agencies.processing import Processor
    from simulators.agencies.store import AgencyStore
    from simulators.common.oauth_client import TokenClient

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth2/token":
            return httpx.Response(
                200,
                json={"access_token": "t", "token_type": "Bearer", "expires_in": 300, "scope": ""},
            )
        if request.url.path == "/v1/citizens/verify":
            answer = {"result": "mismatch"} if status == 200 else {"status": status}
            return httpx.Response(status, json=answer, headers={"Retry-After": "0"})
        return httpx.Response(200, json={"accepted": True})

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    key = issue_credentials(tmp_path, AGENCY).private_key
    tokens = TokenClient(token_url="http://idp/oauth2/token", client_id=AGENCY, key=key, http=http)
    store = AgencyStore(tmp_path / "agency.db")
    code = new_code()
    store.insert_if_new(
        {
            "MaHoSo": code,
            "MaTTHC": "1.004194",
            "NgayNopHoSo": "20250115143000",
            "KenhNop": 2,
            "ChuHoSo": {"SoDinhDanh": "001090000001", "HoVaTen": "A", "NgaySinh": "19900131"},
        }
    )
    processor = Processor(
        AGENCY,
        store,
        tokens,
        http,
        "http://population",
        "http://portal",
        REFERENCE,
        {"1.004194": 3},
    )
    return processor, store, code


def _process(processor: Any, code: str) -> None:
    import asyncio

    async def run() -> None:
        try:
            await processor.process(code)
        finally:
            await processor.http.aclose()

    asyncio.run(run())


def test_a_mismatch_from_the_population_database_rejects_the_dossier(tmp_path: Path) -> None:
    processor, store, code = _processor_with_population_answering(tmp_path, 200)
    _process(processor, code)
    assert store.get(code).status == 3
    store.close()


def test_a_population_outage_does_not_reject_the_dossier(tmp_path: Path) -> None:
    processor, store, code = _processor_with_population_answering(tmp_path, 503)
    _process(processor, code)
    try:
        assert store.get(code).status == 1
    finally:
        store.close()


# -- the citizen's later actions: payment, supplement, withdrawal ----------------------------


def submit_until(world: World, url: str, status: int, **form: Any) -> str:
    """A dossier with form data `form`, once the reference agency has moved it to `status`."""
    body = submission(world, DuLieuHoSo={"ThoiHanTamTru": 12, **form})
    response = world.http.post(f"{url}/dossiers", json=body, headers=world.auth())
    assert response.status_code == 202, response.text
    assert wait_for_status(world, url, body["MaHoSo"], status) == status
    return str(body["MaHoSo"])


def payment(transaction: str = "GD-0001", amount: int = 15000) -> dict[str, Any]:
    return {
        "MaGiaoDich": transaction,
        "SoTien": amount,
        "NgayThanhToan": "20250116090000",
        "HinhThucThu": 2,
    }


SUPPLEMENT = {"NgayBoSung": "20250116090000", "TaiLieuNop": [{"TenTepDinhKem": "ho-khau.pdf"}]}


def synced_statuses(world: World, code: str, count: int) -> list[tuple[int, bool]]:
    return [(r["status"], r["accepted"]) for r in wait_for_syncs(world, code, count)]


def test_online_payment_requested_then_paid_moves_to_4(world: World, url: str) -> None:
    code = submit_until(world, url, 6, ThanhToanTrucTuyen=True)
    body = payment(f"GD-{code}")
    response = world.http.post(f"{url}/dossiers/{code}/payments", json=body, headers=world.auth())
    assert response.status_code == 202, response.text
    assert response.json()["TrangThaiHoSo"] == 4
    assert synced_statuses(world, code, 3) == [(2, True), (6, True), (4, True)]
    paid = world.syncs(code)[-1]["payload"]["DanhSachLePhi"]
    assert paid == [
        {
            "MaPhiLePhi": "LP-TAT",
            "TenPhiLePhi": paid[0]["TenPhiLePhi"],
            "Gia": 15000,
            "HinhThucThu": 2,
        }
    ]
    # The portal delivers at least once: the same transaction again changes nothing.
    again = world.http.post(f"{url}/dossiers/{code}/payments", json=body, headers=world.auth())
    assert again.status_code == 200, again.text
    assert again.json()["TrangThaiHoSo"] == 4
    reused = {**body, "SoTien": 20000}
    assert_problem(
        world.http.post(f"{url}/dossiers/{code}/payments", json=reused, headers=world.auth()),
        409,
        "MaGiaoDich",
    )


def test_a_payment_of_the_wrong_amount_is_a_422(world: World, url: str) -> None:
    code = submit_until(world, url, 6, ThanhToanTrucTuyen=True)
    body = payment(f"GD-{code}", amount=1)
    response = world.http.post(f"{url}/dossiers/{code}/payments", json=body, headers=world.auth())
    assert_problem(response, 422, "/SoTien")
    assert agency_status(world, url, code) == 6


def test_a_payment_nobody_asked_for_is_a_409_naming_the_status(world: World, url: str) -> None:
    code = submit_until(world, url, 4)
    response = world.http.post(
        f"{url}/dossiers/{code}/payments", json=payment(f"GD-{code}"), headers=world.auth()
    )
    problem = assert_problem(response, 409, "TrangThaiHoSo")
    assert problem["TrangThaiHoSo"] == 4
    assert problem["allowed_statuses"] == [6]


def test_a_supplement_answers_a_request_and_processing_resumes(world: World, url: str) -> None:
    code = submit_until(world, url, 5, ThieuGiayTo=True)
    assert world.syncs(code)[-1]["payload"]["DanhSachHoSoBoSung"]
    headers = {**world.auth(), "Idempotency-Key": f"supplement:{code}:1"}
    response = world.http.post(
        f"{url}/dossiers/{code}/supplements", json=SUPPLEMENT, headers=headers
    )
    assert response.status_code == 202, response.text
    assert synced_statuses(world, code, 3) == [(2, True), (5, True), (4, True)]
    again = world.http.post(f"{url}/dossiers/{code}/supplements", json=SUPPLEMENT, headers=headers)
    assert again.status_code == 200, again.text
    other = {**headers, "Idempotency-Key": f"supplement:{code}:2"}
    assert_problem(
        world.http.post(f"{url}/dossiers/{code}/supplements", json=SUPPLEMENT, headers=other),
        409,
        "TrangThaiHoSo",
    )


def test_a_supplement_then_the_payment_when_both_are_needed(world: World, url: str) -> None:
    code = submit_until(world, url, 5, ThieuGiayTo=True, ThanhToanTrucTuyen=True)
    response = world.http.post(
        f"{url}/dossiers/{code}/supplements", json=SUPPLEMENT, headers=world.auth()
    )
    assert response.status_code == 202, response.text
    assert response.json()["TrangThaiHoSo"] == 4  # the lifecycle has no 5 → 6
    assert wait_for_status(world, url, code, 6) == 6
    paid = world.http.post(
        f"{url}/dossiers/{code}/payments", json=payment(f"GD-{code}"), headers=world.auth()
    )
    assert paid.status_code == 202, paid.text
    expected = [(2, True), (5, True), (4, True), (6, True), (4, True)]
    assert synced_statuses(world, code, 5) == expected


def test_a_withdrawal_is_synced_as_7_and_repeats_are_harmless(world: World, url: str) -> None:
    code = submit_until(world, url, 4)
    body = {"LyDo": "Không còn nhu cầu"}
    response = world.http.post(f"{url}/dossiers/{code}/withdrawal", json=body, headers=world.auth())
    assert response.status_code == 202, response.text
    assert response.json()["TrangThaiHoSo"] == 7
    assert synced_statuses(world, code, 3) == [(2, True), (4, True), (7, True)]
    again = world.http.post(f"{url}/dossiers/{code}/withdrawal", json=body, headers=world.auth())
    assert again.status_code == 200, again.text


def test_a_refused_dossier_cannot_be_withdrawn(world: World, url: str) -> None:
    body = submission(world)
    body["ChuHoSo"]["HoVaTen"] = "Không Phải Tên Này"
    assert world.http.post(f"{url}/dossiers", json=body, headers=world.auth()).status_code == 202
    assert wait_for_status(world, url, body["MaHoSo"], 3) == 3
    response = world.http.post(
        f"{url}/dossiers/{body['MaHoSo']}/withdrawal", json={"LyDo": "x"}, headers=world.auth()
    )
    problem = assert_problem(response, 409)
    assert problem["allowed_statuses"] == [1, 2, 4, 5, 6]


@pytest.mark.parametrize("action", ["payments", "supplements", "withdrawal"])
def test_citizen_actions_check_token_scope_code_and_body(
    world: World, url: str, action: str
) -> None:
    code = new_code()
    target = f"{url}/dossiers/{code}/{action}"
    assert_problem(world.http.post(target, json={}), 401)
    assert_problem(world.http.post(target, json={}, headers=world.auth(scope="dossier.read")), 403)
    assert_problem(
        world.http.post(f"{url}/dossiers/x/{action}", json={}, headers=world.auth()), 400
    )
    assert_problem(world.http.post(target, json={"LyDo": 5}, headers=world.auth()), 422)
    valid = {
        "payments": payment(),
        "supplements": SUPPLEMENT,
        "withdrawal": {"LyDo": "x"},
    }[action]
    assert_problem(world.http.post(target, json=valid, headers=world.auth()), 404)
    bad_key = {**world.auth(), "Idempotency-Key": "has space"}
    assert_problem(world.http.post(target, json=valid, headers=bad_key), 422, "Idempotency-Key")


def test_a_payment_with_an_impossible_date_is_a_422(world: World, url: str) -> None:
    code = submit_until(world, url, 6, ThanhToanTrucTuyen=True)
    body = {**payment(f"GD-{code}"), "NgayThanhToan": "20251399000000"}
    response = world.http.post(f"{url}/dossiers/{code}/payments", json=body, headers=world.auth())
    assert_problem(response, 422, "/NgayThanhToan")


def test_the_reference_decisions_follow_the_form_data() -> None:
    from simulators.agencies.actions import decide_next

    def form(**data: Any) -> dict[str, Any]:
        return {"DuLieuHoSo": data}

    assert decide_next(form(), 15000, frozenset()) == 4
    assert decide_next(form(ThanhToanTrucTuyen=True), 15000, frozenset()) == 6
    assert decide_next(form(ThanhToanTrucTuyen=True), 0, frozenset()) == 4
    assert decide_next(form(ThanhToanTrucTuyen=True), 15000, frozenset({"payment"})) == 4
    assert decide_next(form(ThieuGiayTo=True, ThanhToanTrucTuyen=True), 1, frozenset()) == 5
    supplemented = frozenset({"supplement"})
    assert decide_next(form(ThieuGiayTo=True, ThanhToanTrucTuyen=True), 1, supplemented) == 6
    assert decide_next(form(ThieuGiayTo="true"), 0, frozenset()) == 4


# -- end to end: the citizen at the portal, the reference agency behind it -------------------


def citizen_dossier(world: World, url: str, **form: Any) -> str:
    """A dossier submitted on the sandbox portal and routed by its outbox to `url`."""
    portal = world.sandbox.info.portal_url
    route = {"agency_id": AGENCY, "base_url": url}
    assert world.http.post(f"{portal}/admin/routes", json=route, headers=world.admin).is_success
    citizen = world.citizen
    body = {
        "MaTTHC": "1.004194",
        "DonViXuLy": AGENCY,
        "ChuHoSo": {
            "SoDinhDanh": citizen["pin"],
            "HoVaTen": citizen["full_name"],
            "NgaySinh": citizen["date_of_birth"].replace("-", ""),
        },
        "DuLieuHoSo": form,
    }
    response = world.http.post(f"{portal}/v1/citizen/dossiers", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["MaHoSo"])


def portal_status(world: World, code: str, status: int) -> int:
    def current() -> int:
        response = world.http.get(f"{world.sandbox.info.portal_url}/v1/citizen/dossiers/{code}")
        return int(response.json()["TrangThaiHoSo"])

    return int(poll(lambda: current() == status and status) or current())


def test_a_citizen_pays_on_the_portal_and_the_agency_moves_on(world: World, url: str) -> None:
    code = citizen_dossier(world, url, ThanhToanTrucTuyen=True)
    assert portal_status(world, code, 6) == 6
    portal = world.sandbox.info.portal_url
    paid = world.http.post(f"{portal}/v1/citizen/dossiers/{code}/payment", json={"SoTien": 15000})
    assert paid.status_code == 201, paid.text
    assert portal_status(world, code, 4) == 4
    assert [r["status"] for r in world.syncs(code)] == [2, 6, 4]


def test_a_citizen_supplements_then_withdraws_on_the_portal(world: World, url: str) -> None:
    code = citizen_dossier(world, url, ThieuGiayTo=True)
    assert portal_status(world, code, 5) == 5
    portal = world.sandbox.info.portal_url
    documents = {"TaiLieuNop": [{"TenTepDinhKem": "so-tam-tru.pdf"}]}
    sent = world.http.post(f"{portal}/v1/citizen/dossiers/{code}/supplement", json=documents)
    assert sent.status_code == 202, sent.text
    assert portal_status(world, code, 4) == 4
    withdrawn = world.http.post(
        f"{portal}/v1/citizen/dossiers/{code}/withdrawal", json={"LyDo": "Đã chuyển nơi ở"}
    )
    assert withdrawn.status_code == 202, withdrawn.text
    assert portal_status(world, code, 7) == 7
    assert [r["status"] for r in world.syncs(code)] == [2, 5, 4, 7]


# -- the lifecycle and rate-limit faults ----------------------------------------------------


def test_accepts_payment_after_withdrawal_reopens_a_withdrawn_dossier(world: World) -> None:
    for name, expected in (("accepts-payment-after-withdrawal", 202), ("reference", 409)):
        base = world.agencies[name]
        code = submit_until(world, base, 4)
        withdrawal = {"LyDo": "Không còn nhu cầu"}
        withdrawn = world.http.post(
            f"{base}/dossiers/{code}/withdrawal", json=withdrawal, headers=world.auth()
        )
        assert withdrawn.json()["TrangThaiHoSo"] == 7, withdrawn.text
        paid = world.http.post(
            f"{base}/dossiers/{code}/payments", json=payment(f"GD-{code}"), headers=world.auth()
        )
        assert paid.status_code == expected, paid.text
        if expected == 409:
            assert assert_problem(paid, 409, "TrangThaiHoSo")["TrangThaiHoSo"] == 7
        else:
            assert paid.json()["TrangThaiHoSo"] == 4  # 7 → 4, which the lifecycle forbids


SMALL_LIMIT = RateLimit(per_s=1.0, burst=5)


@pytest.fixture(scope="module")
def limited(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The reference and the two rate-limit faults with a limit a test reaches at once."""
    info, handles = world.sandbox.info, []
    for name in ("reference", "never-rate-limits", "sheds-load-with-503"):
        config = AgencyConfig(
            credentials=world.credentials,
            idp_url=info.identity_url,
            population_url=info.population_url,
            portal_url=info.portal_url,
            db_path=tmp_path_factory.mktemp("limited") / f"{name}.db",
            behaviour=REFERENCE if name == "reference" else FAULTS[name].behaviour,
            rate_limit=SMALL_LIMIT,
        )
        handles.append(serve_in_thread(name, create_app(config), bind_socket()))
    yield {h.name: h.url for h in handles}
    for handle in handles:
        handle.stop()


def burst(world: World, base: str, client: str, count: int) -> list[httpx.Response]:
    """`count` reads as fast as one client can send them."""
    headers = world.auth(subject=client)
    unknown = f"{base}/dossiers/{AGENCY}-991231-9990"
    return [world.http.get(unknown, headers=headers) for _ in range(count)]


def test_the_default_limit_sits_between_the_contracts_rates() -> None:
    assert (DEFAULT_RATE_LIMIT.per_s, DEFAULT_RATE_LIMIT.burst) == (150.0, 300)
    assert AgencyConfig.__dataclass_fields__["rate_limit"].default == DEFAULT_RATE_LIMIT


def test_one_client_over_its_rate_gets_429_with_retry_after_and_no_other_does(
    world: World, limited: dict[str, str]
) -> None:
    url = limited["reference"]
    answers = burst(world, url, "burst-reference", 12)
    statuses = [r.status_code for r in answers]
    first = statuses.index(429)
    assert first >= SMALL_LIMIT.burst and set(statuses[:first]) == {404}
    problem = assert_problem(answers[first], 429)
    assert problem["type"].endswith("/rate-limited")
    assert int(answers[first].headers["retry-after"]) >= 1
    # Another client — the portal, the rest of a certification — is still served.
    assert_problem(burst(world, url, "another-client", 1)[0], 404)


def test_never_rate_limits_serves_any_burst(world: World, limited: dict[str, str]) -> None:
    answers = burst(world, limited["never-rate-limits"], "burst-unlimited", 12)
    assert {r.status_code for r in answers} == {404}


def test_sheds_load_with_503_answers_a_server_error(world: World, limited: dict[str, str]) -> None:
    answers = burst(world, limited["sheds-load-with-503"], "burst-shedding", 12)
    shed = [r for r in answers if r.status_code != 404]
    assert shed and {r.status_code for r in shed} == {503}
    assert shed[0].headers["retry-after"].isdigit()
