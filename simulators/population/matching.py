"""Verification: compare what a caller holds with the record, field by field.

Normalisation (documented in the spec): names are compared NFC-normalised, case-folded,
with runs of white space collapsed; diacritics are never folded ("Hùng" ≠ "Hung"), so
look-alike names stay different people. Dates and the other fields compare exactly.
The answer carries a result per field the caller sent and nothing else from the record,
except, on a full match, that the citizen has died or been declared missing (an agency must
not act for them).
"""

from __future__ import annotations

import unicodedata
from typing import Any

__all__ = ["VERIFY_FIELDS", "normalise_name", "verify_answer"]

VERIFY_FIELDS = ("full_name", "date_of_birth", "sex", "cmnd")


def normalise_name(name: str) -> str:
    """The form names are compared in: NFC, case-folded, white space runs collapsed."""
    return " ".join(unicodedata.normalize("NFC", name).casefold().split())


def _field_result(name: str, sent: Any, citizen: dict[str, Any]) -> str:
    if name != "full_name":
        return "match" if sent == citizen[name] else "mismatch"
    wanted = normalise_name(sent)
    if wanted == normalise_name(citizen["full_name"]):
        return "match"
    former = citizen.get("former_name")
    return "former_name" if former and wanted == normalise_name(former) else "mismatch"


def verify_answer(
    citizen: dict[str, Any] | None, body: dict[str, Any], *, superseded: bool = False
) -> dict[str, Any]:
    if citizen is None:
        return {"result": "not_found"}
    fields = {f: _field_result(f, body[f], citizen) for f in VERIFY_FIELDS if f in body}
    result = "match" if all(v == "match" for v in fields.values()) else "mismatch"
    answer: dict[str, Any] = {"result": result, "fields": fields}
    if superseded:
        answer["pin_status"] = "superseded"
    if result == "match" and citizen["date_of_death"]:
        answer["status"] = "deceased"
    elif result == "match" and citizen.get("missing_since"):
        answer["status"] = "missing"
    return answer
