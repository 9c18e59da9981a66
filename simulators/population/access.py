"""Who may read what: field scopes, the purpose catalogue and its data-minimisation
limits, and the precise problems for every refusal. All of it is [ours] (DOMAIN.md §8):
Decree 13/2023 asks for a declared purpose or explicit, withdrawable consent; the field
sets per purpose are our reading of "no more than the purpose needs".
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from simulators.common.problems import FieldError, ProblemError
from simulators.population.pin import InvalidPin, decode_pin

__all__ = [
    "FIELD_SCOPES",
    "PURPOSES",
    "check_date",
    "check_pin",
    "invalid",
    "over_asking",
    "requested_fields",
]

_IDENTITY = [
    "full_name",
    "former_name",
    "date_of_birth",
    "sex",
    "birth_registration_province",
    "native_place",
    "ethnicity",
    "religion",
    "nationality",
    "cmnd",
    "date_of_death",
    "missing_since",
    "vneid_level",
]
_RESIDENCE = [
    "permanent_address",
    "permanent_ward",
    "temporary_address",
    "temporary_ward",
    "temporary_absence",
    "current_address",
    "current_ward",
]
_FAMILY = [
    "household_id",
    "relationship_to_head",
    "father_pin",
    "mother_pin",
    "spouse_pin",
    "legal_representative_pin",
    "marital_status",
]
# Which scope releases which field of a citizen's record.
FIELD_SCOPES: dict[str, str] = {
    **dict.fromkeys(_IDENTITY, "citizen.read.identity"),
    **dict.fromkeys(_RESIDENCE, "citizen.read.residence"),
    **dict.fromkeys(_FAMILY, "citizen.read.family"),
}
_BASIC = {
    "full_name",
    "date_of_birth",
    "sex",
    "nationality",
    "date_of_death",
    "missing_since",
    "vneid_level",
}
# Purpose → the fields it may release (data minimisation).
PURPOSES: dict[str, frozenset[str]] = {
    "identity-check": frozenset(_BASIC | {"cmnd", "former_name"}),
    "administrative-procedure": frozenset(_IDENTITY + _RESIDENCE),
    "civil-status": frozenset(_IDENTITY + _FAMILY),
    "residence-management": frozenset(FIELD_SCOPES),
    "social-insurance": frozenset(_IDENTITY + _RESIDENCE + _FAMILY),
    "tax-administration": frozenset(_IDENTITY + _RESIDENCE),
    "data-cleansing": frozenset(_IDENTITY),
}
PIN_FIX = (
    "12 digits PPP C YY RRRRRR: a legacy province code (specs/data/provinces-legacy-63.csv), "
    "a century/sex digit 0-5, two year digits, six serial digits; e.g. 001090000001"
)
_FIELDS_MAX_LENGTH = 1000


def invalid(field: str, message: str, fix: str = "", *, status: int = 422) -> ProblemError:
    return ProblemError(
        status,
        "Invalid request",
        f"{field}: {message}.",
        errors=(FieldError(field, message, fix),),
        slug="validation",
    )


def refused(slug: str, title: str, field: str, message: str, fix: str) -> ProblemError:
    return ProblemError(
        403, title, f"{field}: {message}.", errors=(FieldError(field, message, fix),), slug=slug
    )


def check_pin(pin: str, field: str) -> None:
    try:
        decode_pin(pin)
    except InvalidPin as exc:
        raise invalid(field, str(exc), PIN_FIX) from None


def check_date(text: str, field: str) -> date:
    # Schema patterns let 2023-02-30 through; the calendar does not.
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise invalid(
            field, f"{text!r} is not a calendar date", "YYYY-MM-DD, e.g. 1990-05-17"
        ) from None


def check_pin_matches_birth(pin: str, born: date, sex: str | None, field: str) -> None:
    """The century/sex digit and year digits of a PIN must agree with the birth date."""
    info = decode_pin(pin)
    if info.birth_year != born.year:
        raise invalid(
            field,
            f"PIN {pin} encodes birth year {info.birth_year}, the date of birth says {born.year}",
            "digit 4 is the century and sex (0/1 1900s, 2/3 2000s), digits 5-6 the year",
        )
    if sex is not None and info.sex != sex:
        raise invalid(field, f"PIN {pin} encodes sex {info.sex}, the request says {sex}")


def requested_fields(raw: str | None) -> list[str]:
    """The `fields` query parameter as a list without duplicates, in the caller's order."""
    allowed = ", ".join(FIELD_SCOPES)
    if raw is None or not raw.strip():
        raise invalid("fields", "is required", f"comma-separated names from: {allowed}")
    if len(raw) > _FIELDS_MAX_LENGTH:
        raise invalid("fields", f"longer than {_FIELDS_MAX_LENGTH} characters")
    names = list(dict.fromkeys(n.strip() for n in raw.split(",") if n.strip()))
    unknown = [n for n in names if n not in FIELD_SCOPES]
    if unknown or not names:
        raise invalid("fields", f"unknown field(s) {', '.join(unknown)}", f"use: {allowed}")
    return names


def missing_scopes(claims: dict[str, Any], fields: list[str]) -> dict[str, str]:
    granted = set(str(claims.get("scope", "")).split())
    return {f: FIELD_SCOPES[f] for f in fields if FIELD_SCOPES[f] not in granted}


def insufficient_scope(missing: dict[str, str]) -> ProblemError:
    scopes = sorted(set(missing.values()))
    errors = tuple(
        FieldError(f, f"needs the scope {s}", f"request {s}") for f, s in missing.items()
    )
    return ProblemError(
        403,
        "Insufficient scope",
        f"Fields {', '.join(missing)} need the scope(s) {', '.join(scopes)}.",
        errors=errors,
        slug="insufficient-scope",
        headers={
            "WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{" ".join(scopes)}"'
        },
    )


def over_asking(fields: list[str], allowed: frozenset[str], basis: str) -> ProblemError | None:
    extra = [f for f in fields if f not in allowed]
    if not extra:
        return None
    return refused(
        "over-asking",
        "More fields than the purpose allows",
        "fields",
        f"{', '.join(extra)} are not needed for {basis}",
        f"ask only for: {', '.join(sorted(allowed & set(fields))) or '(none of these)'}",
    )


_LEGAL_BASIS = re.compile(r"\S.{2,199}", re.DOTALL)


def check_purpose(purpose: str | None, legal_basis: str | None, registered: set[str]) -> str:
    """The purpose, when it is known, registered for the caller and has a legal basis."""
    catalogue = ", ".join(PURPOSES)
    if purpose is None:
        raise invalid("purpose", "is required unless consent_id is given", f"one of: {catalogue}")
    if purpose not in PURPOSES:
        raise invalid("purpose", f"unknown purpose {purpose[:50]!r}", f"one of: {catalogue}")
    if legal_basis is None or not _LEGAL_BASIS.fullmatch(legal_basis):
        raise invalid(
            "legal_basis",
            "is required with a purpose (3–200 characters)",
            "cite the act, e.g. 'Nghị định 104/2022/NĐ-CP, điều 14'",
        )
    if purpose not in registered:
        raise refused(
            "purpose-not-registered",
            "Purpose not registered",
            "purpose",
            f"{purpose} is not among this client's registered purposes",
            f"use one of: {', '.join(sorted(registered)) or '(none registered)'}",
        )
    return purpose
