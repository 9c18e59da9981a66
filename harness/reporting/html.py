"""``report.html``: one self-contained page a person reads to learn the verdict and why.

The page is rendered from ``report.html.j2`` with autoescaping on. Everything shown is first
put into a plain view model here, where each string from the run is clipped to a bounded size,
so a hostile body can neither inject markup nor blow up the page.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import jinja2

__all__ = ["render_html", "template_dir"]

TEMPLATE_NAME = "report.html.j2"
_BODY_LIMIT = 4096
_TEXT_LIMIT = 2048
_MAX_HEADERS = 40
_MAX_EXCHANGES_PER_FINDING = 10
_OUTCOMES = ("pass", "fail", "error", "skip")


def template_dir() -> Path:
    """A source checkout keeps templates in ``reports/templates``; a wheel in ``_data``."""
    package = Path(__file__).resolve().parent.parent  # the ``harness`` package directory
    checkout = package.parent / "reports" / "templates"
    return checkout if checkout.is_dir() else package / "_data" / "templates"


def render_html(
    results: dict[str, Any],
    *,
    exchanges: dict[str, dict[str, Any]],
    evidence_total: int = 0,
    malformed_lines: int = 0,
    templates: Path | None = None,
) -> str:
    """Render the sanitised `results` with the evidence `exchanges` its findings refer to."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates or template_dir()),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    view = _view(results, exchanges=exchanges)
    view["evidence"] = {"total": evidence_total, "malformed": malformed_lines}
    return env.get_template(TEMPLATE_NAME).render(report=view)


def _view(results: dict[str, Any], *, exchanges: dict[str, dict[str, Any]]) -> dict[str, Any]:
    requirements = results["requirements"]
    counts = Counter(str(r.get("outcome")) for r in requirements)
    return {
        "verdict": _text(results.get("verdict", "unknown")),
        "verdict_class": _outcome_class(results.get("verdict")),
        "meta": _meta(results),
        "counts": [(name, counts[name]) for name in _OUTCOMES],
        "requirements": [_requirement_row(i, r) for i, r in enumerate(requirements)],
        "details": [
            _requirement_detail(i, r, exchanges)
            for i, r in enumerate(requirements)
            if r.get("outcome") != "pass" and r.get("outcome") != "skip"
        ],
        "notes": [_text(note) for note in _list(results.get("notes"))],
        "load": _load_view(results.get("load")),
    }


def _slo_outcome(passed: Any) -> str:
    return "pass" if passed is True else "fail" if passed is False else "error"


def _measured(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, int | float) else "—"


def _load_view(load: Any) -> dict[str, Any] | None:
    """The load section of `certify --with-load`: verdict and SLO table, escaped later."""
    if not isinstance(load, dict):
        return None
    slos = [
        {
            "name": _text(slo.get("name", "")),
            "measured": _measured(slo.get("measured")),
            "limit": _text(slo.get("limit", "")),
            "unit": _text(slo.get("unit", "")),
            "outcome": _slo_outcome(slo.get("passed")),
            "note": _text(slo.get("note", "")),
        }
        for slo in _list(load.get("slos"))
        if isinstance(slo, dict)
    ]
    return {
        "verdict": _text(load.get("verdict", "error")),
        "verdict_class": _outcome_class(load.get("verdict")),
        "profile": _text(load.get("profile", "")),
        "scale": _text(load.get("scale", "")),
        "compress": _text(load.get("compress", "")),
        "reason": _text(load.get("reason") or ""),
        "slos": slos,
        "report": _text(load.get("report", "")),
    }


def _meta(results: dict[str, Any]) -> list[tuple[str, str]]:
    target = _dict(results.get("target"))
    rows = [
        ("Target", target.get("base_url")),
        ("Agency ID", target.get("agency_id")),
        ("Suite version", results.get("suite_version")),
        ("Tool version", results.get("tool_version")),
        ("Profile", results.get("profile")),
        ("Seed", results.get("seed")),
        ("Started", results.get("started_at")),
        ("Finished", results.get("finished_at")),
        ("Duration (s)", results.get("duration_s")),
    ]
    return [(label, _text("" if value is None else value)) for label, value in rows]


