"""AGY-SCENARIOS: the scenario files and their loader, scope, and the golden outcomes
against live reference agencies (one configured with every procedure of the catalogue)."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from harness.checks.scenarios import _declared, _Pacer, _portal_match, _Session, scenarios_followed
from harness.context import CheckContext, RunSettings, SandboxEndpoints
from harness.errors import ConfigError, EnvironmentProblem, Failure, Skip
from harness.evidence import EvidenceLog
from harness.records import Target
from harness.scenarios import (
    load_rules,
    load_scenarios,
    parse_procedures,
    scenario_from_dict,
    scenarios_dir,
)
from harness.transport import Transport
from simulators.agencies.app import AgencyConfig, create_app
from simulators.agencies.catalogue import FAULTS, REFERENCE, Behaviour
from simulators.agencies.processing import REFERENCE_PROCEDURES
from simulators.common.serving import bind_socket, serve_in_thread
from simulators.identity.credentials import issue_credentials
from simulators.sandbox import Sandbox

RULES = load_rules()


def _document(relative: str) -> Any:
    return yaml.safe_load((scenarios_dir() / relative).read_text(encoding="utf-8"))


# -- the shipped files ----------------------------------------------------------------------


def test_one_valid_scenario_per_procedure_of_the_catalogue_and_both_groups() -> None:
    catalogue = load_scenarios()
    procedures = [s.walks[0].procedure for s in catalogue.scenarios if s.group is None]
    assert sorted(procedures) == sorted(RULES.procedures) and len(procedures) == 30
    assert sorted(s.group for s in catalogue.scenarios if s.group) == ["birth", "death"]


def test_the_paths_follow_each_procedures_fee_shape() -> None:
    walks = [w for s in load_scenarios().scenarios for w in s.walks]
    for walk in walks:
        actions = [step.action for step in walk.steps]
        # A procedure with fees pays them online when its form asks for it; one without
        # never does.
        asks = walk.form.get("ThanhToanTrucTuyen") is True
        assert ("pay" in actions) == (walk.fee_vnd > 0 and asks), walk.label
    procedure_walks = [w for w in walks if w.group is None]
    assert all(any(s.action == "pay" for s in w.steps) for w in procedure_walks if w.fee_vnd)
    assert sum(any(s.action == "supplement" for s in w.steps) for w in walks) >= 8
    assert sum(any(s.action == "withdraw" for s in w.steps) for w in walks) >= 5


def test_group_scenarios_are_the_members_as_the_portal_routes_them() -> None:
    by_group = {s.group: s for s in load_scenarios().scenarios if s.group}
    for name, scenario in by_group.items():
        members = {m["procedure"] for step in RULES.groups[name]["steps"] for m in step}
        assert {w.procedure for w in scenario.walks} == members  # optional ones chosen too
        assert all(w.group == name and w.form == scenario.walks[0].form for w in scenario.walks)
    # The residence member of the birth group is the one with a fee: paid online.
    residence = next(w for w in by_group["birth"].walks if w.procedure == "1.004222")
    assert [s.action for s in residence.steps] == ["submit", "pay"]


# -- a bad file names the file, the field and the fix ---------------------------------------


def _set(document: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    node = document
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


@pytest.mark.parametrize(
    ("relative", "path", "value", "where", "says"),
    [
        ("procedures/1.004194.yaml", ("steps", 1, "do"), "teleport", "steps/1/do", "teleport"),
        ("procedures/1.004194.yaml", ("procedure",), "9.999999", "procedure", "not in specs"),
        ("procedures/1.004194.yaml", ("steps", 0, "do"), "pay", "steps/0/do", "first step"),
        ("procedures/1.004194.yaml", ("steps", 0, "agency"), 4, "steps/1/do", "allowed only"),
        ("procedures/1.004194.yaml", ("portal",), [2, 6, 2, 4], "portal/2", "6 → 2"),
        ("procedures/1.004194.yaml", ("portal",), [4, 6, 4], "portal/0", "first sync"),
        ("procedures/1.004194.yaml", ("portal",), [2, 4], "steps/0/agency", "status 6"),
        ("procedures/1.004194.yaml", ("form", "ThoiHanTamTru"), [1], "form/ThoiHanTamTru", ""),
        ("procedures/1.004194.yaml", ("applicant",), "somebody", "applicant", ""),
        (
            "procedures/1.001193.yaml",
            ("steps",),
            [{"do": "submit", "agency": 6}, {"do": "pay", "agency": 4}],
            "steps/1/do",
            "without fees",
        ),
        (
            "groups/birth.yaml",
            ("members", 0, "procedure"),
            "1.004194",
            "members/0/procedure",
            "not a member of the birth group",
        ),
        (
            "groups/birth.yaml",
            ("members", 1, "procedure"),
            "1.001193",
            "members/1/procedure",
            "a second time",
        ),
        ("groups/death.yaml", ("members",), [], "members", ""),
    ],
)
def test_a_broken_scenario_names_file_field_and_fix(
    relative: str, path: tuple[Any, ...], value: Any, where: str, says: str
) -> None:
    document = copy.deepcopy(_document(relative))
    _set(document, path, value)
    with pytest.raises(ConfigError) as error:
        scenario_from_dict(document, relative)
    message = str(error.value)
    assert message.startswith(f"scenario {relative} is invalid at {where}:"), message
    assert says in message and "fix:" in message


def test_a_group_without_its_required_members_is_refused() -> None:
    document = _document("groups/death.yaml")
    document["members"] = [m for m in document["members"] if m["procedure"] != "9.900019"]
    with pytest.raises(ConfigError, match=r"at members: the required members \['9.900019'\]"):
        scenario_from_dict(document, "groups/death.yaml")


def test_a_file_named_for_another_procedure_or_unreadable_is_refused(tmp_path: Path) -> None:
    (tmp_path / "procedures").mkdir()
    wrong = tmp_path / "procedures" / "1.004222.yaml"
    wrong.write_text(yaml.safe_dump(_document("procedures/1.004194.yaml")), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"procedures/1.004222.yaml is invalid at procedure: "):
        load_scenarios(tmp_path)
    wrong.write_text("procedure: [unclosed", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"1.004222.yaml cannot be read: .*fix: write valid"):
        load_scenarios(tmp_path)


# -- scope ----------------------------------------------------------------------------------


def test_the_plan_runs_what_is_declared_and_in_scope_and_names_the_rest() -> None:
    catalogue = load_scenarios()
    default = catalogue.plan(None, REFERENCE_PROCEDURES)
    assert len(default.walks) == 15 and not default.undeclared
    assert {"groups/birth.yaml", "groups/death.yaml"} <= set(default.scenarios)
    scoped = catalogue.plan(("1.004222", "9.900006"), REFERENCE_PROCEDURES)
    assert [w.label for w in scoped.walks] == [
        "procedures/1.004222.yaml",
        "groups/birth.yaml (member 1.004222)",
    ]
    assert scoped.undeclared == ("9.900006",)
    # Only the members the agency declares: a police agency gets the residence members.
    police = catalogue.plan(None, ("1.004222", "9.900019"))
    assert {w.label for w in police.walks if w.group} == {
        "groups/birth.yaml (member 1.004222)",
        "groups/death.yaml (member 9.900019)",
    }
    # Codes the agency declares that the catalogue does not know are not "undeclared".
    assert catalogue.plan(None, ("1.004194", "7.000000")).undeclared == ()


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("1.004194,9.999999", "'9.999999' is not a procedure of specs/procedures.yaml"),
        ("1.04194", "'1.04194' is not a procedure code"),
        ("1.004194,", "'' is not a procedure code"),
    ],
)
def test_procedure_options_name_the_bad_value_and_the_form(text: str, says: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_procedures(text)
    assert says in str(error.value) and "e.g. --procedures 1.004194,1.001193" in str(error.value)


def test_procedure_options_keep_order_and_drop_repeats() -> None:
    assert parse_procedures(" 1.004194, 1.001193,1.004194") == ("1.004194", "1.001193")


@pytest.mark.parametrize(
    ("observed", "golden", "verdict"),
    [
        ((2, 6, 4), (2, 6, 4), "match"),
        ((1, 2, 6, 4), (2, 6, 4), "match"),  # told the portal it received it first
        ((2, 4, 9, 10), (2, 4), "match"),  # finished at its own pace
        ((2, 6), (2, 6, 4), "waiting"),
        ((), (2, 4), "waiting"),
        ((2, 4), (2, 6, 4), "diverged"),
        ((2, 5, 7, 9), (2, 5, 7), "diverged"),
        ((2, 4, 7), (2, 4), "diverged"),
    ],
)
def test_the_portal_sequence_is_judged_in_order(
    observed: tuple[int, ...], golden: tuple[int, ...], verdict: str
) -> None:
    assert _portal_match(observed, golden, RULES) == verdict


@pytest.fixture
def mocked(tmp_path: Path) -> Iterator[Callable[[Any], _Session]]:
    """A session whose target is a function answering httpx requests; closed afterwards."""
    opened: list[tuple[httpx.Client, EvidenceLog]] = []

    def session(answer: Any) -> _Session:
        settings = RunSettings(
            target=Target("http://agency.test", "000.00.10.H29"),
            sandbox=SandboxEndpoints("http://i.test", "http://p.test", "http://q.test", "t"),
            out_dir=tmp_path,
        )
        client = httpx.Client(transport=httpx.MockTransport(answer))
        evidence = EvidenceLog(tmp_path / str(len(opened)))
        opened.append((client, evidence))
        ctx = CheckContext(settings, Transport(client, evidence), {}, "scenarios_followed")
        return _Session(ctx, "token", RULES, _Pacer(1000.0, 10.0), 1.0)

    yield session
    for client, evidence in opened:
        client.close()
        evidence.close()


@pytest.mark.parametrize(
    ("status", "body", "declared", "note"),
    [
        (200, {"DanhSachMaTTHC": ["1.001193", 7, "x" * 10_000]}, {"1.001193", "x" * 10_000}, ""),
        (404, {"title": "Not Found"}, {"1.004194"}, "answered 404, so only 1.004194"),
        (200, ["1.001193"], {"1.004194"}, "answered 200 without a list"),
        (500, b"\x00garbage", {"1.004194"}, "answered 500 without a list"),
    ],
)
def test_what_the_agency_declares_is_read_defensively(
    mocked: Callable[[Any], _Session], status: int, body: Any, declared: set[str], note: str
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/procedures"
        if isinstance(body, bytes):
            return httpx.Response(status, content=body)
        return httpx.Response(status, json=body)

    codes, said = _declared(mocked(answer))
    assert codes == declared and note in said


def test_a_refused_token_at_get_procedures_is_could_not_judge(
    mocked: Callable[[Any], _Session],
) -> None:
    session = mocked(lambda _: httpx.Response(401, json={"title": "no"}))
    with pytest.raises(EnvironmentProblem, match="refused the harness's token"):
        _declared(session)


def test_the_pacer_keeps_threads_under_its_rate() -> None:
    pacer = _Pacer(per_s=100.0, burst=5.0)
    started = time.monotonic()
    for _ in range(25):
        pacer.wait()
    # 5 at once, then 20 at 100/s: at least 0.2 s however fast the caller is.
    assert time.monotonic() - started >= 0.19


# -- live agencies ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox(tmp_path_factory.mktemp("sandbox"), population_size=300) as running:
        yield running


def _without_procedures(app: ASGIApp) -> ASGIApp:
    """An agency that predates GET /procedures: 404 there, everything else as before."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/procedures":
            problem = {"type": "about:blank", "title": "Not Found", "status": 404}
            response = JSONResponse(problem, 404, media_type="application/problem+json")
            await response(scope, receive, send)
            return
        await app(scope, receive, send)

    return wrapped


