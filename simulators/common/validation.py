"""Request validation compiled once from the OpenAPI component schemas of specs/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker, validators
from jsonschema.exceptions import ValidationError

from simulators.common.problems import FieldError, ProblemError
from simulators.common.resources import load_yaml_spec

__all__ = ["SchemaValidator"]

_MAX_REPORTED = 20


class SchemaValidator:
    """Validates instances against one named schema of an OpenAPI document."""

    def __init__(self, spec_file: str, schema_name: str) -> None:
        components = load_yaml_spec(spec_file)["components"]
        root = {"$ref": f"#/components/schemas/{schema_name}", "components": components}
        Draft202012Validator.check_schema(root)
        self._validator = _EcmaValidator(root, format_checker=FormatChecker())
        self.schema_name = schema_name

    def errors(self, instance: Any) -> tuple[FieldError, ...]:
        found = sorted(self._validator.iter_errors(instance), key=lambda e: list(e.path))
        return tuple(_field_error(e) for e in found[:_MAX_REPORTED])

    def check(self, instance: Any) -> None:
        """Raise a 422 problem naming every invalid field (up to a bound)."""
        errors = self.errors(instance)
        if errors:
            names = ", ".join(e.field for e in errors)
            raise ProblemError(
                422,
                "Invalid request",
                f"{self.schema_name} has invalid fields: {names}.",
                errors=errors,
                slug="validation",
            )


@cache
def _ecma_regex(pattern: str) -> re.Pattern[str]:
    # ECMA-262, which JSON Schema patterns follow, lets `$` match only at the very end;
    # Python's `$` also matches before a final newline ("001090000001\n" would pass).
    return re.compile(re.sub(r"(?<!\\)\$", r"\\Z", pattern))


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if isinstance(instance, str) and not _ecma_regex(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


_EcmaValidator = validators.extend(Draft202012Validator, {"pattern": _pattern})


def _pointer(parts: Any) -> str:
    return "/" + "/".join(str(p) for p in parts)


def _field_error(error: ValidationError) -> FieldError:
    path = list(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "required":
        missing = str(error.message).split("'")[1] if "'" in error.message else "?"
        return FieldError(_pointer([*path, missing]), "is required", "add this field")
    if error.validator == "additionalProperties":
        return FieldError(
            _pointer(path), error.message, "remove fields the contract does not define"
        )
    fix = _fix_hint(error.validator, schema)
    return FieldError(_pointer(path), _describe(error.validator, schema), fix)


# Messages name the rule, never the value: an error answer must not echo personal data
# (a PIN or a name sent in the request) back to the caller or into logs.
_RULES = {
    "pattern": "does not match the required pattern",
    "enum": "is not one of the allowed values",
    "type": "has the wrong type",
    "minLength": "is too short",
    "maxLength": "is too long",
    "minimum": "is below the minimum",
    "maximum": "is above the maximum",
    "maxProperties": "has too many properties",
    "minItems": "has too few items",
    "maxItems": "has too many items",
}


def _describe(keyword: Any, schema: dict[str, Any]) -> str:
    if keyword == "format":
        return f"is not a valid {schema.get('format')}"
    return _RULES.get(str(keyword), f"violates '{keyword}'")


def _fix_hint(keyword: Any, schema: dict[str, Any]) -> str:
    description = str(schema.get("description", "")).strip()
    if keyword == "pattern":
        return f"match {schema.get('pattern')}" + (f" ({description})" if description else "")
    if keyword == "enum":
        return f"use one of {schema.get('enum')}"
    if keyword == "type":
        return f"send a value of type {schema.get('type')}"
    return description or f"satisfy '{keyword}'"