def _requirement_row(index: int, requirement: dict[str, Any]) -> dict[str, Any]:
    outcome = requirement.get("outcome")
    return {
        "anchor": f"req-{index}",
        "id": _text(requirement.get("id", "")),
        "severity": _text(requirement.get("severity", "")),
        "category": _text(requirement.get("category", "")),
        "outcome": _text(outcome),
        "outcome_class": _outcome_class(outcome),
        "linked": outcome not in ("pass", "skip"),
        "text_en": _lang(requirement.get("text"), "en"),
        "text_vi": _lang(requirement.get("text"), "vi"),
    }


def _requirement_detail(
    index: int, requirement: dict[str, Any], exchanges: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    return {
        **_requirement_row(index, requirement),
        "source": _text(requirement.get("source", "")),
        "remediation_en": _lang(requirement.get("remediation"), "en"),
        "remediation_vi": _lang(requirement.get("remediation"), "vi"),
        "checks": [_check(c, exchanges) for c in requirement["check_results"]],
    }


def _check(check: dict[str, Any], exchanges: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": _text(check.get("name", "")),
        "outcome": _text(check.get("outcome")),
        "outcome_class": _outcome_class(check.get("outcome")),
        "summary": _text(check.get("summary", "")),
        "findings": [_finding(f, exchanges) for f in check["findings"]],
    }


def _finding(finding: dict[str, Any], exchanges: dict[str, dict[str, Any]]) -> dict[str, Any]:
    ids = finding["exchange_ids"]
    shown = ids[:_MAX_EXCHANGES_PER_FINDING]
    return {
        "title": _text(finding.get("title", "")),
        "observed": _clip(finding.get("observed", ""), _BODY_LIMIT),
        "expected": _clip(finding.get("expected", ""), _BODY_LIMIT),
        "exchanges": [_evidence(i, exchanges.get(i)) for i in shown],
        "more_exchanges": len(ids) - len(shown),
    }


def _evidence(exchange_id: str, record: dict[str, Any] | None) -> dict[str, Any]:
    view: dict[str, Any] = {"id": _text(exchange_id), "found": record is not None}
    if record is None:
        return view
    request, response = _dict(record.get("request")), record.get("response")
    return view | {
        "kind": _text(record.get("kind", "")),
        "check": _text(record.get("check", "")),
        "at": _text(record.get("at", "")),
        "method": _text(request.get("method", "")),
        "url": _text(request.get("url", "")),
        "error": _text(record.get("error") or ""),
        "request_body": _clip(request.get("body") or "", _BODY_LIMIT),
        "response": _response(response) if isinstance(response, dict) else None,
        "source": _text(record.get("source", "")),
        "data": _clip(_json(record["data"]), _BODY_LIMIT) if "data" in record else None,
    }


def _response(response: dict[str, Any]) -> dict[str, Any]:
    headers = list(_dict(response.get("headers")).items())
    return {
        "status": _text(response.get("status", "")),
        "elapsed_s": _text(response.get("elapsed_s", "")),
        "headers": [(_text(k), _text(v)) for k, v in headers[:_MAX_HEADERS]],
        "more_headers": max(0, len(headers) - _MAX_HEADERS),
        "body": _clip(response.get("body") or "", _BODY_LIMIT),
    }


# -- bounded text -------------------------------------------------------------------------


def _clip(value: Any, limit: int) -> dict[str, str]:
    """Text cut to `limit` characters, with a note saying how much was left out."""
    text = value if isinstance(value, str) else _json(value)
    if len(text) <= limit:
        return {"text": text, "note": ""}
    note = f"Truncated: showing the first {limit:,} of {len(text):,} characters."
    return {"text": text[:limit], "note": note}


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else _json(value)
    return text if len(text) <= _TEXT_LIMIT else f"{text[:_TEXT_LIMIT]}… (truncated)"


def _json(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, indent=2)
    except (TypeError, ValueError, RecursionError):
        return repr(value)[: _BODY_LIMIT * 2]


def _lang(value: Any, lang: str) -> str:
    return _text(value.get(lang, "")) if isinstance(value, dict) else ""


def _outcome_class(outcome: Any) -> str:
    return outcome if outcome in _OUTCOMES else "error"


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