def _agency(
    sandbox: Sandbox,
    agency_id: str,
    procedures: tuple[str, ...],
    behaviour: Behaviour = REFERENCE,
    *,
    declares: bool = True,
) -> str:
    """A reference agency handling `procedures`, routed at the portal; its URL."""
    info = sandbox.info
    config = AgencyConfig(
        credentials=issue_credentials(sandbox.state_dir, agency_id),
        idp_url=info.identity_url,
        population_url=info.population_url,
        portal_url=info.portal_url,
        db_path=sandbox.state_dir / "agencies" / f"{agency_id}.db",
        behaviour=behaviour,
        procedures=procedures,
    )
    app = create_app(config)
    handle = serve_in_thread(
        agency_id, app if declares else _without_procedures(app), bind_socket()
    )
    sandbox.servers.append(handle)  # stopped with the sandbox
    httpx.post(
        f"{info.portal_url}/admin/routes",
        json={"agency_id": agency_id, "base_url": handle.url},
        headers={"Authorization": f"Bearer {info.admin_token}"},
        timeout=5.0,
    ).raise_for_status()
    return handle.url


def _judge(
    sandbox: Sandbox,
    tmp_path: Path,
    url: str,
    agency_id: str,
    scope: tuple[str, ...] | None = None,
) -> str:
    info = sandbox.info
    settings = RunSettings(
        target=Target(url, agency_id),
        sandbox=SandboxEndpoints(
            info.identity_url, info.population_url, info.portal_url, info.admin_token
        ),
        out_dir=tmp_path,
        sync_timeout_s=4.0,
        procedures=scope,
    )
    evidence = EvidenceLog(tmp_path)
    try:
        with httpx.Client() as client:
            ctx = CheckContext(settings, Transport(client, evidence), {}, "scenarios_followed")
            return scenarios_followed(ctx)
    finally:
        evidence.close()


