"""AGY-LIFECYCLE: the lifecycle model, and the state machine against in-memory agencies."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.checks.lifecycle import lifecycle_respected
from harness.checks.lifecycle_model import Answer, judge_action, judge_transition, load_lifecycle
from harness.context import CheckContext, RunSettings, SandboxEndpoints
from harness.errors import EnvironmentProblem, Failure
from harness.evidence import EvidenceLog
from harness.records import Target
from harness.transport import Transport
from simulators.agencies.actions import withdrawable

PROBLEM = "application/problem+json"
LIFECYCLE = load_lifecycle()


def answer(http_status: int, status: int | None = None, content_type: str = "") -> Answer:
    body = {"TrangThaiHoSo": status} if status is not None else {"title": "x"}
    kind = content_type or ("application/json" if http_status < 400 else PROBLEM)
    return Answer(http_status, kind, body)


# -- the model ------------------------------------------------------------------------------


def test_the_operations_allowed_statuses_come_from_the_contract() -> None:
    assert LIFECYCLE.allows == {
        "pay": frozenset({6}),
        "supplement": frozenset({5}),
        "withdraw": frozenset({1, 2, 4, 5, 6}),
    }
    # Withdrawal is allowed exactly where the lifecycle has a move to 7, and the
    # reference agency agrees.
    to_withdrawn = {s for s, targets in LIFECYCLE.transitions.items() if 7 in targets}
    assert LIFECYCLE.allows["withdraw"] == to_withdrawn == withdrawable()
    assert LIFECYCLE.closed == {3, 7, 9, 10}


@pytest.mark.parametrize(
    ("before", "after", "legal"),
    [
        (1, 4, True),
        (4, 4, True),
        (5, 4, True),
        (9, 10, True),
        (7, 4, False),
        (4, 2, False),
        (3, 2, False),
        (10, 9, False),
    ],
)
def test_transitions_are_judged_by_reachability(before: int, after: int, legal: bool) -> None:
    found = judge_transition(LIFECYCLE, before, after, "status(d1)")
    assert (found is None) is legal
    if before == 7 and found:
        assert found.title == "A withdrawn dossier changed status"


def test_a_payment_taken_on_a_withdrawn_dossier_is_a_violation() -> None:
    found = judge_action(LIFECYCLE, "pay", 7, answer(202, 4))
    assert found is not None and found.title == "A withdrawn dossier accepted a payment"
    assert "409" in found.expected


@pytest.mark.parametrize(
    ("operation", "before", "reply"),
    [
        ("pay", 6, answer(202, 4)),
        ("supplement", 5, answer(202, 4)),
        ("withdraw", 4, answer(202, 7)),
        ("withdraw", 7, answer(200, 7)),  # a repeat: already withdrawn
        ("pay", 4, answer(409, 4)),
        ("withdraw", 3, answer(409, 3)),
        ("supplement", 7, answer(409, 7)),
        # The agency may have moved 4 → 6 on its own since it was last seen: benefit of
        # the doubt, as long as the answer shows a payment's effect.
        ("pay", 4, answer(202, 4)),
    ],
)
def test_answers_the_lifecycle_allows(operation: str, before: int, reply: Answer) -> None:
    assert judge_action(LIFECYCLE, operation, before, reply) is None


@pytest.mark.parametrize(
    ("operation", "before", "reply", "title"),
    [
        ("pay", 3, answer(202, 4), "A refused dossier accepted a payment"),
        ("supplement", 10, answer(202, 4), "A finished dossier accepted a supplement"),
        ("withdraw", 4, answer(202, 4), "The answer to an accepted withdrawal does not show"),
        ("pay", 4, answer(409, None, PROBLEM), "The refusal of a payment does not name"),
        ("pay", 4, answer(409, 4, "application/json"), "The refusal of a payment does not name"),
        ("pay", 6, answer(409, 6), "A payment was refused in a status that allows it"),
        ("withdraw", 5, answer(422, None), "A withdrawal was answered neither"),
        ("withdraw", 5, answer(500, None), "A withdrawal was answered neither"),
        ("pay", 6, answer(404, None), "A dossier the agency had acknowledged was unknown"),
    ],
)
def test_answers_the_lifecycle_forbids(
    operation: str, before: int, reply: Answer, title: str
) -> None:
    found = judge_action(LIFECYCLE, operation, before, reply)
    assert found is not None and found.title.startswith(title), found


# -- the state machine against in-memory agencies -------------------------------------------

CODE = re.compile(r"/dossiers/([^/]+)(?:/(\w+))?$")


@dataclass
class StubAgency:
    """A lifecycle-respecting agency in memory; switches break it in one way each."""

    pay_when_withdrawn: bool = False
    bare_refusals: bool = False
    garbage: bool = False
    taken_codes: int = 0  # the first codes submitted belong to an earlier run's dossiers
    dossiers: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        host, path = request.url.host, request.url.path
        if host == "idp.test":
            return httpx.Response(200, json={"access_token": "t", "token_type": "Bearer"})
        if host == "population.test":
            citizen = {
                "pin": "001090000001",
                "full_name": "Nguyễn Văn An",
                "date_of_birth": "1990-01-31",
            }
            return httpx.Response(200, json={"citizens": [citizen]})
        if self.garbage:
            return httpx.Response(
                200, content=b"\x00\xff<html>", headers={"content-type": "text/html"}
            )
        if path == "/dossiers":
            body = json.loads(request.content)
            if self.taken_codes:
                self.taken_codes -= 1
                problem = {"type": "about:blank", "title": "Conflict", "status": 409}
                return httpx.Response(409, json=problem, headers={"content-type": PROBLEM})
            self.dossiers[body["MaHoSo"]] = {"status": 1, "body": body}
            return self._status(202, body["MaHoSo"])
        match = CODE.search(path)
        assert match, path
        code, action = match.groups()
        if action is None:
            self._decide(code)
            return self._status(200, code)
        return self._act(code, action)

    def _decide(self, code: str) -> None:
        dossier = self.dossiers[code]
        if dossier["status"] != 1:
            return
        body = dossier["body"]
        data = body.get("DuLieuHoSo", {})
        if body["ChuHoSo"]["HoVaTen"] != "Nguyễn Văn An":
            dossier["status"] = 3
        elif data.get("ThieuGiayTo"):
            dossier["status"] = 5
        elif data.get("ThanhToanTrucTuyen"):
            dossier["status"] = 6
        else:
            dossier["status"] = 4

    def _act(self, code: str, action: str) -> httpx.Response:
        dossier = self.dossiers[code]
        allowed = {"payments": {6}, "supplements": {5}, "withdrawal": {1, 2, 4, 5, 6}}[action]
        if action == "payments" and self.pay_when_withdrawn:
            allowed = allowed | {7}
        if action == "withdrawal" and dossier["status"] == 7:
            return self._status(200, code)
        if dossier["status"] not in allowed:
            problem: dict[str, Any] = {"type": "about:blank", "title": "Conflict", "status": 409}
            if not self.bare_refusals:
                problem["TrangThaiHoSo"] = dossier["status"]
            return httpx.Response(409, json=problem, headers={"content-type": PROBLEM})
        dossier["status"] = 7 if action == "withdrawal" else 4
        return self._status(202, code)

    def _status(self, http_status: int, code: str) -> httpx.Response:
        body = {
            "MaHoSo": code,
            "MaTTHC": "1.004194",
            "TrangThaiHoSo": self.dossiers[code]["status"],
            "NgayCapNhat": "20250115143000",
        }
        return httpx.Response(http_status, json=body)


def run_check(agency: StubAgency, tmp_path: Path, seed: int = 0) -> tuple[Callable[[], str], Path]:
    settings = RunSettings(
        target=Target("http://agency.test", "000.00.01.H29"),
        sandbox=SandboxEndpoints(
            "http://idp.test", "http://population.test", "http://portal.test", "a"
        ),
        out_dir=tmp_path,
        seed=seed,
    )
    evidence = EvidenceLog(tmp_path)
    client = httpx.Client(transport=httpx.MockTransport(agency))
    ctx = CheckContext(settings, Transport(client, evidence), {}, "lifecycle_respected")

    def call() -> str:
        try:
            return lifecycle_respected(ctx)
        finally:
            evidence.close()
            client.close()

    return call, evidence.path


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def machine_record(path: Path) -> dict[str, Any]:
    found = [r for r in records(path) if r.get("source") == "lifecycle-state-machine"]
    assert len(found) == 1
    data: dict[str, Any] = found[0]["data"]
    return data


def test_an_agency_that_follows_the_lifecycle_passes(tmp_path: Path) -> None:
    call, evidence = run_check(StubAgency(), tmp_path, seed=3)
    summary = call()
    assert "(seed 3)" in summary and "every status along the lifecycle" in summary
    data = machine_record(evidence)
    assert data["seed"] == 3 and data["counterexample"] is None
    # The sequences reach the interesting statuses: operations accepted and refused alike.
    kinds = {key.split()[0] for key in data["answers"]}
    assert kinds == {"pay", "supplement", "withdraw"}
    assert any(k.endswith(" 202") for k in data["answers"])
    assert any(k.endswith(" 409") for k in data["answers"])


def test_a_payment_on_a_withdrawn_dossier_fails_with_the_shortest_sequence(
    tmp_path: Path,
) -> None:
    call, evidence = run_check(StubAgency(pay_when_withdrawn=True), tmp_path)
    with pytest.raises(Failure) as failure:
        call()
    finding = failure.value.findings[0]
    assert finding.title == "A withdrawn dossier accepted a payment"
    assert "seed 0" in finding.observed
    example = machine_record(evidence)["counterexample"]
    calls = [step["call"] for step in example["steps"]]
    assert calls[-2:] == ["withdraw(d1)", "pay(d1)"]
    assert calls[0].startswith("d1 = submit(")
    assert len(calls) <= 4  # shrunk: submit, (wait), withdraw, pay
    # The finding points at the counterexample and at the exchange that broke the rule.
    ids = {r["id"]: r for r in records(evidence)}
    assert ids[finding.exchange_ids[0]]["source"] == "lifecycle-state-machine"
    assert ids[finding.exchange_ids[1]]["request"]["url"].endswith("/payments")


def test_codes_an_earlier_run_used_today_are_skipped(tmp_path: Path) -> None:
    call, evidence = run_check(StubAgency(taken_codes=3), tmp_path)
    assert "every status along the lifecycle" in call()
    submitted = [
        r["request"]["body"] for r in records(evidence)
        if r["kind"] == "exchange" and r["request"]["url"].endswith("/dossiers")
    ]  # fmt: skip
    codes = [json.loads(body)["MaHoSo"] for body in submitted[:4]]
    serials = [int(code[-4:]) for code in codes]
    assert all((b - a) % 10_000 >= 250 for a, b in pairwise(serials))


def test_a_refusal_that_does_not_name_the_status_fails(tmp_path: Path) -> None:
    call, _ = run_check(StubAgency(bare_refusals=True), tmp_path)
    with pytest.raises(Failure, match="does not name the dossier's status"):
        call()


def test_an_agency_that_answers_garbage_cannot_be_judged(tmp_path: Path) -> None:
    call, _ = run_check(StubAgency(garbage=True), tmp_path)
    with pytest.raises(EnvironmentProblem, match="did not say a dossier's status"):
        call()


def _sequence(path: Path) -> list[str]:
    """The requests the machine sent, with the run's random codes and keys left out."""
    exchanges = [r["request"] for r in records(path) if r["kind"] == "exchange"]
    return [
        f"{e['method']} {CODE.sub(lambda m: '/dossiers/X/' + (m[2] or ''), e['url'])}"
        for e in exchanges
        if "agency.test" in e["url"]
    ]


def test_the_same_seed_sends_the_same_sequence(tmp_path: Path) -> None:
    runs = []
    for n in range(2):
        call, evidence = run_check(StubAgency(), tmp_path / str(n), seed=11)
        call()
        runs.append(_sequence(evidence))
    other, evidence = run_check(StubAgency(), tmp_path / "other", seed=12)
    other()
    assert runs[0] == runs[1]
    assert _sequence(evidence) != runs[0]
