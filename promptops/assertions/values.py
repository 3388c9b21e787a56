"""Assertion values as templates: rendered with the case's variables and ``expected``.

A string in an assertion's ``value`` (or inside a list or mapping there) that holds ``{{`` or
``{%`` is a Jinja2 template, rendered in the same bounded sandbox as prompt bodies
(:mod:`promptops.templating`) with every case variable by name, ``vars`` (all of them) and
``expected``: promptfoo's ``value: "{{ language }}"`` compares against the variable, and
``{{ vars.language }}`` and ``{{ expected }}`` work too. A string that is only one reference
(``{{ name }}``, ``{{ vars.name }}``, ``{{ expected }}``) takes the raw value, so a list stays a
list. An undefined name or a broken template is an error, never the literal text.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

from ..errors import RenderError
from ..templating import compile_template, environment, render_bounded
from .base import GradeError

_REF = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)(?:\.([A-Za-z_][A-Za-z0-9_]*))?\s*\}\}")


def is_template(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def has_template(value: Any) -> bool:
    """Whether ``value`` (or a string inside it) is a template."""
    if isinstance(value, str):
        return is_template(value)
    if isinstance(value, (list, tuple)):
        return any(has_template(v) for v in value)
    if isinstance(value, dict):
        return any(has_template(v) for v in value.values())
    return False


@lru_cache(maxsize=4096)
def names_used(source: str) -> frozenset[str]:
    """The top-level names a template reads (``ValueError`` when it does not parse)."""
    from jinja2 import TemplateSyntaxError, meta

    try:
        return frozenset(meta.find_undeclared_variables(environment().parse(source)))
    except TemplateSyntaxError as exc:
        raise ValueError(f"bad template {source!r}: {exc.message} (line {exc.lineno})") from None


def check_templates(value: Any) -> None:
    """Parse every template inside ``value``; ``ValueError`` naming the first broken one."""
    if isinstance(value, str):
        if is_template(value):
            names_used(value)
    elif isinstance(value, (list, tuple)):
        for v in value:
            check_templates(v)
    elif isinstance(value, dict):
        for v in value.values():
            check_templates(v)


def uses_name(value: Any, name: str) -> bool:
    """Whether a template inside ``value`` reads ``name`` (e.g. ``expected``)."""
    if isinstance(value, str):
        if not is_template(value) or name not in value:
            return False
        try:
            return name in names_used(value)
        except ValueError:
            return False
    if isinstance(value, (list, tuple)):
        return any(uses_name(v, name) for v in value)
    if isinstance(value, dict):
        return any(uses_name(v, name) for v in value.values())
    return False


def render_value(value: Any, expected: Any = None, variables: dict[str, Any] | None = None) -> Any:
    """``value`` with every template rendered; :class:`GradeError` when one cannot be."""
    if isinstance(value, list):
        return [render_value(v, expected, variables) for v in value]
    if isinstance(value, dict):
        return {k: render_value(v, expected, variables) for k, v in value.items()}
    if not is_template(value):
        return value
    variables = variables or {}
    whole = _REF.fullmatch(value.strip())
    if whole and (whole.group(2) is None or whole.group(1) == "vars"):
        return _lookup(whole.group(1), whole.group(2), expected, variables)
    context = {**variables, "vars": variables}
    if expected is not None:
        context["expected"] = expected
    from jinja2 import TemplateError

    try:
        return render_bounded(compile_template(value), context)
    except RenderError as exc:
        raise GradeError(f"assertion value {value!r}: {exc.message}") from None
    except TemplateError as exc:
        raise GradeError(f"assertion value {value!r}: {_why(exc, expected)}") from None
    except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
        raise GradeError(f"assertion value {value!r}: {type(exc).__name__}: {exc}") from None


def _lookup(name: str, attr: str | None, expected: Any, variables: dict[str, Any]) -> Any:
    if attr is not None:  # {{ vars.x }}
        if attr not in variables:
            raise GradeError(f"the assertion uses {{{{ vars.{attr} }}}} but the case has no variable '{attr}'")
        return variables[attr]
    if name == "expected":
        if expected is not None:
            return expected
        if "expected" not in variables:
            raise GradeError("the assertion uses {{ expected }} but the case has no expected value")
    if name == "vars":
        return variables
    if name not in variables:
        raise GradeError(f"the assertion uses {{{{ {name} }}}} but the case has no variable '{name}'")
    return variables[name]


def _why(exc: Exception, expected: Any) -> str:
    text = getattr(exc, "message", None) or str(exc)
    if expected is None and "'expected' is undefined" in text:
        return "it uses expected but the case has no expected value"
    return text.replace("is undefined", "is not a variable of the case")


def as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
