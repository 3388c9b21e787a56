"""Output transforms: a sandboxed Jinja2 expression over ``output`` and ``vars``.

``transform:`` on a case (``options: {transform: ...}``) changes the output every assertion of the
case sees; on one assertion, the output that assertion sees (after the case's). A list of
expressions is applied in order. The ``json-schema`` check that a prompt's ``response_format``
adds by default reads the model's own output: a case transform does not apply to it. The expression is
compiled in the bounded sandbox of :mod:`promptops.templating`, with the filters ``fromjson``
(parse JSON; a ```json fence or prose around one object is fine) and ``tojson``, e.g.
``(output | fromjson).issue_type`` or ``output | trim | lower``. A result that is not a string
is graded as its JSON text (so ``is-json`` and ``equals`` with a mapping work on it). An expression
that fails is an error result of the assertion, with the expression's message.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from ..errors import RenderError
from ..templating import MAX_RENDER_CHARS, MAX_RENDER_STEPS, _steps, environment
from .base import GradeError
from .structured import _MISSING, find_json


def fromjson(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        found = find_json(text)
        if found is _MISSING:
            raise GradeError(f"fromjson: not JSON: {text[:60]!r}") from None
        return found


def _tojson(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


@lru_cache(maxsize=1)
def _env():
    env = environment().overlay()
    env.filters["fromjson"] = fromjson
    env.filters["tojson"] = _tojson
    return env


def chain(*transforms: Any) -> list[str]:
    """One list of expressions from several transforms (each an expression, a list, or None)."""
    out: list[str] = []
    for t in transforms:
        if isinstance(t, list):
            out.extend(t)
        elif t is not None:
            out.append(t)
    return out


def with_case_transform(specs: list[dict[str, Any]], transform: Any, raw_schema: Any = None) -> list[dict[str, Any]]:
    """The specs with the case's transform applied before each one's own; the ``json-schema`` whose
    value is ``raw_schema`` (the prompt's response_format default) keeps the model's output."""
    if not transform:
        return specs
    return [spec if raw_schema is not None and spec.get("type") == "json-schema" and spec.get("value") is raw_schema
            else {**spec, "transform": chain(transform, spec.get("transform"))} for spec in specs]


def compile_transform(expression: Any):
    """The compiled expression (a list: each compiled); raises ValueError naming one that does not parse."""
    if isinstance(expression, list) and expression:
        return [_compile(e) for e in expression]
    return _compile(expression)


@lru_cache(maxsize=1024)
def _compile(expression: str):
    if not isinstance(expression, str) or not expression.strip():
        raise ValueError("a transform is a Jinja2 expression, e.g. (output | fromjson).field")
    from jinja2 import TemplateSyntaxError

    try:
        return _env().compile_expression(expression, undefined_to_none=False)
    except TemplateSyntaxError as exc:
        raise ValueError(f"transform {expression!r} does not parse: {exc.message}") from None


def apply_transform(expression: Any, output: str, variables: dict[str, Any] | None = None) -> str:
    """The transformed output as text (see the module docstring); raises GradeError."""
    if isinstance(expression, list):
        for step in expression:
            output = apply_transform(step, output, variables)
        return output
    token = _steps.set([MAX_RENDER_STEPS])  # the same loop budget as a prompt's render
    try:
        result = _compile(expression)(output=output, vars=dict(variables or {}))
    except GradeError:
        raise
    except ValueError as exc:
        raise GradeError(str(exc)) from None
    except RenderError as exc:
        raise GradeError(f"transform: {exc.message}") from None
    except Exception as exc:  # jinja2 raises many kinds: undefined, type errors, sandbox refusals
        raise GradeError(f"transform {expression!r} failed: {type(exc).__name__}: {exc}") from None
    finally:
        _steps.reset(token)
    if isinstance(result, str):
        if len(result) > MAX_RENDER_CHARS:
            raise GradeError(f"transform {expression!r} gave more than {MAX_RENDER_CHARS:,} characters")
        return result
    if hasattr(result, "_undefined_name") or result is None:
        raise GradeError(f"transform {expression!r} gave nothing (a missing field?)")
    return json.dumps(result, ensure_ascii=False)
