"""A load run joins the certification report, and a failed one blocks the certificate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.reporting import write_reports
from harness.reporting.certificate import (
    CertificateError,
    issue_certificate,
    load_or_create_signing_key,
)


def _run(tmp_path: Path, load_verdict: str) -> Path:
    results = {
        "verdict": "pass",
        "target": {"base_url": "http://a.test", "agency_id": "000.00.01.H29"},
        "suite_version": "0.1.0",
        "tool_version": "0.1.0",
        "profile": "baseline",
        "seed": 0,
        "started_at": "",
        "finished_at": "",
        "duration_s": 1.0,
        "notes": [],
        "checks": [],
        "requirements": [
            {
                "id": "SEC-TOKEN-AUD@1",
                "outcome": "pass",
                "severity": "mandatory",
                "category": "security",
                "source": "",
                "text": {"en": "t", "vi": "t"},
                "remediation": {"en": "r", "vi": "r"},
                "checks": [],
            }
        ],
    }
    (tmp_path / "results.json").write_text(json.dumps(results))
    (tmp_path / "evidence.jsonl").write_text("")
    (tmp_path / "load").mkdir()
    load = {
        "verdict": load_verdict,
        "profile": "admission-2025",
        "scale": 0.001,
        "compress": 3600,
        "status": "finished",
        "reason": None,
        "title": "x",
        "slos": [
            {
                "name": "p99 <script>x</script>",
                "limit": 800,
                "measured": 950.0,
                "passed": load_verdict == "pass",
                "unit": "ms",
                "note": "",
            }
        ],
    }
    (tmp_path / "load" / "load.json").write_text(json.dumps(load))
    return tmp_path


def test_the_load_section_joins_json_and_html(tmp_path: Path) -> None:
    files = write_reports(_run(tmp_path, "fail"))
    report = json.loads(files.json.read_text())
    assert report["load"]["verdict"] == "fail" and report["load"]["report"] == "load/load.html"
    html = files.html.read_text()
    assert "Load:" in html and "950" in html and "<script>x" not in html


def test_a_failed_load_run_gets_no_certificate(tmp_path: Path) -> None:
    key, _ = load_or_create_signing_key(tmp_path / "key.json")
    with pytest.raises(CertificateError, match="load test"):
        issue_certificate(_run(tmp_path, "fail"), key, issuer="x", build_digest=None, valid_days=1)


def test_a_passed_load_run_is_bound_into_the_certificate(tmp_path: Path) -> None:
    key, _ = load_or_create_signing_key(tmp_path / "key.json")
    token = issue_certificate(
        _run(tmp_path, "pass"), key, issuer="x", build_digest=None, valid_days=1
    ).read_text()
    import base64

    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert claims["load"]["verdict"] == "pass" and "load/load.json" in claims["evidence"]
