"""How the population-use checks judge an audit log: purpose or consent on every read, no
field beyond the purpose, nothing read under a withdrawn consent. The logs here are built
by hand; the catalogue test drives the same checks against live faulty agencies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.checks.journey import Journey, Journeys
from harness.checks.population_use import (
    ConsentStory,
    consent_respected,
    reads_declare_purpose,
    reads_minimal,
)
from harness.context import CheckContext, RunSettings, SandboxEndpoints
from harness.errors import Failure, Skip
from harness.records import Target

_PURPOSES = {"administrative-procedure": frozenset({"full_name", "permanent_address"})}


def _journey() -> Journey:
    return Journey("genuine applicant", "001090000001", "X-1", "ex-1", 4, (), 0.1, ("ex-1",))


def _context(memos: dict[str, Any]) -> CheckContext:
    settings = RunSettings(
        target=Target("http://agency.invalid", "000.00.10.H29"),
        sandbox=SandboxEndpoints("http://i.invalid", "http://p.invalid", "http://q.invalid", "t"),
        out_dir=Path("."),
    )
    memos.setdefault("purpose-catalogue", _PURPOSES)
    return CheckContext(settings, transport=None, memos=memos, check_name="test")  # type: ignore[arg-type]


def _audited(*entries: dict[str, Any]) -> CheckContext:
    journeys = Journeys(_journey(), _journey(), tuple(entries), "audit-1")
    return _context({"journeys": journeys})


def _read(fields: list[str], result: str = "ok", **grant: Any) -> dict[str, Any]:
    return {"operation": "lookup", "fields": fields, "result": result, **grant}


_VERIFY = {"operation": "verify", "fields": ["full_name"], "result": "match"}
_DECLARED = {"purpose": "administrative-procedure", "legal_basis": "Luật Cư trú 2020"}


def test_reads_with_a_purpose_and_basis_or_a_consent_pass() -> None:
    ctx = _audited(
        _VERIFY, _read(["permanent_address"], **_DECLARED), _read(["x"], consent_id="c1")
    )
    assert "2 read(s)" in reads_declare_purpose(ctx)


@pytest.mark.parametrize(
    "grant",
    [{}, {"purpose": "administrative-procedure"}, {"legal_basis": "Luật Cư trú 2020"}],
)
def test_a_read_missing_its_purpose_or_basis_fails_even_when_refused(grant: Any) -> None:
    ctx = _audited(_read(["permanent_address"], result="refused", **grant))
    with pytest.raises(Failure) as failure:
        reads_declare_purpose(ctx)
    assert "without a purpose" in failure.value.findings[0].title


def test_no_reads_at_all_is_a_skip_not_a_pass() -> None:
    with pytest.raises(Skip):
        reads_declare_purpose(_audited(_VERIFY))
    with pytest.raises(Skip):
        reads_minimal(_audited(_VERIFY))


def test_fields_beyond_the_purpose_fail_and_are_named() -> None:
    over = _read(["permanent_address", "father_pin"], result="refused", **_DECLARED)
    with pytest.raises(Failure) as failure:
        reads_minimal(_audited(_read(["full_name"], **_DECLARED), over))
    assert "['father_pin']" in failure.value.findings[0].observed
    assert "1 read(s)" in reads_minimal(_audited(_read(["full_name"], **_DECLARED)))


def _story(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> CheckContext:
    story = ConsentStory("c1", _journey(), tuple(before), tuple(after), "audit-2")
    return _context({"consent-story": story})


def test_a_read_under_a_withdrawn_consent_fails() -> None:
    used = _read(["permanent_address"], consent_id="c1")
    reused = _read(["permanent_address"], result="refused", consent_id="c1")
    with pytest.raises(Failure) as failure:
        consent_respected(_story([used], [reused]))
    assert "withdrawn" in failure.value.findings[0].title
    other = _read(["permanent_address"], **_DECLARED)  # another basis is not the consent
    assert "none after" in consent_respected(_story([used], [other]))


def test_a_consent_never_used_cannot_be_judged() -> None:
    with pytest.raises(Skip):
        consent_respected(_story([_read(["full_name"], **_DECLARED)], []))


# -- a dossier code an earlier run used ----------------------------------------------------


class _Codes:
    """Just enough of a check context for the journey's submit: an agency that already
    holds the first codes (an earlier run today), 409 for those, 202 for a new one."""

    def __init__(self, taken: int) -> None:
        self.codes = iter(f"000.00.10.H29-250115-{n:04d}" for n in range(10000))
        self.taken = {f"000.00.10.H29-250115-{n:04d}" for n in range(taken)}
        self.sent: list[str] = []

    def memo(self, key: str, compute: Any) -> Any:
        return self.codes

    def target_url(self, path: str) -> str:
        return "http://agency.invalid" + path

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        code = kwargs["json"]["MaHoSo"]
        self.sent.append(code)

        class Reply:
            status = 409 if code in self.taken else 202

        return Reply()


def test_a_code_an_earlier_run_used_is_skipped_not_the_end_of_the_journey() -> None:
    from harness.checks.journey import submit_dossier

    ctx = _Codes(taken=300)
    dossier = {"MaHoSo": next(ctx.codes)}
    reply = submit_dossier(ctx, dossier, "token")  # type: ignore[arg-type]
    assert reply.status == 202
    assert ctx.sent[0].endswith("-0000") and dossier["MaHoSo"] not in ctx.taken
    assert len(ctx.sent) == 3  # 0000, then 250 ahead (taken), then 500 ahead (free)
