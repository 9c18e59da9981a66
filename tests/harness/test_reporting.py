"""Reports are rebuilt from a run's output folder and survive hostile evidence."""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from harness.reporting import ReportError, ReportFiles, write_reports

HOSTILE = "<script>alert(1)</script>"
OBSERVED = "token with aud=portal accepted (200)"
REMEDIATION_EN = "Reject tokens whose aud claim is not your agency's client ID."
BIG_BODY = "A" * 100_000


def _requirement(rid: str, outcome: str, check: str, category: str) -> dict[str, Any]:
    return {
        "id": rid,
        "outcome": outcome,
        "severity": "mandatory",
        "category": category,
        "source": "RFC 9068 §4",
        "text": {"en": f"{rid} text", "vi": f"{rid} văn bản"},
        "remediation": {"en": f"Fix {rid}.", "vi": f"Sửa {rid}."},
        "checks": [check],
    }


def _results() -> dict[str, Any]:
    failing = _requirement("SEC-TOKEN-AUD@1", "fail", "token_audience_enforced", "security")
    failing["remediation"] = {"en": REMEDIATION_EN, "vi": "Từ chối token có aud sai."}
    finding = {
        "title": f"Wrong audience {HOSTILE}",
        "observed": OBSERVED,
        "expected": "401",
        "exchange_ids": ["ex-0002", "ex-0099"],
    }
    return {
        "verdict": "fail",
        "target": {"base_url": "http://agency.test", "agency_id": "000.00.01.H29"},
        "suite_version": "0.1.0",
        "tool_version": "0.1.0",
        "profile": "standard",
        "seed": 7,
        "started_at": "2025-01-01T00:00:00Z",
        "finished_at": "2025-01-01T00:00:05Z",
        "duration_s": 5.0,
        "requirements": [
            _requirement("SEC-TOKEN-MISSING@1", "pass", "token_required", "security"),
            failing,
            _requirement("SYNC-STATUS-TIMELY@1", "error", "status_sync_timeliness", "status-sync"),
        ],
        "checks": [
            _check("token_required", "SEC-TOKEN-MISSING@1", "pass", []),
            _check("token_audience_enforced", "SEC-TOKEN-AUD@1", "fail", [finding]),
            _check("status_sync_timeliness", "SYNC-STATUS-TIMELY@1", "error", []),
        ],
        "notes": [],
    }


def _check(name: str, rid: str, outcome: str, findings: list[Any]) -> dict[str, Any]:
    return {
        "name": name,
        "requirement_ids": [rid],
        "outcome": outcome,
        "summary": f"{name} {outcome}",
        "duration_s": 0.25,
        "findings": findings,
    }


def _evidence_lines() -> list[str]:
    exchange = {
        "id": "ex-0002",
        "kind": "exchange",
        "check": "token_audience_enforced",
        "at": "2025-01-01T00:00:01Z",
        "request": {
            "method": "GET",
            "url": f"http://agency.test/dossiers?q={HOSTILE}",
            "headers": {"authorization": "[redacted]"},
            "body": "",
        },
        "response": {
            "status": 200,
            "headers": {"x-evil": HOSTILE},
            "body": f"{HOSTILE}\x00\x07{BIG_BODY}",
            "elapsed_s": 0.01,
        },
        "error": None,
    }
    observation = {
        "id": "ex-0003",
        "kind": "observation",
        "check": "status_sync_timeliness",
        "at": "2025-01-01T00:00:02Z",
        "source": "portal",
        "data": {"late_s": 90},
    }
    return [json.dumps(exchange), "{not json at all", json.dumps(observation)]


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    (tmp_path / "results.json").write_text(json.dumps(_results()), encoding="utf-8")
    (tmp_path / "evidence.jsonl").write_text("\n".join(_evidence_lines()) + "\n")
    return tmp_path


@pytest.fixture
def files(run_dir: Path) -> ReportFiles:
    return write_reports(run_dir)


