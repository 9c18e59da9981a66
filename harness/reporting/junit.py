"""``junit.xml``: one test case per requirement, so CI systems can show the verdict natively.

Input is the sanitised results from `writers` (no characters illegal in XML 1.0);
ElementTree does the escaping.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections import Counter
from typing import Any

__all__ = ["render_junit"]

_MESSAGE_LIMIT = 2000
_TEXT_LIMIT = 16_000
_PROPERTIES = ("verdict", "suite_version", "tool_version", "profile", "seed")


def render_junit(results: dict[str, Any], *, malformed_lines: int = 0) -> bytes:
    """One ``<testsuite name="lienthong">`` with a ``<testcase>`` per requirement."""
    suite = ET.Element("testsuite", name="lienthong", timestamp=str(results.get("started_at", "")))
    suite.append(_properties(results, malformed_lines=malformed_lines))
    counts: Counter[str] = Counter()
    for requirement in results["requirements"]:
        case, kind = _testcase(requirement)
        suite.append(case)
        counts[kind] += 1
    attrs = _counts(counts, total=len(results["requirements"]), time=results.get("duration_s"))
    suite.attrib.update(attrs)
    root = ET.Element("testsuites", {"name": "lienthong", **attrs})
    root.append(suite)
    ET.indent(root)
    xml: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return xml + b"\n"


def _properties(results: dict[str, Any], *, malformed_lines: int) -> ET.Element:
    props = ET.Element("properties")
    target = _dict(results.get("target"))
    values = {name: results.get(name) for name in _PROPERTIES}
    values |= {"base_url": target.get("base_url"), "agency_id": target.get("agency_id")}
    values["evidence_malformed_lines"] = malformed_lines
    for name, value in values.items():
        if value is not None:
            ET.SubElement(props, "property", name=name, value=_clip(str(value), _MESSAGE_LIMIT))
    return props


def _counts(counts: Counter[str], *, total: int, time: Any) -> dict[str, str]:
    return {
        "tests": str(total),
        "failures": str(counts["failure"]),
        "errors": str(counts["error"]),
        "skipped": str(counts["skipped"]),
        "time": _seconds(time),
    }


def _testcase(requirement: dict[str, Any]) -> tuple[ET.Element, str]:
    """The test case and what it counts as: passed, failure, error or skipped."""
    checks = requirement["check_results"]
    case = ET.Element(
        "testcase",
        classname=str(requirement.get("category", "")),
        name=str(requirement.get("id", "")),
        time=_seconds(sum(_number(c.get("duration_s")) for c in checks)),
    )
    outcome = requirement.get("outcome")
    if outcome == "pass":
        return case, "passed"
    if outcome == "skip":
        ET.SubElement(case, "skipped", message=_clip(_summaries(checks), _MESSAGE_LIMIT))
        return case, "skipped"
    kind = "failure" if outcome == "fail" else "error"
    message = _failure_message(checks) if kind == "failure" else _summaries(checks)
    if outcome not in ("fail", "error"):
        message = f"unknown outcome {outcome!r} in results.json; {message}"
    detail = ET.SubElement(case, kind, message=_clip(message, _MESSAGE_LIMIT))
    detail.text = _clip(_detail_text(requirement, checks), _TEXT_LIMIT)
    return case, kind


def _failure_message(checks: list[dict[str, Any]]) -> str:
    parts = [
        f"{f.get('title', '')}: observed {f.get('observed', '')}; expected {f.get('expected', '')}"
        for check in checks
        for f in check["findings"]
    ]
    return " | ".join(parts) or _summaries(checks) or "requirement not met"


def _summaries(checks: list[dict[str, Any]]) -> str:
    return "; ".join(f"{c.get('name', '?')}: {c.get('summary', '')}" for c in checks)


def _detail_text(requirement: dict[str, Any], checks: list[dict[str, Any]]) -> str:
    lines = [_lang(requirement.get("text"))]
    for check in checks:
        lines.append(
            f"[{check.get('outcome', '?')}] {check.get('name', '?')}: {check.get('summary', '')}"
        )
        for finding in check["findings"]:
            lines += [
                f"  - {finding.get('title', '')}",
                f"    observed: {finding.get('observed', '')}",
                f"    expected: {finding.get('expected', '')}",
                f"    evidence: {', '.join(finding['exchange_ids']) or '-'}",
            ]
    lines.append(f"Remediation: {_lang(requirement.get('remediation'))}")
    return "\n".join(lines)


def _lang(value: Any, lang: str = "en") -> str:
    return str(value.get(lang, "")) if isinstance(value, dict) else ""


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [truncated: {len(text):,} characters in all]"


def _number(value: Any) -> float:
    # CI tools choke on "nan" or a non-number in time="..."; unknown durations count as zero.
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if ok and math.isfinite(value) else 0.0


def _seconds(value: Any) -> str:
    return f"{_number(value):.3f}"


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
