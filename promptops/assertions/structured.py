"""Structured-output assertions: is-json, contains-json, json-schema.

``is-json`` and ``json-schema`` parse the whole output (surrounding whitespace ignored);
``contains-json`` finds the first JSON object or array inside the text (prose or a ```json fence
around it is fine). All three check a JSON schema (draft of the schema's ``$schema``, else 2020-12)
when one is given as the value: a mapping, or a JSON string.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from .base import Check, Family, GradeResult, clip

FAMILY = Family("structured")
_MISSING = object()


def _schema(value: Any) -> dict[str, Any] | bool:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise ValueError(f"the schema is not valid JSON: {exc}") from None
    if not isinstance(value, (dict, bool)):
        raise ValueError(f"a JSON schema is a mapping, got {type(value).__name__}")
    return value


def check_schema(value: Any) -> None:
    """Raise ValueError when the value is not a valid JSON schema."""
    schema = _schema(value)
    import jsonschema

    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path)
        raise ValueError(f"bad JSON schema{' at ' + where if where else ''}: {exc.message}") from None


def _validate(data: Any, value: Any) -> str | None:
    """None when ``data`` fits the schema, else the first error."""
    import jsonschema

    schema = _schema(value)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    error = jsonschema.exceptions.best_match(cls(schema).iter_errors(data))
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path)
    return f"{'at ' + where + ': ' if where else ''}{error.message}"


def find_json(text: str) -> Any:
    """The first JSON object or array embedded in ``text``; ``_MISSING`` when there is none."""
    decoder = _decoder()
    for i, ch in enumerate(text):
        if ch in "{[":
            try:
                return decoder.raw_decode(text, i)[0]
            except ValueError:
                continue
    return _MISSING


@lru_cache(maxsize=1)
def _decoder() -> json.JSONDecoder:
    return json.JSONDecoder()


def _grade_json(data: Any, value: Any, what: str) -> GradeResult:
    if value is None:
        return GradeResult(True, 1.0, what)
    error = _validate(data, value)
    if error is None:
        return GradeResult(True, 1.0, f"{what} and fits the schema")
    return GradeResult(False, 0.0, f"{what} but does not fit the schema: {error}")


@FAMILY.assertion("is-json", "the whole output is valid JSON (and fits the schema, when a value is given)",
                  value="schema", value_required=False, check_value=check_schema)
def is_json(output: str, value: Any, check: Check) -> GradeResult:
    try:
        data = json.loads(output)
    except ValueError as exc:
        return GradeResult(False, 0.0, f"output is not JSON ({exc.msg}): {clip(output)}")
    return _grade_json(data, value, "output is JSON")


@FAMILY.assertion("contains-json", "the output contains a JSON object or array (that fits the schema, when "
                  "a value is given)", value="schema", value_required=False, check_value=check_schema)
def contains_json(output: str, value: Any, check: Check) -> GradeResult:
    data = find_json(output)
    if data is _MISSING:
        return GradeResult(False, 0.0, f"output contains no JSON object or array: {clip(output)}")
    return _grade_json(data, value, "output contains JSON")


@FAMILY.assertion("json-schema", "the whole output is JSON that fits the schema given as value",
                  value="schema", check_value=check_schema)
def json_schema(output: str, value: Any, check: Check) -> GradeResult:
    try:
        data = json.loads(output)
    except ValueError as exc:
        return GradeResult(False, 0.0, f"output is not JSON ({exc.msg}): {clip(output)}")
    return _grade_json(data, value, "output is JSON")
