"""Statistics for eval results, in pure Python (no numpy or scipy).

- :func:`wilson`: score interval for a pass rate (good at small n and at 0 % / 100 %).
- :func:`mcnemar_exact`: paired test of base vs head on the same cases (exact binomial on the
  discordant pairs), two-sided.
- :func:`diff_interval`: interval for head − base pass rate on paired cases, Newcombe's
  square-and-add Wilson score method 10 (Newcombe 1998, Stat Med 17:2635; the form in Fagerland,
  Lydersen & Laake, "Statistical Analysis of Contingency Tables", ch. 8); it stays inside [−1, 1]
  and behaves at 0 and 100 %, where the Wald interval does not.
- :func:`paired`: both of the above for two pass lists over the same cases, as one :class:`Paired`
  (what the CI verdicts and the escalation comparison read).
- :func:`paired_bootstrap`: percentile bootstrap of the mean paired difference of scores.
- :func:`two_proportion_z`, :func:`sample_size_two_proportions`: two independent samples (a canary
  against the stable version on live traffic), pooled z-test and the size that would tell them apart.
- :func:`percentile`, :func:`pass_hat_k`, :func:`consistency`, :func:`classification_report`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

OTHER = "(other)"


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for ``k`` successes in ``n`` trials; ``n == 0`` gives (0.0, 1.0)."""
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    p = k / n
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    low, high = max(0.0, centre - half), min(1.0, centre + half)
    # at k == 0 or k == n the bound is exact in theory; keep float noise from moving it
    return (0.0 if k == 0 else low), (1.0 if k == n else high)


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for ``b`` and ``c`` discordant pairs (pass→fail, fail→pass).

    Under no change each discordant pair goes either way with probability 1/2, so the p-value is
    ``min(1, 2 · P(X ≤ min(b, c)))`` for X ~ Binomial(b + c, 1/2); ``b + c == 0`` gives 1.0.
    """
    if b < 0 or c < 0:
        raise ValueError("counts must be >= 0")
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1))
    return min(1.0, 2 * tail / 2 ** n)  # exact integers, one correctly rounded division


def diff_interval(base_passes: Sequence[bool], head_passes: Sequence[bool],
                  z: float = 1.96) -> tuple[float, float, float]:
    """(delta, low, high) for head − base pass rate over the same cases (Newcombe method 10).

    Each rate gets its Wilson interval; the two are combined with the (adjusted) correlation φ of
    the paired 2×2 table. Empty input gives (0.0, −1.0, 1.0).
    """
    if len(base_passes) != len(head_passes):
        raise ValueError(f"paired lists differ in length: {len(base_passes)} vs {len(head_passes)}")
    n = len(base_passes)
    if n == 0:
        return 0.0, -1.0, 1.0
    a = sum(1 for x, y in zip(base_passes, head_passes) if x and y)
    b = sum(1 for x, y in zip(base_passes, head_passes) if x and not y)
    c = sum(1 for x, y in zip(base_passes, head_passes) if not x and y)
    d = n - a - b - c
    p1, p2 = (a + c) / n, (a + b) / n  # head, base
    delta = p1 - p2
    l1, u1 = wilson(a + c, n, z)
    l2, u2 = wilson(a + b, n, z)
    product = (a + b) * (c + d) * (a + c) * (b + d)
    # Newcombe's φ with his adjustment: a positive cross product is shrunk by n/2 (to 0 at most)
    cross = a * d - b * c
    adjusted = cross - n / 2 if cross > n / 2 else (cross if cross < 0 else 0.0)
    phi = adjusted / math.sqrt(product) if product else 0.0
    lower = math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    upper = math.sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    return delta, max(-1.0, delta - lower), min(1.0, delta + upper)


@dataclass(frozen=True)
class Paired:
    """Two pass lists over the same cases compared: counts, McNemar's exact p, the difference."""

    n: int  # cases in both lists
    a_passed: int
    b_passed: int
    b: int  # discordant: passed in a, failed in b
    c: int  # discordant: failed in a, passed in b
    p_value: float  # two-sided exact McNemar on (b, c); 1.0 when nothing flipped
    delta: float  # b − a pass rate
    low: float  # 95 % interval of ``delta`` (Newcombe method 10)
    high: float


def paired(a_pass: Sequence[bool], b_pass: Sequence[bool], z: float = 1.96) -> Paired:
    """Compare ``b`` with ``a`` on the same cases (``a_pass[i]`` and ``b_pass[i]`` are one case).

    Empty lists give n 0, p 1.0 and the interval (−1, 1): callers that show "no data" decide so
    from ``n``.
    """
    delta, low, high = diff_interval(a_pass, b_pass, z)
    b = sum(1 for x, y in zip(a_pass, b_pass) if x and not y)
    c = sum(1 for x, y in zip(a_pass, b_pass) if not x and y)
    return Paired(n=len(a_pass), a_passed=sum(1 for x in a_pass if x), b_passed=sum(1 for y in b_pass if y),
                  b=b, c=c, p_value=mcnemar_exact(b, c), delta=delta, low=low, high=high)


def paired_bootstrap(base: Sequence[float], head: Sequence[float], iterations: int = 2000,
                     seed: int = 0) -> tuple[float, float, float]:
    """(delta, low, high): mean of head − base over paired cases, with a 95 % percentile bootstrap
    interval (cases resampled with replacement; seeded, so the result is reproducible).
    Empty input gives (0.0, −1.0, 1.0), the widest interval for scores in [0, 1]."""
    if len(base) != len(head):
        raise ValueError(f"paired lists differ in length: {len(base)} vs {len(head)}")
    n = len(base)
    if n == 0:
        return 0.0, -1.0, 1.0
    diffs = [float(h) - float(b) for b, h in zip(base, head)]
    delta = sum(diffs) / n
    rng = random.Random(seed)
    means = []
    for _ in range(max(1, iterations)):
        total = 0.0
        for _ in range(n):
            total += diffs[rng.randrange(n)]
        means.append(total / n)
    means.sort()
    return delta, percentile(means, 2.5, presorted=True), percentile(means, 97.5, presorted=True)


