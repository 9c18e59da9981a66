"""The portal's working-day calculator, GET /v1/calendar/due-date: public, read-only, the
same rule the portal applies to dossiers, problem+json naming the field on bad input."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # Starlette's httpx2 notice at import (see test_portal_app)
    from starlette.testclient import TestClient

from simulators.common.clock import parse_dvc
from simulators.common.tokens import TokenVerifier
from simulators.common.validation import SchemaValidator
from simulators.portal import PortalStore, create_app
from simulators.portal.dossiers import due_date

PROBLEM = "application/problem+json"
URL = "/v1/calendar/due-date"


@pytest.fixture
def client(tmp_path: Path, verifier_for: Callable[[str], TokenVerifier]) -> Iterator[TestClient]:
    store = PortalStore(tmp_path / "portal.sqlite")
    app = create_app(
        store=store, verifier=verifier_for("urn:lienthong:portal"), admin_token="admin"
    )
    yield TestClient(app)
    store.close()


@pytest.mark.parametrize(
    ("received", "working_days", "due"),
    [
        ("20250115143000", 3, "20250120170000"),  # Wednesday before 15:00: Thu, Fri, Mon
        ("20250115153000", 3, "20250121170000"),  # after the cut-off: counted from Thursday
        ("20250118100000", 3, "20250123170000"),  # a Saturday counts from Monday
        ("20250404090000", 1, "20250408170000"),  # Monday 7 April 2025 is Hùng Kings day
        ("20250124100000", 3, "20250205170000"),  # Tết: 27–31 January 2025 are holidays
        ("20250115100000", 0, "20250115170000"),
    ],
)
def test_the_due_date_counts_working_days(
    client: TestClient, received: str, working_days: int, due: str
) -> None:
    response = client.get(URL, params={"received": received, "working_days": working_days})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "NgayTiepNhan": received,
        "MaTTHC": None,
        "ThoiHanGiaiQuyet": working_days,
        "NgayHenTra": due,
    }


def test_a_procedure_brings_its_own_deadline_as_the_portal_applies_it(client: TestClient) -> None:
    response = client.get(URL, params={"received": "20250115143000", "procedure": "1.004194"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["MaTTHC"] == "1.004194" and body["ThoiHanGiaiQuyet"] == 3
    # The same function that sets due_at for a dossier the portal first hears of.
    assert body["NgayHenTra"] == due_date(parse_dvc("20250115143000"), 3) == "20250120170000"


def test_the_answer_matches_the_published_schema(client: TestClient) -> None:
    response = client.get(URL, params={"received": "20250115143000", "procedure": "1.004194"})
    schema = SchemaValidator("portal.yaml", "Timestamp")
    schema.check(response.json()["NgayHenTra"])


def test_no_token_is_needed(client: TestClient) -> None:
    response = client.get(
        URL,
        params={"received": "20250115143000", "working_days": "3"},
        headers={"Authorization": "Bearer not-a-token"},
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"working_days": "3"}, "received"),
        ({"received": "2025-01-15T14:30:00", "working_days": "3"}, "received"),
        ({"received": "20250230120000", "working_days": "3"}, "received"),
        ({"received": "18991231120000", "working_days": "3"}, "received"),
        ({"received": "9" * 500, "working_days": "3"}, "received"),
        ({"received": "20250115143000"}, "procedure"),
        ({"received": "20250115143000", "procedure": "9.999999"}, "procedure"),
        (
            {"received": "20250115143000", "procedure": "1.004194", "working_days": "3"},
            "working_days",
        ),
        ({"received": "20250115143000", "working_days": "-1"}, "working_days"),
        ({"received": "20250115143000", "working_days": "1001"}, "working_days"),
        ({"received": "20250115143000", "working_days": "3.5"}, "working_days"),
    ],
)
def test_bad_input_is_a_400_problem_naming_the_field(
    client: TestClient, params: dict[str, str], field: str
) -> None:
    response = client.get(URL, params=params)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    errors = response.json()["errors"]
    assert [e["field"] for e in errors] == [field]
    assert all(e.get("fix") for e in errors)


def test_the_calculator_is_read_only(client: TestClient) -> None:
    response = client.post(URL, params={"received": "20250115143000", "working_days": "3"})
    assert response.status_code == 405
    assert response.headers["content-type"].startswith(PROBLEM)
