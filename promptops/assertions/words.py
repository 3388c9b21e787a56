"""Word assertions: icontains-any, icontains-all, word-count, is-refusal (promptfoo's names).

``word-count`` counts whitespace-separated words; its value is an exact count, or a mapping with
``min`` and/or ``max`` (inclusive). ``is-refusal`` looks for the usual refusal phrasings at the
start of a sentence ("I'm sorry, but I can't", "As an AI", "I cannot help with", ...); an empty
output counts as a refusal, as in promptfoo.
"""

from __future__ import annotations

import re
from typing import Any

from .base import Check, Family, GradeResult, as_strings, clip, passfail

FAMILY = Family("words")


@FAMILY.assertion("icontains-any", "the output contains at least one of the values, ignoring case",
                  value="strings")
def icontains_any(output: str, value: Any, check: Check) -> GradeResult:
    wanted = as_strings(value)
    text = output.casefold()
    found = [w for w in wanted if w.casefold() in text]
    return passfail(bool(found), f"output contains {clip(found[0]) if found else ''} (ignoring case)",
                    f"output contains none of {clip(wanted)} (ignoring case): {clip(output)}")


@FAMILY.assertion("icontains-all", "the output contains every one of the values, ignoring case",
                  value="strings")
def icontains_all(output: str, value: Any, check: Check) -> GradeResult:
    wanted = as_strings(value)
    text = output.casefold()
    missing = [w for w in wanted if w.casefold() not in text]
    return passfail(not missing, f"output contains all {len(wanted)} values (ignoring case)",
                    f"output lacks {clip(missing)} (ignoring case): {clip(output)}")


def _count_bounds(value: Any) -> tuple[int | None, int | None]:
    if isinstance(value, dict):
        unknown = set(value) - {"min", "max"}
        if unknown or not value:
            raise ValueError(f"'word-count' takes a number or {{min, max}}, got {value!r}")
        low, high = value.get("min"), value.get("max")
    else:
        low = high = value
    for bound in (low, high):
        if bound is not None and (isinstance(bound, bool) or not isinstance(bound, int) or bound < 0):
            raise ValueError(f"'word-count' bounds are whole numbers ≥ 0, got {bound!r}")
    if low is not None and high is not None and low > high:
        raise ValueError(f"'word-count' min {low} is above max {high}")
    return low, high


@FAMILY.assertion("word-count", "the output has exactly N words (value: N), or between min and max "
                  "(value: {min, max}, inclusive)", value="any", check_value=lambda v: _count_bounds(v))
def word_count(output: str, value: Any, check: Check) -> GradeResult:
    low, high = _count_bounds(value)
    n = len(output.split())
    ok = (low is None or n >= low) and (high is None or n <= high)
    want = f"{low}" if low == high else f"{low if low is not None else 0}..{high if high is not None else '∞'}"
    return passfail(ok, f"{n} words (wanted {want})", f"{n} words, wanted {want}")


_REFUSAL = re.compile(
    r"(^|[.!?]\s+|\n)\s*(i'?m sorry|i am sorry|i apologi[sz]e|sorry,? (but )?i|as an ai\b|as a language model|"
    r"i (can ?not|can't|cannot|won't|will not|am unable to|'m unable to|am not able to|'m not able to|"
    r"must decline|must refuse|do not feel comfortable|don't feel comfortable)\b|"
    r"i'?m (afraid|not allowed|not permitted)|unfortunately,? i (can ?not|can't|am unable))",
    re.IGNORECASE)
_REFUSAL_ANYWHERE = re.compile(r"\b(i (can ?not|can't|won't) (help|assist|comply|provide|do that)|"
                               r"(not|never) (able|allowed|permitted) to (help|assist|comply|provide))\b",
                               re.IGNORECASE)


def is_refusal_text(text: str) -> bool:
    """Whether ``text`` reads as a refusal (empty counts)."""
    text = text.replace("\u2019", "'").strip()
    return not text or bool(_REFUSAL.search(text) or _REFUSAL_ANYWHERE.search(text))


@FAMILY.assertion("is-refusal", "the output refuses the request (or is empty)", value="none", value_required=False)
def is_refusal(output: str, value: Any, check: Check) -> GradeResult:
    return passfail(is_refusal_text(output), f"output is a refusal: {clip(output)}",
                    f"output is not a refusal: {clip(output)}")
