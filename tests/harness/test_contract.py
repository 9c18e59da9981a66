"""The contract fuzz's own logic, without an agency: which requirement family an answer
counts against, how realistic values are put into generated cases, and the links the
stateful part follows."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import httpx
import pytest
import schemathesis
import yaml

from harness.checks.contract import FuzzReport, _judge, _make_realistic
from harness.context import CheckContext
from harness.transport import Reply

SPEC = Path(__file__).resolve().parents[2] / "specs" / "agency.yaml"
AGENCY = "000.00.01.H29"
CODE = f"{AGENCY}-250115-0001"


def _ctx() -> CheckContext:
    memos: dict[str, Any] = {}

    def memo(key: str, compute: Any) -> Any:
        if key not in memos:
            memos[key] = compute(fake)
        return memos[key]

    fake = SimpleNamespace(target=SimpleNamespace(agency_id=AGENCY), memo=memo)
    return cast(CheckContext, fake)


def _case(label: str, **parts: Any) -> Any:
    schema = schemathesis.openapi.from_path(str(SPEC))
    method, path = label.split(" ", 1)
    return schema[path][method].Case(**parts)


def _reply(case: Any, status: int, content_type: str, body: bytes) -> Reply:
    request = httpx.Request(case.method, f"http://agency.test{case.formatted_path}")
    response = httpx.Response(
        status, headers={"content-type": content_type}, content=body, request=request
    )
    response.elapsed = timedelta(seconds=0.01)  # as harness.transport sets it
    return Reply(response, "exchange-1", 0.01)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_server_error_counts_against_no_server_error_alone(status: int) -> None:
    case = _case("GET /dossiers/{dossier_code}", path_parameters={"dossier_code": CODE})
    report = FuzzReport()
    # Undocumented status, content type and body: all of it is the one server error.
    _judge(case, _reply(case, status, "text/html", b"<h1>Internal Server Error</h1>"), report)
    assert set(report.failures) == {"server-error"}


def test_an_undocumented_answer_counts_against_the_contract_alone() -> None:
    case = _case("GET /dossiers/{dossier_code}", path_parameters={"dossier_code": CODE})
    report = FuzzReport()
    _judge(case, _reply(case, 404, "application/json", b'{"detail": "Not Found"}'), report)
    assert set(report.failures) == {"conformance"}
    assert "Content-Type" in report.failures["conformance"][0].title


def test_a_documented_answer_counts_against_nothing() -> None:
    case = _case("GET /dossiers/{dossier_code}", path_parameters={"dossier_code": CODE})
    problem = b'{"type": "about:blank", "title": "Not found", "status": 404}'
    report = FuzzReport()
    _judge(case, _reply(case, 404, "application/problem+json", problem), report)
    assert report.failures == {}


def _submission(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "MaHoSo": "ABC-123456-0000",
        "MaTTHC": "9.999999",
        "NgayNopHoSo": "99999999999999",
        "KenhNop": 1,
        "ChuHoSo": {"SoDinhDanh": "000000000000", "HoVaTen": "x", "NgaySinh": "00000000"},
    }
    body.update(changes)
    return body


def test_realistic_values_replace_valid_random_ones() -> None:
    case = SimpleNamespace(body=_submission())
    _make_realistic(_ctx(), case)
    assert case.body["MaHoSo"].startswith(f"{AGENCY}-")
    assert case.body["MaTTHC"] == "1.004194"
    assert case.body["NgayNopHoSo"] != "99999999999999"
    assert case.body["ChuHoSo"]["NgaySinh"] == "19900131"
    # Fields the agency does not refuse on sight are left as generated.
    assert case.body["ChuHoSo"]["SoDinhDanh"] == "000000000000" and case.body["KenhNop"] == 1


@pytest.mark.parametrize(
    ("field", "invalid"),
    [
        ("NgayNopHoSo", "2025011514300"),  # 13 digits
        ("NgayNopHoSo", "20250115143000\n"),  # Python's `$` would take it, JSON Schema not
        ("MaTTHC", 1.004194),  # wrong type
        ("MaHoSo", "abc-123456-0000"),  # lower case
        ("ChuHoSo", {"NgaySinh": "1990-01-31"}),
    ],
)
def test_a_negative_case_stays_exactly_as_invalid(field: str, invalid: Any) -> None:
    """Realistic values go only where the generated value was valid for its field, so a
    negative case is never turned into a valid one (which the reference would accept)."""
    case = SimpleNamespace(body=_submission(**{field: invalid}))
    _make_realistic(_ctx(), case)
    assert case.body[field] == invalid


def test_bodies_that_are_not_objects_are_left_alone() -> None:
    for body in (None, [1, 2], "text", b"\x00"):
        case = SimpleNamespace(body=body)
        _make_realistic(_ctx(), case)
        assert case.body == body


def test_a_submitted_dossier_links_to_every_operation_on_it() -> None:
    """The stateful part chains through these links; each operation on /dossiers/{code}
    must be reachable with a real code."""
    spec = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    links = spec["paths"]["/dossiers"]["post"]["responses"]["202"]["links"]
    targets = {link["operationId"] for link in links.values()}
    on_a_dossier = {
        operation["operationId"]
        for path, item in spec["paths"].items()
        if path.startswith("/dossiers/{dossier_code}")
        for operation in item.values()
        if isinstance(operation, dict) and "operationId" in operation
    }
    assert (
        targets
        == on_a_dossier
        == {
            "getDossier",
            "recordPayment",
            "supplementDossier",
            "withdrawDossier",
        }
    )
    assert all(
        link["parameters"] == {"dossier_code": "$response.body#/MaHoSo"} for link in links.values()
    )


def test_schemathesis_makes_a_rule_of_every_link() -> None:
    machine = schemathesis.openapi.from_path(str(SPEC)).as_state_machine()
    rules = [name for name in vars(machine) if name.startswith("POST_dossiers___202_")]
    links = {"GetDossier", "RecordPayment", "SupplementDossier", "WithdrawDossier"}
    assert {link for link in links for rule in rules if f"_{link}_" in rule} == links
