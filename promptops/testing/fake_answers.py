"""Answers of the fake OpenAI server beyond plain text: tool calls and the conversation.

A rule's answer (see :mod:`.fake_openai`) may be a string, or a mapping made with
:func:`tool_call` / :func:`reply`::

    rules={"*": [(r"weather in (\\w+)", tool_call("get_weather", city="\\1")),
                 (r"history:my name is (\\w+).*what is my name", "Your name is \\1.")]}

- :func:`tool_call` answers with one call of a function (``finish_reason: tool_calls``); group
  references in string arguments are expanded from the rule's match;
- :func:`reply` gives content and tool calls together;
- a pattern starting with ``history:`` is matched against the whole conversation, one
  ``role: content`` line per message (:func:`transcript`), instead of the last user message: the
  answer can depend on earlier turns.
"""

from __future__ import annotations

import json
import re
from typing import Any

HISTORY_PREFIX = "history:"


def tool_call(name: str, arguments: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
    """An answer that calls ``name`` with ``arguments`` (or the keyword arguments)."""
    return {"content": None, "tool_calls": [{"name": name, "arguments": {**(arguments or {}), **kwargs}}]}


def reply(content: str | None = None, *calls: dict[str, Any]) -> dict[str, Any]:
    """Content and tool calls (each ``{"name", "arguments"}``, or a :func:`tool_call` answer)."""
    flat = [c for call in calls for c in (call.get("tool_calls") or [call])]
    return {"content": content, "tool_calls": flat}


def transcript(messages: list) -> str:
    """``role: content`` per message, newline-separated (what ``history:`` patterns see)."""
    lines = []
    for m in messages:
        if isinstance(m, dict):
            content = m.get("content")
            if isinstance(content, list):
                content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
            lines.append(f"{m.get('role')}: {content if content is not None else ''}")
    return "\n".join(lines)


def split_pattern(pattern: str) -> tuple[str, bool]:
    """(the regex, whether it is matched against the whole conversation)."""
    if pattern.startswith(HISTORY_PREFIX):
        return pattern[len(HISTORY_PREFIX):], True
    return pattern, False


def expand(answer: Any, match: re.Match | None) -> Any:
    """Group references (``\\1``, ``\\g<name>``) expanded in a text answer or a tool call's strings."""
    if match is None:
        return answer
    if isinstance(answer, str):
        return match.expand(answer) if re.search(r"\\(\d|g<)", answer) else answer
    if isinstance(answer, dict):
        return {k: expand(v, match) for k, v in answer.items()}
    if isinstance(answer, list):
        return [expand(v, match) for v in answer]
    return answer


def message(answer: Any, seq: int) -> tuple[str | None, list[dict[str, Any]] | None]:
    """(content, OpenAI-shaped tool calls) of an answer."""
    if not isinstance(answer, dict):
        return ("" if answer is None else str(answer)), None
    calls = [{"id": f"call_fake{seq}_{i}", "type": "function",
              "function": {"name": c["name"], "arguments": json.dumps(c.get("arguments") or {})}}
             for i, c in enumerate(answer.get("tool_calls") or [])]
    return answer.get("content"), calls or None
