"""Validation and grading: the one place where ``not-``, weights, thresholds and substitution apply.

Spec keys: ``type`` (required), ``value``, ``weight`` (≥ 0, default 1), ``threshold`` (a minimum
score in [0, 1] for scored types such as ``similar``, ``levenshtein``, ``llm-rubric``, ``python``;
the limit itself for ``latency`` and ``cost``), ``description``, plus the keys a type declares
(``provider``/``model`` for ``llm-rubric``).

``metric`` names a score to aggregate over the suite (see the eval report's ``named_metrics``).

In ``value`` (a string, or strings inside a list or mapping) templates are rendered with the
case's variables and ``expected`` in the prompts' sandbox (:mod:`.values`); a string that is only
one reference takes the raw value (a list stays a list).
"""

from __future__ import annotations

import difflib
import inspect
import math
from dataclasses import dataclass, field
from typing import Any

from .base import AssertionType, Check, GradeContext, GradeError, GradeResult
from .registry import assertion_types, generation, lookup, registry
from .transforms import apply_transform, compile_transform
from .values import check_templates, has_template, render_value, uses_name

COMMON_KEYS = frozenset({"type", "value", "weight", "threshold", "description", "transform", "metric"})
_EPSILON = 1e-9  # scores like 1 - 1/5 must meet a threshold of 0.8


@dataclass
class Grade:
    """A case's verdict: weighted mean ``score``, the failing reasons, and one dict per assertion."""

    passed: bool
    score: float
    reason: str
    components: list[dict[str, Any]] = field(default_factory=list)


# -- validation -------------------------------------------------------------------------------

def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def has_placeholder(value: Any) -> bool:
    """Whether ``value`` (or anything inside it) is a template (``{{ ... }}`` or ``{% ... %}``)."""
    return has_template(value)


def references_expected(spec: dict[str, Any]) -> bool:
    """Whether an assertion's value reads ``expected``."""
    return isinstance(spec, dict) and uses_name(spec.get("value"), "expected")


def _check_value_kind(atype: AssertionType, value: Any) -> None:
    name, kind = atype.name, atype.value
    ok = {
        "any": True,
        "string": isinstance(value, str) or _number(value),
        "number": _number(value) and value >= 0,
        "strings": (isinstance(value, str) and value.strip() != "") or (
            isinstance(value, list) and bool(value) and all(isinstance(v, str) or _number(v) for v in value)),
        "schema": isinstance(value, (dict, bool, str)),
        "path": isinstance(value, str),
    }.get(kind, True)
    if not ok:
        wanted = {"string": "a string", "number": "a number ≥ 0", "strings": "a string or a non-empty list of strings",
                  "schema": "a JSON schema (a mapping)", "path": "'path/to/file.py:function_name'"}[kind]
        raise ValueError(f"'{name}' value must be {wanted}, got {value!r}")


def validate_assertion(spec: Any) -> None:
    """Raise ``ValueError`` with a readable message when ``spec`` is not a usable assertion.

    The verdict is remembered per distinct spec (its exact content, types included, and the
    registry's generation), so grading 1,000 cases that share the prompt's assertions validates
    them once; a spec that cannot be keyed (an unhashable value) is validated every time."""
    key = _spec_key(spec)
    if key is not None:
        verdict = _verdicts.get(key)
        if verdict is not None and verdict[0] == generation():
            if verdict[1] is not None:
                raise ValueError(verdict[1])
            return
    try:
        _validate(spec)
    except ValueError as exc:
        if key is not None:
            _remember(key, str(exc))
        raise
    if key is not None:
        _remember(key, None)


_verdicts: dict[Any, tuple[int, str | None]] = {}
_MAX_VERDICTS = 8192
_SCALARS = (str, int, float, bool, type(None))


def _remember(key: Any, error: str | None) -> None:
    if len(_verdicts) >= _MAX_VERDICTS:
        _verdicts.clear()
    _verdicts[key] = (generation(), error)


def _spec_key(value: Any) -> Any:
    """A hashable copy of ``value`` that tells apart what validation tells apart (``True`` from
    ``1``, ``1`` from ``1.0``, a list from a tuple); None when some value inside is of another kind."""
    kind = type(value)
    if kind in _SCALARS:
        if kind is float and math.isnan(value):  # NaN is not equal to itself: never a cache hit
            return None
        return (kind, value)
    if kind is dict:
        items = []
        for k, v in value.items():
            fk, fv = _spec_key(k), _spec_key(v)
            if fk is None or fv is None:
                return None
            items.append((fk, fv))
        return (dict, tuple(items))
    if kind is list or kind is tuple:
        items = []
        for v in value:
            fv = _spec_key(v)
            if fv is None:
                return None
            items.append(fv)
        return (kind, tuple(items))
    return None


