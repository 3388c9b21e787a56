"""Tool calls in a model's answer: one normalized form, and the output text that carries them.

A provider answer's ``tool_calls`` are kept in OpenAI's shape, ``[{"id", "type": "function",
"function": {"name", "arguments": "<JSON text>"}}]``, in the :class:`~.litellm.Completion`, the
response cache and the runner's results. The graded and stored *output* of an answer with tool
calls is JSON (no migration: the result row's ``output`` column holds it): the list of tool calls
when the model wrote no text, else ``{"content": <text>, "tool_calls": [...]}`` (the shapes
promptfoo gives such answers). An answer without tool calls keeps its plain text.
"""

from __future__ import annotations

import json
from typing import Any


def normalize(raw: Any) -> list[dict[str, Any]] | None:
    """OpenAI-shaped tool calls from a litellm message's ``tool_calls`` (objects or dicts)."""
    if not raw:
        return None
    out = []
    for i, call in enumerate(raw):
        get = call.get if isinstance(call, dict) else lambda k, d=None, c=call: getattr(c, k, d)
        function = get("function") or {}
        fget = function.get if isinstance(function, dict) else lambda k, d=None, f=function: getattr(f, k, d)
        arguments = fget("arguments", "") or ""
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments, ensure_ascii=False)
        out.append({"id": get("id") or f"call_{i}", "type": "function",
                    "function": {"name": fget("name", "") or "", "arguments": arguments}})
    return out


def output_text(text: str | None, tool_calls: list[dict[str, Any]] | None) -> str | None:
    """The output graded and stored for an answer (see the module docstring)."""
    if not tool_calls:
        return text
    if text:
        return json.dumps({"content": text, "tool_calls": tool_calls}, ensure_ascii=False)
    return json.dumps(tool_calls, ensure_ascii=False)


def parsed(tool_calls: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """``[{"id", "name", "arguments"}]`` with the arguments parsed from JSON (left as text when
    they are not JSON), for assertions."""
    out = []
    for call in tool_calls or []:
        function = call.get("function") or {}
        arguments = function.get("arguments", "")
        try:
            arguments = json.loads(arguments) if isinstance(arguments, str) and arguments.strip() else (arguments or {})
        except ValueError:
            pass
        out.append({"id": call.get("id"), "name": function.get("name", ""), "arguments": arguments})
    return out
