"""Assertion registry: scorers for model outputs.

Families (one module each): ``text`` (equals, iequals, contains, icontains, contains-any,
contains-all, starts-with, regex, levenshtein), ``structured`` (is-json, contains-json,
json-schema), ``semantic`` (similar, llm-rubric), ``code`` (python) and ``metrics`` (latency,
cost). Every type also has a ``not-`` form. See :mod:`.grading` for the spec keys, and
:func:`case_specs` for how a case's ``expected`` becomes an assertion.
"""

from __future__ import annotations

from .base import AssertionType, Check, Family, GradeContext, GradeError, GradeResult
from .grading import (EQUALS_EXPECTED, Grade, case_specs, expected_assertion, grade, references_expected,
                      substitute, validate_assertion)
from .registry import assertion_types, lookup, register, registry, unregister

__all__ = [
    "AssertionType", "Check", "Family", "Grade", "GradeContext", "GradeError", "GradeResult", "EQUALS_EXPECTED",
    "assertion_types", "case_specs", "expected_assertion", "grade", "lookup", "references_expected", "register",
    "registry", "substitute", "unregister", "validate_assertion",
]
