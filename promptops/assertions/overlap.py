"""Reference-overlap scores: rouge-n, bleu, gleu (scored, each with a default threshold).

Words are lower-cased and split on anything that is not a letter, digit or apostrophe. The value
is a reference text, or a list of them (the best score counts).

- ``rouge-n``: n-gram recall: the share of the reference's n-grams found in the output
  (``n`` key, default 1); default threshold 0.75.
- ``bleu``: sentence BLEU-4: the geometric mean of clipped 1..4-gram precisions times the brevity
  penalty, with add-one smoothing of the 2..4-gram precisions so that a short answer is not 0
  outright; default threshold 0.5.
- ``gleu``: Google-BLEU: min(precision, recall) over the 1..4-grams of both texts together; default
  threshold 0.5.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any

from .base import Check, Family, GradeResult, as_strings

FAMILY = Family("overlap")
_WORD = re.compile(r"[\w']+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def ngrams(tokens: list[str], n: int) -> Counter:
    return Counter(tuple(tokens[i: i + n]) for i in range(len(tokens) - n + 1))


def rouge_n(candidate: str, reference: str, n: int = 1) -> float:
    ref = ngrams(words(reference), n)
    if not ref:
        return 0.0
    cand = ngrams(words(candidate), n)
    return sum((ref & cand).values()) / sum(ref.values())


def bleu(candidate: str, reference: str, max_n: int = 4) -> float:
    cand, ref = words(candidate), words(reference)
    if not cand or not ref:
        return 0.0
    logs = []
    for n in range(1, max_n + 1):
        c, r = ngrams(cand, n), ngrams(ref, n)
        matched, total = sum((c & r).values()), max(1, sum(c.values()))
        if n > 1:
            matched, total = matched + 1, total + 1
        if matched == 0:
            return 0.0
        logs.append(math.log(matched / total))
    penalty = 1.0 if len(cand) > len(ref) else math.exp(1 - len(ref) / len(cand))
    return penalty * math.exp(sum(logs) / max_n)


def gleu(candidate: str, reference: str, max_n: int = 4) -> float:
    cand, ref = words(candidate), words(reference)
    c_all = sum((ngrams(cand, n) for n in range(1, max_n + 1)), Counter())
    r_all = sum((ngrams(ref, n) for n in range(1, max_n + 1)), Counter())
    if not c_all or not r_all:
        return 0.0
    matched = sum((c_all & r_all).values())
    return min(matched / sum(c_all.values()), matched / sum(r_all.values()))


def _best(output: str, value: Any, score) -> tuple[float, str]:
    refs = as_strings(value) if isinstance(value, list) else [str(value)]
    return max((score(output, ref), ref) for ref in refs)


def _check_n(check: Check) -> int:
    n = check.spec.get("n", 1)
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 8:
        raise ValueError(f"'rouge-n' n must be a whole number 1..8, got {n!r}")
    return n


@FAMILY.assertion("rouge-n", "ROUGE-N recall of the reference's n-grams (key n, default 1); passes at or above "
                  "threshold (default 0.75)", value="strings", threshold="score", default_threshold=0.75,
                  keys=frozenset({"n"}))
def rouge(output: str, value: Any, check: Check) -> GradeResult:
    n = _check_n(check)
    score, _ = _best(output, value, lambda c, r: rouge_n(c, r, n))
    return GradeResult(score >= 1.0, score, f"ROUGE-{n} {score:.3f}")


@FAMILY.assertion("bleu", "sentence BLEU-4 against the reference(s); passes at or above threshold (default 0.5)",
                  value="strings", threshold="score", default_threshold=0.5)
def bleu_score(output: str, value: Any, check: Check) -> GradeResult:
    score, _ = _best(output, value, bleu)
    return GradeResult(score >= 1.0, score, f"BLEU {score:.3f}")


@FAMILY.assertion("gleu", "Google-BLEU against the reference(s); passes at or above threshold (default 0.5)",
                  value="strings", threshold="score", default_threshold=0.5)
def gleu_score(output: str, value: Any, check: Check) -> GradeResult:
    score, _ = _best(output, value, gleu)
    return GradeResult(score >= 1.0, score, f"GLEU {score:.3f}")
