"""Field assertions on JSON output: json-path.

``json-path`` parses the output as JSON (the whole output, else the first JSON object or array in
it) and reads one field by path: ``$.issue.type``, ``issue.type``, ``items[0].id`` or
``items.0.id``. With a ``value`` the field must equal it (numbers compare by value; a string value
compares with the field's text, so ``"3"`` matches ``3``); without one the field must exist.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .base import Check, Family, GradeResult, clip, passfail
from .structured import _MISSING, find_json

FAMILY = Family("fields")
_STEP = re.compile(r"\.?([A-Za-z_][\w-]*|\d+)|\[(\d+|'[^']*'|\"[^\"]*\")\]")


def parse_path(path: str) -> list[str | int]:
    text = path.strip()
    if text.startswith("$"):
        text = text[1:]
    steps: list[str | int] = []
    pos = 0
    while pos < len(text):
        m = _STEP.match(text, pos)
        if not m or m.end() == pos:
            raise ValueError(f"bad JSON path {path!r} at {text[pos:]!r}: use $.a.b[0].c")
        raw = m.group(1) if m.group(1) is not None else m.group(2)
        if raw[0] in "'\"":
            steps.append(raw[1:-1])
        else:
            steps.append(int(raw) if raw.isdigit() else raw)
        pos = m.end()
    if not steps:
        raise ValueError(f"empty JSON path {path!r}")
    return steps


def read_path(data: Any, steps: list[str | int]) -> Any:
    """The value at ``steps``; ``_MISSING`` when a step is absent."""
    for step in steps:
        if isinstance(data, list) and isinstance(step, int) and -len(data) <= step < len(data):
            data = data[step]
        elif isinstance(data, dict) and str(step) in data:
            data = data[str(step)]
        else:
            return _MISSING
    return data


def _same(want: Any, got: Any) -> bool:
    if isinstance(want, bool) or isinstance(got, bool):
        return want is got or (isinstance(want, str) and want.lower() == str(got).lower())
    if isinstance(want, (int, float)) and isinstance(got, (int, float)):
        return float(want) == float(got)
    if isinstance(want, str) and not isinstance(got, str):
        return want == (json.dumps(got) if isinstance(got, (dict, list)) or got is None else str(got))
    return want == got



@FAMILY.assertion("json-path", "the output's JSON has the field at 'path' ($.a.b[0]); equal to the value when "
                  "one is given", value="any", value_required=False, keys=frozenset({"path"}))
def json_path(output: str, value: Any, check: Check) -> GradeResult:
    path = check.spec.get("path")
    if not isinstance(path, str):
        raise ValueError("'json-path' needs path: $.field (the value is what the field must equal)")
    steps = parse_path(path)
    try:
        data = json.loads(output)
    except ValueError:
        data = find_json(output)
        if data is _MISSING:
            return GradeResult(False, 0.0, f"output holds no JSON: {clip(output)}")
    got = read_path(data, steps)
    if got is _MISSING:
        return GradeResult(False, 0.0, f"{path} is not in the output JSON")
    if value is None:
        return GradeResult(True, 1.0, f"{path} is {clip(got)}")
    return passfail(_same(value, got), f"{path} is {clip(got)}", f"{path} is {clip(got)}, wanted {clip(value)}")