def _validate(spec: Any) -> None:
    if not isinstance(spec, dict):
        raise ValueError(f"an assertion is a mapping with 'type' (and usually 'value'), got {spec!r}")
    type_name = spec.get("type")
    if not isinstance(type_name, str) or not type_name:
        raise ValueError(f"assertion without a 'type': {spec!r}")
    atype, negate = lookup(type_name)
    if atype is None:
        close = difflib.get_close_matches(type_name, sorted(assertion_types()), n=1, cutoff=0.6)
        hint = f"; did you mean '{close[0]}'?" if close else f"; known types: {', '.join(sorted(registry()))}"
        raise ValueError(f"unknown assertion type '{type_name}'{hint}")
    unknown = sorted(set(spec) - COMMON_KEYS - atype.keys)
    if unknown:
        allowed = ", ".join(sorted(COMMON_KEYS | atype.keys))
        raise ValueError(f"'{type_name}' does not take key(s) {', '.join(unknown)} (allowed: {allowed})")
    if "transform" in spec:
        compile_transform(spec["transform"])  # a ValueError naming the expression
    if "metric" in spec and not (isinstance(spec["metric"], str) and spec["metric"].strip()):
        raise ValueError(f"'{type_name}' metric must be a name (a non-empty string), got {spec['metric']!r}")
    check_templates(spec.get("value"))  # a ValueError naming the broken template
    if "weight" in spec and not (_number(spec["weight"]) and spec["weight"] >= 0):
        raise ValueError(f"'{type_name}' weight must be a number ≥ 0, got {spec['weight']!r}")
    value, threshold = spec.get("value"), spec.get("threshold")
    if atype.threshold == "limit":
        if value is not None and threshold is not None:
            raise ValueError(f"'{type_name}' takes its limit as value or threshold, not both")
        value = value if value is not None else threshold
        if value is None:
            raise ValueError(f"'{type_name}' needs a limit: value: <number>")
    elif threshold is not None:
        if atype.threshold == "none":
            raise ValueError(f"'{type_name}' takes no threshold (it passes or fails outright)")
        if not (_number(threshold) and 0 <= threshold <= 1):
            raise ValueError(f"'{type_name}' threshold must be a number between 0 and 1, got {threshold!r}")
    if value is None:
        if atype.value_required:
            raise ValueError(f"'{type_name}' needs a value ({atype.description})")
        return
    if atype.value == "none":
        raise ValueError(f"'{type_name}' takes no value")
    if has_placeholder(value) and not isinstance(value, list):
        return  # checked after substitution, when the case is graded
    _check_value_kind(atype, value)
    if atype.check_value is not None and not has_placeholder(value):
        atype.check_value(value)


# -- substitution -----------------------------------------------------------------------------

def substitute(value: Any, expected: Any = None, variables: dict[str, Any] | None = None) -> Any:
    """``value`` with its templates rendered (see :mod:`.values`); raises GradeError when one cannot be."""
    return render_value(value, expected, variables)


# -- shorthand: expected ----------------------------------------------------------------------

EQUALS_EXPECTED: dict[str, Any] = {"type": "equals", "value": "{{ expected }}"}


def expected_assertion(prompt_asserts: list[dict[str, Any]], expected: Any) -> list[dict[str, Any]]:
    """The assertions that check a case's ``expected``: the prompt's defaults that use
    ``{{ expected }}``, or, when none does, ``equals`` on expected. Empty when expected is None."""
    if expected is None:
        return []
    using = [dict(spec) for spec in prompt_asserts if references_expected(spec)]
    return using or [dict(EQUALS_EXPECTED)]


def case_specs(prompt_asserts: list[dict[str, Any]] | None, case_asserts: list[dict[str, Any]] | None,
               expected: Any) -> list[dict[str, Any]]:
    """The assertions a case is graded with (the rule the README documents):

    1. a case with assertions of its own runs exactly those (a suite's ``defaults: assert`` are
       part of them, as in promptfoo's ``defaultTest``);
    2. otherwise the prompt's default ``assert`` (those that read ``expected`` only when the case
       has one);
    3. ``equals`` on ``expected`` only when neither exists and the case has an expected value.
    """
    if case_asserts:
        return [dict(spec) for spec in case_asserts]
    specs = [dict(spec) for spec in (prompt_asserts or []) if not references_expected(spec) or expected is not None]
    if not specs and expected is not None:
        specs.append(dict(EQUALS_EXPECTED))
    return specs


# -- grading ----------------------------------------------------------------------------------

