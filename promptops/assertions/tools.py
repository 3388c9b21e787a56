"""Tool-call assertions: tool-call, is-valid-tool-call (and promptfoo's names for it), tool-call-f1,
finish-reason.

They read what the call answered besides its text from the grade context
(:class:`~.base.GradeContext` ``tool_calls``, ``finish_reason``, ``tools``), which the runner fills
from the provider's answer and the prompt's ``tools:``.

- ``tool-call``: some tool call has the name and (a superset of) the arguments in the value:
  ``{name: get_weather, arguments: {city: "{{ vars.city }}"}}``, or the bare name. Mappings match
  when every key given matches (recursively); other values must be equal.
- ``is-valid-tool-call``: the answer has at least one tool call, and each names a declared tool
  and has JSON arguments valid against that tool's ``parameters`` schema. The value may give the
  tools (OpenAI function schemas) instead of the prompt's.
- ``tool-call-f1``: F1 of the names called against the value's list of expected names; passes at
  or above threshold (default 1).
- ``finish-reason``: the provider's finish reason equals the value (``stop``, ``length``,
  ``tool_calls``, ``content_filter``; ``function_call`` counts as ``tool_calls``).
"""

from __future__ import annotations

from typing import Any

from ..providers.toolcalls import parsed
from .base import Check, Family, GradeError, GradeResult, as_strings, clip, passfail
from .structured import _validate, check_schema

FAMILY = Family("tools")


def _calls(check: Check) -> list[dict[str, Any]]:
    return parsed(check.ctx.tool_calls)


def subset(want: Any, got: Any) -> bool:
    """Whether ``got`` holds ``want``: every key of a mapping (recursively), else equality."""
    if isinstance(want, dict):
        return isinstance(got, dict) and all(k in got and subset(v, got[k]) for k, v in want.items())
    if isinstance(want, list):
        return isinstance(got, list) and len(want) == len(got) and all(subset(a, b) for a, b in zip(want, got))
    if isinstance(want, (int, float)) and not isinstance(want, bool) and isinstance(got, (int, float)):
        return float(want) == float(got)
    return want == got


def _tool_call_value(value: Any) -> tuple[str, Any]:
    if isinstance(value, str) and value.strip():
        return value.strip(), None
    if isinstance(value, dict) and isinstance(value.get("name"), str) and not set(value) - {"name", "arguments"}:
        arguments = value.get("arguments")
        if arguments is not None and not isinstance(arguments, dict):
            raise ValueError("'tool-call' arguments must be a mapping of the arguments to match")
        return value["name"], arguments
    raise ValueError(f"'tool-call' takes a tool name or {{name, arguments}}, got {value!r}")


@FAMILY.assertion("tool-call", "a tool call has the name and (at least) the arguments given: {name, arguments} "
                  "or a name", value="any", check_value=lambda v: _tool_call_value(v) and None)
def tool_call(output: str, value: Any, check: Check) -> GradeResult:
    name, arguments = _tool_call_value(value)
    calls = _calls(check)
    named = [c for c in calls if c["name"] == name]
    if not named:
        called = ", ".join(c["name"] for c in calls) or "no tool"
        return GradeResult(False, 0.0, f"no call of '{name}' (called: {called})")
    if arguments is None or any(subset(arguments, c["arguments"]) for c in named):
        return GradeResult(True, 1.0, f"'{name}' called" + (f" with {clip(arguments)}" if arguments else ""))
    return GradeResult(False, 0.0, f"'{name}' called with {clip(named[0]['arguments'])}, wanted {clip(arguments)}")


def _declared(value: Any, check: Check) -> dict[str, dict[str, Any]]:
    tools = value if value is not None else check.ctx.tools
    if not tools:
        raise GradeError("no tools are declared: add tools: to the prompt, or give them as the value")
    if not isinstance(tools, list):
        raise GradeError("the tools must be a list of OpenAI function schemas")
    out = {}
    for tool in tools:
        function = tool.get("function", tool) if isinstance(tool, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise GradeError(f"not a function schema: {clip(tool)}")
        out[function["name"]] = function.get("parameters") or {"type": "object"}
    return out


def _valid_calls(output: str, value: Any, check: Check) -> GradeResult:
    declared = _declared(value, check)
    calls = _calls(check)
    if not calls:
        return GradeResult(False, 0.0, f"the answer has no tool call: {clip(output)}")
    for call in calls:
        if call["name"] not in declared:
            return GradeResult(False, 0.0, f"'{call['name']}' is not a declared tool ({', '.join(declared)})")
        if not isinstance(call["arguments"], dict):
            return GradeResult(False, 0.0, f"'{call['name']}' arguments are not a JSON object: "
                                           f"{clip(call['arguments'])}")
        error = _validate(call["arguments"], declared[call["name"]])
        if error is not None:
            return GradeResult(False, 0.0, f"'{call['name']}' arguments do not fit its schema: {error}")
    return GradeResult(True, 1.0, f"{len(calls)} tool call(s) fit the declared schemas")


def _check_tools(value: Any) -> None:
    if not isinstance(value, list) or not value:
        raise ValueError("the value is a list of tools (OpenAI function schemas)")
    for tool in value:
        function = tool.get("function", tool) if isinstance(tool, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise ValueError(f"not a function schema: {tool!r}")
        if function.get("parameters") is not None:
            check_schema(function["parameters"])


for _name in ("is-valid-tool-call", "is-valid-openai-tools-call", "is-valid-function-call",
              "is-valid-openai-function-call"):
    FAMILY.assertion(_name, "every tool call names a declared tool and its arguments fit that tool's schema",
                     value="any", value_required=False, check_value=_check_tools)(_valid_calls)


@FAMILY.assertion("tool-call-f1", "F1 of the tool names called against the expected list; passes at or above "
                  "threshold (default 1)", value="strings", threshold="score", default_threshold=1.0)
def tool_call_f1(output: str, value: Any, check: Check) -> GradeResult:
    expected = set(as_strings(value))
    called = {c["name"] for c in _calls(check)}
    hits = len(expected & called)
    if not hits:
        return GradeResult(False, 0.0, f"F1 0 (called: {', '.join(sorted(called)) or 'no tool'})")
    precision, recall = hits / len(called), hits / len(expected)
    f1 = 2 * precision * recall / (precision + recall)
    return GradeResult(f1 >= 1.0, f1, f"F1 {f1:.2f} (called: {', '.join(sorted(called))})")


_REASONS = {"function_call": "tool_calls", "tool_call": "tool_calls", "max_tokens": "length"}


@FAMILY.assertion("finish-reason", "the model stopped for the reason given (stop, length, tool_calls, "
                  "content_filter)", value="string")
def finish_reason(output: str, value: Any, check: Check) -> GradeResult:
    got = check.ctx.finish_reason
    if got is None:
        raise GradeError("the provider gave no finish reason for this answer")
    want = _REASONS.get(str(value).strip().lower(), str(value).strip().lower())
    norm = _REASONS.get(got.lower(), got.lower())
    return passfail(norm == want, f"finish reason {got}", f"finish reason {got}, wanted {want}")