def percentile(values: Sequence[float], q: float, *, presorted: bool = False) -> float | None:
    """The ``q``-th percentile (0..100) with linear interpolation between closest ranks (numpy's
    default); None for no values."""
    if not values:
        return None
    if not 0 <= q <= 100:
        raise ValueError(f"q must be in [0, 100], got {q}")
    data = list(values) if presorted else sorted(values)
    pos = (len(data) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def pass_hat_k(per_case_passes: Sequence[Sequence[bool]], k: int) -> float | None:
    """pass^k (tau-bench): the chance that k repeats of a case all pass, averaged over cases.

    For a case with c passes in n ≥ k repeats it is C(c, k) / C(n, k) (drawing k of the n without
    replacement). Cases with fewer than k repeats are left out; None when none is left.
    """
    if k < 1:
        raise ValueError("k must be >= 1")
    values = []
    for runs in per_case_passes:
        n, c = len(runs), sum(1 for r in runs if r)
        if n >= k:
            values.append(math.comb(c, k) / math.comb(n, k))
    return sum(values) / len(values) if values else None


def consistency(per_case_outputs: Sequence[Sequence[Any]]) -> float | None:
    """Share of cases whose repeats all gave the same output (surrounding whitespace ignored; an
    error output ``None`` counts as a value). None when there are no cases."""
    cases = [outputs for outputs in per_case_outputs if len(outputs) > 0]
    if not cases:
        return None

    def norm(x: Any) -> Any:
        return x.strip() if isinstance(x, str) else x

    same = sum(1 for outputs in cases if all(norm(o) == norm(outputs[0]) for o in outputs))
    return same / len(cases)


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def classification_report(pairs: Sequence[tuple[Hashable, Hashable]],
                          labels: Sequence[Hashable] | None = None) -> dict[str, Any]:
    """Per-label precision, recall, F1 and support; accuracy, macro and micro F1; confusion matrix.

    ``labels`` fixes the label set and its order (expected labels outside it are appended);
    without it, every expected label, in order of first appearance. Predictions outside the label
    set land in the ``"(other)"`` column: they count against recall but are no label's false positive.
    The confusion matrix is ``{expected: {predicted or "(other)": count}}``. A label with no
    predictions has precision 0 (and no support: recall 0), as scikit-learn's ``zero_division=0``.
    """
    order: list[Hashable] = list(dict.fromkeys(labels)) if labels is not None else []
    for expected, _ in pairs:
        if expected not in order:
            order.append(expected)
    known = set(order)
    columns = [*order, OTHER]
    matrix = {e: {col: 0 for col in columns} for e in order}
    for expected, predicted in pairs:
        matrix[expected][predicted if predicted in known else OTHER] += 1
    per_label: dict[Hashable, dict[str, float | int]] = {}
    tp_all = fp_all = fn_all = 0
    for label in order:
        tp = matrix[label][label]
        predicted = sum(matrix[e][label] for e in order)
        support = sum(matrix[label].values())
        fp, fn = predicted - tp, support - tp
        tp_all, fp_all, fn_all = tp_all + tp, fp_all + fp, fn_all + fn
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        per_label[label] = {"precision": precision, "recall": recall, "f1": _f1(precision, recall),
                            "support": support}
    total = len(pairs)
    correct = sum(1 for e, p in pairs if e == p)
    micro_p = tp_all / (tp_all + fp_all) if tp_all + fp_all else 0.0
    micro_r = tp_all / (tp_all + fn_all) if tp_all + fn_all else 0.0
    return {
        "labels": order,
        "per_label": per_label,
        "accuracy": correct / total if total else 0.0,
        "macro_f1": sum(v["f1"] for v in per_label.values()) / len(per_label) if per_label else 0.0,
        "micro_f1": _f1(micro_p, micro_r),
        "micro_precision": micro_p,
        "micro_recall": micro_r,
        "support": total,
        "other": sum(row[OTHER] for row in matrix.values()),
        "confusion": matrix,
    }


def two_proportion_z(k1: int, n1: int, k2: int, n2: int) -> tuple[float, float]:
    """(z, two-sided p) of the pooled two-proportion z-test of ``k2/n2`` against ``k1/n1``.

    ``z > 0`` when the second proportion is higher. With an empty side, or no variance at all
    (every outcome the same on both sides), there is no evidence: (0.0, 1.0)."""
    if n1 <= 0 or n2 <= 0:
        return 0.0, 1.0
    if not (0 <= k1 <= n1 and 0 <= k2 <= n2):
        raise ValueError(f"need 0 <= k <= n, got {k1}/{n1} and {k2}/{n2}")
    pooled = (k1 + k2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 0.0, 1.0
    z = (k2 / n2 - k1 / n1) / se
    return z, math.erfc(abs(z) / math.sqrt(2))


def sample_size_two_proportions(p1: float, p2: float, *, alpha: float = 0.05, power: float = 0.8) -> int | None:
    """Observations per side for a two-sided test at ``alpha`` to tell ``p1`` from ``p2`` with
    ``power`` (the normal approximation); None when they are equal (no size is enough)."""
    if p1 == p2:
        return None
    normal = NormalDist()
    za, zb = normal.inv_cdf(1 - alpha / 2), normal.inv_cdf(power)
    mean = (p1 + p2) / 2
    top = za * math.sqrt(2 * mean * (1 - mean)) + zb * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return math.ceil(top * top / ((p1 - p2) ** 2))