def test_report_json_keeps_results_and_hashes_evidence(run_dir: Path, files: ReportFiles) -> None:
    report = json.loads(files.json.read_text(encoding="utf-8"))
    assert report["verdict"] == "fail"
    assert report["requirements"] == _results()["requirements"]
    entry = report["evidence"]["files"]["evidence.jsonl"]
    data = (run_dir / "evidence.jsonl").read_bytes()
    assert entry["sha256"] == hashlib.sha256(data).hexdigest()
    assert entry["bytes"] == len(data)
    assert entry["malformed_lines"] == 1


def test_junit_counts_and_failure_message(files: ReportFiles) -> None:
    root = ET.parse(files.junit).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    assert suite is not None and suite.get("name") == "lienthong"
    counts = {k: suite.get(k) for k in ("tests", "failures", "errors", "skipped")}
    assert counts == {"tests": "3", "failures": "1", "errors": "1", "skipped": "0"}
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert cases["SEC-TOKEN-AUD@1"].get("classname") == "security"
    failure = cases["SEC-TOKEN-AUD@1"].find("failure")
    assert failure is not None and OBSERVED in (failure.get("message") or "")
    assert cases["SYNC-STATUS-TIMELY@1"].find("error") is not None
    assert list(cases["SEC-TOKEN-MISSING@1"]) == []


def test_junit_skip_and_illegal_characters(run_dir: Path) -> None:
    results = _results()
    results["requirements"][0]["outcome"] = "skip"
    results["checks"][1]["findings"][0]["observed"] = "bad\x00\x08byte"
    (run_dir / "results.json").write_text(json.dumps(results), encoding="utf-8")
    root = ET.parse(write_reports(run_dir).junit).getroot()
    assert root.find("testsuite/testcase/skipped") is not None
    assert "badbyte" in (root.find(".//failure").get("message") or "")  # type: ignore[union-attr]


def test_html_leads_with_verdict_and_shows_remediation(files: ReportFiles) -> None:
    html = files.html.read_text(encoding="utf-8")
    assert html.index('id="verdict"') < html.index('class="requirements"')
    assert "FAIL" in html[: html.index('class="requirements"')]
    assert REMEDIATION_EN.replace("'", "&#39;") in html
    assert "SEC-TOKEN-AUD@1 văn bản" in html
    assert "not found in evidence.jsonl" in html  # ex-0099 is referenced but absent


def test_html_escapes_and_bounds_hostile_evidence(files: ReportFiles) -> None:
    html = files.html.read_text(encoding="utf-8")
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "\x00" not in html
    assert "Truncated: showing the first 4,096 of" in html
    assert len(html.encode()) < 40_000
    ET.parse(files.junit)  # NUL-bearing evidence must not break the XML


def test_malformed_evidence_line_is_skipped_and_mentioned(files: ReportFiles) -> None:
    html = files.html.read_text(encoding="utf-8")
    assert "1 malformed line(s) in evidence.jsonl were" in html
    props = ET.parse(files.junit).getroot().iter("property")
    assert {p.get("name"): p.get("value") for p in props}["evidence_malformed_lines"] == "1"


def test_missing_results_raises_report_error(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match=r"results\.json does not exist"):
        write_reports(tmp_path)


def test_invalid_results_raises_report_error(tmp_path: Path) -> None:
    (tmp_path / "results.json").write_text('{"verdict": "fail",', encoding="utf-8")
    with pytest.raises(ReportError, match="not valid JSON"):
        write_reports(tmp_path)


def test_missing_evidence_still_reports(run_dir: Path) -> None:
    (run_dir / "evidence.jsonl").unlink()
    files = write_reports(run_dir)
    assert json.loads(files.json.read_bytes())["evidence"] == {"files": {}}
    assert "not found in evidence.jsonl" in files.html.read_text(encoding="utf-8")
