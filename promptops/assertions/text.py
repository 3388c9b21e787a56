"""Text assertions: equals, iequals, contains, icontains, contains-any, contains-all, starts-with,
regex, levenshtein."""

from __future__ import annotations

import json
import re
from typing import Any

from .base import Check, Family, GradeResult, as_strings, clip, passfail

FAMILY = Family("text")


def _check_regex(value: Any) -> None:
    try:
        re.compile(str(value))
    except re.error as exc:
        raise ValueError(f"bad regex {clip(value)}: {exc}") from None


@FAMILY.assertion("equals", "the output, stripped of surrounding whitespace, equals the value; a list or "
                  "mapping value is compared with the output parsed as JSON", value="any")
def equals(output: str, value: Any, check: Check) -> GradeResult:
    if isinstance(value, (dict, list)):
        try:
            parsed = json.loads(output)
        except ValueError:
            return GradeResult(False, 0.0, f"output is not JSON, expected {clip(value)}")
        return passfail(parsed == value, "output JSON equals the value",
                        f"expected JSON {clip(value)}, got {clip(output)}")
    want = value if isinstance(value, str) else json.dumps(value)
    return passfail(output.strip() == want.strip(), f"output equals {clip(want.strip())}",
                    f"expected {clip(want.strip())}, got {clip(output.strip())}")


@FAMILY.assertion("iequals", "like equals, ignoring case (useful for labels)", value="string")
def iequals(output: str, value: Any, check: Check) -> GradeResult:
    want = str(value).strip()
    return passfail(output.strip().casefold() == want.casefold(), f"output equals {clip(want)} ignoring case",
                    f"expected {clip(want)} (any case), got {clip(output.strip())}")


@FAMILY.assertion("contains", "the output contains the value", value="string")
def contains(output: str, value: Any, check: Check) -> GradeResult:
    return passfail(str(value) in output, f"output contains {clip(value)}",
                    f"output does not contain {clip(value)}: {clip(output)}")


@FAMILY.assertion("icontains", "the output contains the value, ignoring case", value="string")
def icontains(output: str, value: Any, check: Check) -> GradeResult:
    return passfail(str(value).casefold() in output.casefold(), f"output contains {clip(value)} ignoring case",
                    f"output does not contain {clip(value)} (any case): {clip(output)}")


@FAMILY.assertion("contains-any", "the output contains at least one of the values (a list, or a "
                  "comma-separated string)", value="strings")
def contains_any(output: str, value: Any, check: Check) -> GradeResult:
    wanted = as_strings(value)
    hits = [w for w in wanted if w in output]
    return passfail(bool(hits), f"output contains {clip(hits[0]) if hits else ''}",
                    f"output contains none of {clip(wanted)}")


@FAMILY.assertion("contains-all", "the output contains every one of the values (a list, or a "
                  "comma-separated string)", value="strings")
def contains_all(output: str, value: Any, check: Check) -> GradeResult:
    wanted = as_strings(value)
    missing = [w for w in wanted if w not in output]
    found = len(wanted) - len(missing)
    score = found / len(wanted) if wanted else 1.0
    return GradeResult(not missing, score, "output contains all of them" if not missing
                       else f"output lacks {clip(missing)}")


@FAMILY.assertion("starts-with", "the output, without leading whitespace, starts with the value", value="string")
def starts_with(output: str, value: Any, check: Check) -> GradeResult:
    return passfail(output.lstrip().startswith(str(value)), f"output starts with {clip(value)}",
                    f"output does not start with {clip(value)}: {clip(output)}")


@FAMILY.assertion("regex", "the regular expression (Python syntax) matches somewhere in the output",
                  value="string", check_value=_check_regex)
def regex(output: str, value: Any, check: Check) -> GradeResult:
    _check_regex(value)
    match = re.search(str(value), output)
    return passfail(match is not None, f"regex {clip(value)} matches {clip(match.group(0)) if match else ''}",
                    f"regex {clip(value)} does not match {clip(output)}")


def levenshtein_distance(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions), O(len(a)·len(b)) time, O(len(b)) memory."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


@FAMILY.assertion("levenshtein", "similarity 1 - edit distance / longer length between the stripped output "
                  "and the value; passes at or above threshold (default 0.8)", value="string",
                  threshold="score", default_threshold=0.8)
def levenshtein(output: str, value: Any, check: Check) -> GradeResult:
    a, b = output.strip(), str(value).strip()
    distance = levenshtein_distance(a, b)
    score = 1.0 - distance / max(len(a), len(b)) if (a or b) else 1.0
    return GradeResult(distance == 0, score, f"edit distance {distance} to {clip(b)} (similarity {score:.2f})")
