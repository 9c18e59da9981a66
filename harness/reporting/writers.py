"""Build every report from the files a run leaves in its output folder.

Reports read only ``results.json`` and ``evidence.jsonl``, never live objects, so an archived
output folder can be reported on again later, on another machine, by a newer tool.

Evidence came partly from the system under test and is treated as hostile: malformed or
oversized lines are skipped and counted, strings are stripped of characters that XML 1.0 and
HTML cannot carry, and nesting is capped. Only ``report.json`` keeps the results untouched.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import jinja2

from harness.reporting.html import render_html, template_dir
from harness.reporting.json_report import render_json
from harness.reporting.junit import render_junit

__all__ = ["ReportError", "ReportFiles", "write_reports"]

RESULTS_FILE = "results.json"
EVIDENCE_FILE = "evidence.jsonl"
# Written by `certify --with-load`; when present it becomes the report's load section.
LOAD_FILE = "load/load.json"

# A line longer than this is not something the harness wrote (bodies are truncated before
# they are recorded); skipping it keeps a hostile body from filling memory.
_MAX_LINE_BYTES = 16 * 1024 * 1024
_CHUNK_BYTES = 1024 * 1024
_MAX_DEPTH = 64
# Everything XML 1.0 forbids (C0 controls except tab/newline/CR, lone surrogates, the two
# non-characters); HTML has no use for them either.
_ILLEGAL_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class ReportError(Exception):
    """The output folder cannot be reported on; the message names the file and the fix."""


@dataclass(frozen=True, slots=True)
class ReportFiles:
    """Where `write_reports` put each report."""

    json: Path
    junit: Path
    html: Path


@dataclass(frozen=True, slots=True)
class _Evidence:
    records: dict[str, dict[str, Any]]  # only the records some finding refers to
    total: int
    malformed: int
    manifest: dict[str, dict[str, Any]]


def write_reports(out_dir: Path) -> ReportFiles:
    """Read ``results.json`` and ``evidence.jsonl`` in `out_dir`; write the three reports."""
    out_dir = Path(out_dir)
    results = _with_load_section(_load_results(out_dir / RESULTS_FILE), out_dir / LOAD_FILE)
    clean = _clean_results(results, source=out_dir / RESULTS_FILE)
    evidence = _load_evidence(out_dir / EVIDENCE_FILE, wanted=_referenced_ids(clean))
    files = ReportFiles(
        json=out_dir / "report.json", junit=out_dir / "junit.xml", html=out_dir / "report.html"
    )
    files.json.write_bytes(render_json(results, evidence_files=evidence.manifest))
    files.junit.write_bytes(render_junit(clean, malformed_lines=evidence.malformed))
    files.html.write_text(_html(clean, evidence), encoding="utf-8")
    return files


def _html(clean: dict[str, Any], evidence: _Evidence) -> str:
    try:
        return render_html(
            clean,
            exchanges=evidence.records,
            evidence_total=evidence.total,
            malformed_lines=evidence.malformed,
        )
    except jinja2.TemplateNotFound as exc:
        raise ReportError(
            f"The HTML report template {exc.name} is not in {template_dir()}. Reinstall "
            "lienthong, or in a source checkout restore reports/templates/."
        ) from None


def _with_load_section(results: dict[str, Any], load_file: Path) -> dict[str, Any]:
    """Add a compact summary of a load run, if the run folder holds one."""
    if not load_file.is_file():
        return results
    try:
        load = json.loads(load_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ReportError(
            f"{load_file} is not readable JSON ({exc}); rerun the load test or remove the file"
        ) from None
    if not isinstance(load, dict):
        raise ReportError(f"{load_file} is not a load result; rerun the load test")
    keys = ("verdict", "profile", "title", "scale", "compress", "status", "reason", "slos")
    summary = {key: load.get(key) for key in keys}
    summary["report"] = "load/load.html"
    return {**results, "load": summary}


# -- results.json -------------------------------------------------------------------------


def _load_results(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise ReportError(
            f"{path} does not exist. Reports are built from the results.json a run writes "
            "into its output folder: pass the folder of a finished run, or run the suite "
            "again with that folder as its output."
        ) from None
    except (ValueError, RecursionError) as exc:
        raise ReportError(
            f"{path} is not valid JSON ({exc}). The run that wrote it probably stopped "
            "midway: run the suite again to regenerate it."
        ) from None
    _require_shape(data, path)
    return data  # type: ignore[no-any-return]


def _require_shape(data: Any, path: Path) -> None:
    if isinstance(data, dict) and isinstance(data.get("requirements"), list):
        return
    raise ReportError(
        f"{path} is JSON but not a lienthong results file: expected an object with "
        "'verdict' and a 'requirements' list, e.g. "
        '{"verdict": "fail", "requirements": [{"id": "SEC-TOKEN-AUD@1", "outcome": "fail"}]}.'
    )


def _clean_results(results: dict[str, Any], *, source: Path) -> dict[str, Any]:
    """A sanitised copy where every requirement carries the check results that judged it."""
    try:
        clean: dict[str, Any] = _sanitise(results)
    except RecursionError:
        raise ReportError(f"{source} is nested too deeply to be a results file.") from None
    clean["requirements"] = _dicts(clean.get("requirements"))
    clean["checks"] = _dicts(clean.get("checks"))
    for check in clean["checks"]:
        check["findings"] = _dicts(check.get("findings"))
        for finding in check["findings"]:
            finding["exchange_ids"] = _strings(finding.get("exchange_ids"))
    for requirement in clean["requirements"]:
        requirement["check_results"] = _checks_for(requirement, clean["checks"])
    return clean


def _checks_for(requirement: dict[str, Any], checks: list[dict[str, Any]]) -> list[Any]:
    # A check is linked by name from the requirement, or names the requirement itself,
    # with or without the "@version" suffix.
    names = set(_strings(requirement.get("checks")))
    key = str(requirement.get("id", ""))
    wanted = {key, key.partition("@")[0]}
    return [
        check
        for check in checks
        if check.get("name") in names or wanted & set(_strings(check.get("requirement_ids")))
    ]


def _referenced_ids(clean: dict[str, Any]) -> set[str]:
    return {
        exchange_id
        for check in clean["checks"]
        for finding in check["findings"]
        for exchange_id in finding["exchange_ids"]
    }


# -- evidence.jsonl -----------------------------------------------------------------------


def _load_evidence(path: Path, *, wanted: set[str]) -> _Evidence:
    if not path.is_file():
        return _Evidence(records={}, total=0, malformed=0, manifest={})
    records: dict[str, dict[str, Any]] = {}
    total = malformed = 0
    with path.open("rb") as stream:
        for line in _lines(stream):
            if line is not None and not line.strip():
                continue  # blank lines carry nothing; not worth a warning
            record = _parse_record(line)
            if record is None:
                malformed += 1
                continue
            total += 1
            if record["id"] in wanted:
                records.setdefault(record["id"], record)
    manifest = {path.name: {**_digest(path), "records": total, "malformed_lines": malformed}}
    return _Evidence(records=records, total=total, malformed=malformed, manifest=manifest)


def _lines(stream: IO[bytes]) -> Iterator[bytes | None]:
    """Yield each line, or None for a line too long to trust (its rest is read, not kept)."""
    while line := stream.readline(_MAX_LINE_BYTES + 1):
        if len(line) <= _MAX_LINE_BYTES or line.endswith(b"\n"):
            yield line
            continue
        while (rest := stream.readline(_CHUNK_BYTES)) and not rest.endswith(b"\n"):
            pass
        yield None


def _parse_record(line: bytes | None) -> dict[str, Any] | None:
    if line is None:
        return None
    try:
        record = _sanitise(json.loads(line))
    except (ValueError, RecursionError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("id"), str):
        return None
    return record


def _digest(path: Path) -> dict[str, Any]:
    sha256 = hashlib.sha256()
    size = 0
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK_BYTES):
            sha256.update(chunk)
            size += len(chunk)
    return {"sha256": sha256.hexdigest(), "bytes": size}


# -- hostile data -------------------------------------------------------------------------


def _sanitise(value: Any, depth: int = 0) -> Any:
    """Copy JSON data with illegal characters removed and nesting capped at a safe depth."""
    if isinstance(value, str):
        return _ILLEGAL_CHARS.sub("", value)
    if depth >= _MAX_DEPTH and isinstance(value, dict | list):
        return "(nested too deeply to show)"
    if isinstance(value, dict):
        return {_sanitise(str(k)): _sanitise(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_sanitise(item, depth + 1) for item in value]
    return value


def _strings(value: Any) -> list[str]:
    """The strings in a list that should hold only strings; anything else is dropped."""
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
