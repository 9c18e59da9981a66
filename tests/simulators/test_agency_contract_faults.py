"""The contract faults of the reference agency (catalogue.py), each against the reference:
a server error on a one-word name, a framework's plain-JSON 404, invalid dossiers taken.

In-process (TestClient, lifespan not run: nothing is processed in the background); the
token verifier is the test one from tests/conftest.py. That each fault fails exactly its
requirement in a certification is tests/harness/test_catalogue.py's to show."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from simulators.agencies.app import AgencyConfig, create_app
from simulators.agencies.catalogue import FAULTS, REFERENCE, Behaviour
from simulators.common.tokens import TokenVerifier
from simulators.identity.credentials import issue_credentials

AGENCY = "000.00.01.H29"
AUDIENCE = f"urn:lienthong:agency:{AGENCY}"
PROBLEM = "application/problem+json"

_serial = itertools.count(1)


@pytest.fixture
def agency(
    tmp_path: Path,
    make_token: Callable[..., str],
    verifier_for: Callable[[str], TokenVerifier],
) -> Callable[[str], tuple[TestClient, dict[str, str]]]:
    """A client of the reference agency ("reference") or of a fault, and its auth header."""
    credentials = issue_credentials(tmp_path, AGENCY)

    def build(name: str) -> tuple[TestClient, dict[str, str]]:
        behaviour: Behaviour = REFERENCE if name == "reference" else FAULTS[name].behaviour
        config = AgencyConfig(
            credentials,
            "http://idp.test",
            "http://population.test",
            "http://portal.test",
            tmp_path / f"{name}.sqlite",
            behaviour=behaviour,
            rate_limit=None,
        )
        app = create_app(config)
        # The handlers' AgencyApi verifies tokens; give it the test keys, not a JWKS URL.
        api = app.routes[0].endpoint.__self__  # type: ignore[attr-defined]
        api.verifier = verifier_for(AUDIENCE)
        token = make_token(AUDIENCE, "dossier.submit dossier.read")
        client = TestClient(app, raise_server_exceptions=False)
        return client, {"Authorization": f"Bearer {token}"}

    return build


def _dossier(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "MaHoSo": f"{AGENCY}-250115-{next(_serial):04d}",
        "MaTTHC": "1.004194",
        "NgayNopHoSo": "20250115143000",
        "KenhNop": 2,
        "ChuHoSo": {
            "SoDinhDanh": "001090000001",
            "HoVaTen": "Nguyễn Văn An",
            "NgaySinh": "19900101",
        },
    }
    applicant = changes.pop("ChuHoSo", {})
    body.update(changes)
    body["ChuHoSo"].update(applicant)
    return body


def test_a_one_word_name_is_a_server_error_only_with_its_fault(agency: Callable[..., Any]) -> None:
    one_word = _dossier(ChuHoSo={"HoVaTen": "Mai"})
    faulty, auth = agency("crashes-on-one-word-names")
    crash = faulty.post("/dossiers", json=one_word, headers=auth)
    assert crash.status_code == 500
    assert crash.headers["content-type"].startswith(PROBLEM)
    # The usual name still goes through: the defect is the one-word name, nothing else.
    assert faulty.post("/dossiers", json=_dossier(), headers=auth).status_code == 202
    reference, auth = agency("reference")
    assert reference.post("/dossiers", json=one_word, headers=auth).status_code == 202


def test_an_unknown_dossier_is_plain_json_only_with_its_fault(agency: Callable[..., Any]) -> None:
    unknown = f"/dossiers/{AGENCY}-991231-0001"
    faulty, auth = agency("undocumented-answers")
    plain = faulty.get(unknown, headers=auth)
    assert plain.status_code == 404
    assert plain.headers["content-type"] == "application/json"
    assert plain.json() == {"detail": "Not Found"}
    # Still JSON, still no internals: SEC-ERROR-DISCLOSURE and the rate-limit burst
    # (which reads 404 answers as JSON) have nothing against it.
    assert faulty.post(f"{unknown}/withdrawal", json={"LyDo": "x"}, headers=auth).status_code == 404
    reference, auth = agency("reference")
    answer = reference.get(unknown, headers=auth)
    assert answer.status_code == 404 and answer.headers["content-type"].startswith(PROBLEM)


@pytest.mark.parametrize(
    "invalid",
    [
        _dossier(ChuHoSo={"SoDinhDanh": "12345"}),  # not 12 digits
        _dossier(KenhNop=9),  # no such channel
        _dossier(Unknown="field"),  # additionalProperties: false
        _dossier(TrichYeuHoSo="x" * 501),  # over maxLength
    ],
    ids=["malformed-pin", "unknown-channel", "unknown-field", "too-long-summary"],
)
def test_schema_invalid_dossiers_are_taken_only_with_its_fault(
    agency: Callable[..., Any], invalid: dict[str, Any]
) -> None:
    faulty, auth = agency("accepts-invalid-dossiers")
    reference, reference_auth = agency("reference")
    assert faulty.post("/dossiers", json=invalid, headers=auth).status_code == 202
    refused = reference.post("/dossiers", json=invalid, headers=reference_auth)
    assert refused.status_code in (400, 422)


def test_the_lenient_agency_still_refuses_what_it_cannot_read(agency: Callable[..., Any]) -> None:
    """What the fault reads is checked by hand, so it answers 4xx, never a crash (which
    would fail AGY-NO-SERVER-ERROR too), and never echoes a malformed MaHoSo (AGY-CONTRACT)."""
    faulty, auth = agency("accepts-invalid-dossiers")
    no_name = _dossier()
    del no_name["ChuHoSo"]["HoVaTen"]
    for body in (no_name, _dossier(MaHoSo="not-a-code"), _dossier(DuLieuHoSo=[1])):
        assert faulty.post("/dossiers", json=body, headers=auth).status_code == 422
    bad_key = {**auth, "Idempotency-Key": "has spaces"}
    assert faulty.post("/dossiers", json=_dossier(), headers=bad_key).status_code == 202
