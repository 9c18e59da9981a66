"""``report.json``: the results exactly as the run wrote them, plus the evidence manifest."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["render_json"]


def render_json(results: dict[str, Any], *, evidence_files: dict[str, dict[str, Any]]) -> bytes:
    """Serialise `results` with an ``evidence`` section naming each evidence file's SHA-256.

    The results are not sanitised here: this report is the faithful record, and its hashes
    let anyone holding the evidence files prove they are the ones the verdict rests on.
    """
    report = {**results, "evidence": {"files": evidence_files}}
    text = json.dumps(report, ensure_ascii=False, indent=2) + "\n"
    # A lone surrogate (legal in JSON escapes, not in UTF-8) can only sit inside a string,
    # where "\udXXX" written back is again a valid JSON escape for the same character.
    return text.encode("utf-8", "backslashreplace")