@pytest.mark.slow
def test_every_scenario_is_golden_against_an_agency_with_every_procedure(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    url = _agency(sandbox, "000.00.60.H29", tuple(RULES.procedures))
    summary = _judge(sandbox, tmp_path, url, "000.00.60.H29")
    assert summary.startswith("37 dossiers of 32 scenarios reached their golden statuses")


@pytest.mark.slow
def test_scope_limits_the_run_and_names_undeclared_procedures(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    url = _agency(sandbox, "000.00.61.H29", REFERENCE_PROCEDURES)
    summary = _judge(sandbox, tmp_path, url, "000.00.61.H29", ("1.004222", "9.900006"))
    assert summary.startswith("2 dossiers of 2 scenarios reached their golden statuses")
    assert "not declared by the agency, skipped: 9.900006" in summary
    with pytest.raises(Skip, match=r"no scenario in scope: not declared .* 9\.900006"):
        _judge(sandbox, tmp_path / "none", url, "000.00.61.H29", ("9.900006",))


@pytest.mark.slow
def test_an_agency_without_get_procedures_is_certified_on_temporary_residence(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    url = _agency(sandbox, "000.00.62.H29", REFERENCE_PROCEDURES, declares=False)
    summary = _judge(sandbox, tmp_path, url, "000.00.62.H29")
    assert summary.startswith("1 dossier of 1 scenario reached their golden statuses")
    assert "GET /procedures answered 404, so only 1.004194" in summary


@pytest.mark.slow
def test_leaving_group_member_fees_for_the_desk_diverges_from_the_golden_path(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    fault = FAULTS["desk-fees-beyond-temporary-residence"]
    url = _agency(sandbox, "000.00.63.H29", REFERENCE_PROCEDURES, fault.behaviour)
    with pytest.raises(Failure) as failure:
        _judge(sandbox, tmp_path, url, "000.00.63.H29")
    findings = failure.value.findings
    assert {f.title for f in findings} == {
        "Scenario procedures/1.004222.yaml diverged at step 1 (submit)",
        "Scenario groups/birth.yaml (member 1.004222) diverged at step 1 (submit)",
    }
    assert all("agency status 4" in f.observed and "status 6" in f.expected for f in findings)
    assert all(f.exchange_ids for f in findings)