def _grade_one(spec: Any, output: str, expected: Any, variables: dict[str, Any],
               latency_ms: float | None, cost_usd: float | None, ctx: GradeContext) -> Any:
    """One assertion's component, or an awaitable of it when its handler is asynchronous (so a
    case whose assertions are all synchronous is graded without a task or a loop iteration)."""
    type_name = spec.get("type") if isinstance(spec, dict) else None
    weight = spec.get("weight", 1) if isinstance(spec, dict) else 1
    threshold: float | None = None
    try:
        validate_assertion(spec)
        atype, negate = lookup(type_name)
        value = substitute(spec.get("value"), expected, variables)
        if atype.threshold == "limit":
            value = value if value is not None else spec.get("threshold")
        elif atype.threshold == "score":
            threshold = spec.get("threshold", atype.default_threshold)
        if value is not None:
            try:
                _check_value_kind(atype, value)
                if atype.check_value is not None:
                    atype.check_value(value)
            except ValueError as exc:
                raise GradeError(str(exc)) from None
        if spec.get("transform"):
            output = apply_transform(spec["transform"], output, variables)
        check = Check(spec=spec, threshold=threshold, vars=variables, expected=expected,
                      latency_ms=latency_ms, cost_usd=cost_usd, ctx=ctx)
        result = atype.handler(output, value, check)
        if inspect.isawaitable(result):
            return _finish(result, spec, type_name, weight, threshold, negate)
        outcome = (*_verdict(result, threshold, negate), False)
    except Exception as exc:
        outcome = _failed(exc)
    return _component(spec, type_name, weight, threshold, *outcome)


async def _finish(pending: Any, spec: Any, type_name: Any, weight: Any, threshold: float | None,
                  negate: bool) -> dict[str, Any]:
    try:
        outcome = (*_verdict(await pending, threshold, negate), False)
    except Exception as exc:
        outcome = _failed(exc)
    return _component(spec, type_name, weight, threshold, *outcome)


def _verdict(result: Any, threshold: float | None, negate: bool) -> tuple[bool, float, str]:
    if not isinstance(result, GradeResult):
        raise GradeError(f"handler returned {type(result).__name__}, not a GradeResult")
    passed, score, reason = result.passed, max(0.0, min(1.0, float(result.score))), result.reason
    if threshold is not None:
        passed = score + _EPSILON >= threshold
        reason = f"{reason} ({'≥' if passed else '<'} threshold {threshold:g})"
    if negate:
        passed, score = not passed, 1.0 - score
    return passed, score, reason


def _failed(exc: Exception) -> tuple[bool, float, str, bool]:
    if isinstance(exc, (GradeError, ValueError)):
        return False, 0.0, f"error: {exc}", True
    # a bug in a handler fails this assertion, never the whole eval
    return False, 0.0, f"error: {type(exc).__name__}: {exc}", True


def _component(spec: Any, type_name: Any, weight: Any, threshold: float | None, passed: bool, score: float,
               reason: str, error: bool) -> dict[str, Any]:
    component = {"type": type_name, "passed": passed, "score": round(score, 6), "weight": weight,
                 "reason": f"{type_name}: {reason}", "error": error}
    if threshold is not None:
        component["threshold"] = threshold
    if isinstance(spec, dict) and spec.get("description"):
        component["description"] = spec["description"]
    if isinstance(spec, dict) and spec.get("metric"):
        component["metric"] = spec["metric"]
    return component


async def grade(specs: list[dict[str, Any]], output: str | None, *, expected: Any = None,
                vars: dict[str, Any] | None = None, latency_ms: float | None = None,
                cost_usd: float | None = None, ctx: GradeContext | None = None,
                case_threshold: float | None = None) -> Grade:
    """Grade one output against a case's assertions (see :func:`case_specs` for which apply).

    The score is the weighted mean of the assertion scores (a plain mean when every weight is 0).
    Without ``case_threshold`` the case passes when every assertion of non-zero weight passes;
    with it, when the score is at least the threshold. No output (a provider error) fails.
    """
    if output is None:
        return Grade(False, 0.0, "no output", [])
    if not specs:
        return Grade(True, 1.0, "no assertions", [])
    ctx = ctx or GradeContext()
    variables = dict(vars or {})
    components = [_grade_one(spec, output, expected, variables, latency_ms, cost_usd, ctx) for spec in specs]
    waiting = [i for i, c in enumerate(components) if not isinstance(c, dict)]
    if waiting:  # asynchronous handlers (llm-rubric, similar...) run concurrently
        import asyncio  # here, not at import: `promptops list` validates assertions but never grades

        for i, c in zip(waiting, await asyncio.gather(*(components[i] for i in waiting))):
            components[i] = c
    weights = [c["weight"] if _number(c["weight"]) and c["weight"] >= 0 else 1 for c in components]
    total = sum(weights)
    if total > 0:
        score = sum(w * c["score"] for w, c in zip(weights, components)) / total
    else:
        score = sum(c["score"] for c in components) / len(components)
    failing = [c for w, c in zip(weights, components) if w > 0 and not c["passed"]]
    if case_threshold is not None:
        passed = score + _EPSILON >= case_threshold
        head = f"score {score:.3f} {'≥' if passed else '<'} case threshold {case_threshold:g}"
        reason = head if passed or not failing else f"{head}: " + "; ".join(c["reason"] for c in failing)
    else:
        passed = not failing
        if not passed:
            reason = "; ".join(c["reason"] for c in failing)
        else:
            reason = components[0]["reason"] if len(components) == 1 else f"all {len(components)} assertions passed"
    return Grade(passed, round(score, 6), reason, components)
