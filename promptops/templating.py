"""Jinja2 for prompt bodies (and, through them, everything a prompt renders): one sandboxed
environment with undefined variables as errors, compiled templates cached, and every render bounded.

The sandbox stops code from escaping, not from running forever, and the server renders prompts
a pull request wrote: nested ``range`` loops share one budget of steps, ``*`` and ``**`` may not
build huge values, and the output stops at :data:`MAX_RENDER_CHARS`."""

from __future__ import annotations

import re
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

from .errors import RenderError

MAX_RENDER_STEPS = 1_000_000
MAX_RENDER_CHARS = 1_000_000
_steps: ContextVar[list[int]] = ContextVar("promptops_render_steps")


def _too_big(what: str) -> RenderError:
    return RenderError(f"the template {what}", hint="prompts are bounded: at most "
                       f"{MAX_RENDER_STEPS:,} loop steps and {MAX_RENDER_CHARS:,} characters per message")


def _bounded_range(*args: int):
    budget = _steps.get(None)
    for i in range(*args):
        if budget is not None:
            budget[0] -= 1
            if budget[0] < 0:
                raise _too_big(f"loops more than {MAX_RENDER_STEPS:,} steps")
        yield i


def render_bounded(template, values: dict[str, Any]) -> str:
    shortcut = getattr(template, "promptops_shortcut", None)  # set by compile_template
    if shortcut is not None:
        if len(shortcut) == 1:
            text = shortcut[0]
        else:
            value = values.get(shortcut[1]) if isinstance(values, dict) else None
            text = shortcut[0] + value + shortcut[2] if type(value) is str else None
        if text is not None and len(text) <= MAX_RENDER_CHARS:
            return text
    token = _steps.set([MAX_RENDER_STEPS])
    try:
        parts, size = [], 0
        for part in template.generate(values):
            size += len(part)
            if size > MAX_RENDER_CHARS:
                raise _too_big(f"renders more than {MAX_RENDER_CHARS:,} characters")
            parts.append(part)
        return "".join(parts)
    finally:
        _steps.reset(token)


@lru_cache(maxsize=1)
def environment():
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class Bounded(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**"})

        def call_binop(self, context, operator, left, right):  # noqa: ANN001 - jinja2's signature
            if operator == "**" and isinstance(right, (int, float)) and abs(right) > 64:
                raise _too_big("raises to a power over 64")
            if operator == "*":
                for seq, n in ((left, right), (right, left)):
                    if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and len(seq) * n > MAX_RENDER_CHARS:
                        raise _too_big(f"builds a value over {MAX_RENDER_CHARS:,} items")
            return super().call_binop(context, operator, left, right)

    env = Bounded(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    env.globals["range"] = _bounded_range
    return env


@lru_cache(maxsize=4096)
def compile_template(source: str):
    template = environment().from_string(source)  # a syntax error is raised here, shortcut or not
    template.promptops_shortcut = _shortcut(source)
    return template


_ONE_NAME = re.compile(r"(\s*)\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}(\s*)")
_LITERALS = frozenset({"true", "false", "none", "True", "False", "None"})  # constants to Jinja2, not names


def _shortcut(source: str) -> tuple[str] | tuple[str, str, str] | None:
    """What :func:`render_bounded` may return without running Jinja2, for the exact same text:
    ``(text,)`` for a source with no Jinja2 syntax (rendered as it is), ``(before, name, after)``
    for one that is a single ``{{ name }}`` between whitespace (rendered as the variable when it is
    a string); None for anything else. A ``\r`` anywhere sends it to Jinja2, which rewrites newlines."""
    if "\r" in source:
        return None
    if "{{" not in source and "{%" not in source and "{#" not in source:
        return (source,)
    match = _ONE_NAME.fullmatch(source)
    if match is None or match.group(2) in _LITERALS:
        return None
    return match.group(1), match.group(2), match.group(3)
