"""Paired comparison of a base and a head version of one prompt on the same cases, and CI gates.

Each case is scored once by the base version and once by the head version on the same model. A
result counts as a pass only when it passed and did not error (an error is a failure for the
pairing; error counts are reported apart). The verdict comes from McNemar's exact test on the
discordant pairs (``b`` = pass→fail, ``c`` = fail→pass): significant at ``alpha`` and down is
*regressed*, significant and up is *improved*, anything else is *unchanged* — on a small suite a
few flipped cases are noise, and the verdict says so.

Cases that exist only in the head suite are *new*: the base version is not scored on them, they
never count as regressions, and their pass count is reported on its own. Gates on the absolute
level (``below-min``, ``below-target``) use the head accuracy on the whole head suite.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .._util import fmt
from ..errors import PromptopsError
from ..eval import stats
from ..eval.results import CaseResult

IMPROVED, REGRESSED, UNCHANGED = "improved", "regressed", "unchanged"
NEW_PROMPT, REMOVED_PROMPT, NOT_COMPARED = "new prompt", "removed prompt", "not compared"

GATES = ("regression", "below-min", "below-target", "drop")


def parse_fail_on(value: str | list[str] | None, default: list[str]) -> list[str]:
    """Gate names from a comma list (``none`` or an empty string: no gate); usage error when unknown."""
    if value is None:
        items = list(default)
    elif isinstance(value, str):
        items = [v.strip() for v in value.split(",")]
    else:
        items = [str(v).strip() for v in value]
    items = [v for v in items if v and v != "none"]
    unknown = [v for v in items if v not in GATES]
    if unknown:
        raise PromptopsError(f"unknown gate(s): {', '.join(unknown)}",
                             hint=f"--fail-on takes a comma list of {', '.join(GATES)} (or 'none')")
    return list(dict.fromkeys(items))


def passed(result: CaseResult) -> bool:
    return result.error is None and bool(result.passed)


@dataclass
class CaseChange:
    """A case whose outcome flipped between base and head (or a failing new case)."""

    case_id: str
    vars: dict[str, Any]
    expected: Any
    base_output: str | None
    head_output: str | None
    base_error: str | None = None
    head_error: str | None = None
    reason: str = ""  # why the failing side failed


@dataclass
class ModelComparison:
    """Base vs head of one prompt on one model."""

    prompt: str
    model: str
    verdict: str
    paired: int = 0  # cases scored by both versions
    base_passed: int | None = None
    head_passed: int | None = None
    base_accuracy: float | None = None  # on the paired cases
    head_accuracy: float | None = None  # on the paired cases (the whole suite when there is no base)
    delta: float | None = None
    delta_low: float | None = None
    delta_high: float | None = None
    p_value: float | None = None
    newly_failing: list[CaseChange] = field(default_factory=list)
    newly_passing: list[CaseChange] = field(default_factory=list)
    new_cases: int = 0
    new_cases_passed: int = 0
    new_failing: list[CaseChange] = field(default_factory=list)  # new cases the head fails
    head_total: int = 0  # the whole head suite
    head_total_passed: int = 0
    base_errors: int = 0
    head_errors: int = 0
    base_latency_p50_ms: float | None = None
    head_latency_p50_ms: float | None = None
    base_cost_usd: float | None = None
    head_cost_usd: float | None = None
    gates_failed: list[str] = field(default_factory=list)

    @property
    def head_accuracy_all(self) -> float | None:
        """Head accuracy on the whole head suite (what the min/target gates read)."""
        return self.head_total_passed / self.head_total if self.head_total else None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["head_accuracy_all"] = self.head_accuracy_all
        return out


def _change(case_id: str, base: CaseResult | None, head: CaseResult) -> CaseChange:
    failing = head if not passed(head) else base
    return CaseChange(case_id=case_id, vars=head.vars, expected=head.expected,
                      base_output=base.output if base else None, head_output=head.output,
                      base_error=base.error if base else None, head_error=head.error,
                      reason=(failing.error or failing.reason or "") if failing else "")


def _p50(results: list[CaseResult]) -> float | None:
    values = [r.latency_ms for r in results if r.latency_ms is not None and r.error is None]
    value = stats.percentile(values, 50)
    return None if value is None else round(value, 1)


def _cost(results: list[CaseResult]) -> float:
    return round(sum(r.cost_usd or 0.0 for r in results), 6)


def compare(*, prompt: str, model: str, head: list[CaseResult], base: list[CaseResult] | None,
            paired_ids: set[str] | None, alpha: float) -> ModelComparison:
    """Compare one model's results. ``base`` None: a new prompt (or a base that cannot be scored).

    ``paired_ids`` are the case ids both versions are compared on (None: every head case).
    """
    head_by_id = {r.case_id: r for r in head if r.repeat_index == 0}
    out = ModelComparison(prompt=prompt, model=model, verdict=NEW_PROMPT,
                          head_total=len(head_by_id), head_total_passed=sum(passed(r) for r in head_by_id.values()),
                          head_errors=sum(r.error is not None for r in head_by_id.values()))
    if base is None:
        out.head_passed, out.head_accuracy = out.head_total_passed, out.head_accuracy_all
        out.head_latency_p50_ms, out.head_cost_usd = _p50(list(head_by_id.values())), _cost(list(head_by_id.values()))
        out.new_failing = [_change(cid, None, r) for cid, r in sorted(head_by_id.items()) if not passed(r)]
        return out
    base_by_id = {r.case_id: r for r in base if r.repeat_index == 0}
    ids = [cid for cid in sorted(head_by_id) if cid in base_by_id and (paired_ids is None or cid in paired_ids)]
    new_ids = [cid for cid in sorted(head_by_id) if cid not in set(ids)]
    base_pass = [passed(base_by_id[cid]) for cid in ids]
    head_pass = [passed(head_by_id[cid]) for cid in ids]
    pair = stats.paired(base_pass, head_pass)
    out.paired = pair.n
    out.base_passed, out.head_passed = pair.a_passed, pair.b_passed
    out.base_accuracy = out.base_passed / len(ids) if ids else None
    out.head_accuracy = out.head_passed / len(ids) if ids else None
    out.delta, out.delta_low, out.delta_high = (pair.delta, pair.low, pair.high) if ids else (None, None, None)
    out.p_value = pair.p_value if ids else None
    if ids and pair.p_value < alpha and pair.delta < 0:
        out.verdict = REGRESSED
    elif ids and pair.p_value < alpha and pair.delta > 0:
        out.verdict = IMPROVED
    else:
        out.verdict = UNCHANGED
    out.newly_failing = [_change(cid, base_by_id[cid], head_by_id[cid])
                         for cid, x, y in zip(ids, base_pass, head_pass) if x and not y]
    out.newly_passing = [_change(cid, base_by_id[cid], head_by_id[cid])
                         for cid, x, y in zip(ids, base_pass, head_pass) if not x and y]
    out.new_cases = len(new_ids)
    out.new_cases_passed = sum(passed(head_by_id[cid]) for cid in new_ids)
    out.new_failing = [_change(cid, None, head_by_id[cid]) for cid in new_ids if not passed(head_by_id[cid])]
    paired_base = [base_by_id[cid] for cid in ids]
    paired_head = [head_by_id[cid] for cid in ids]
    out.base_errors = sum(r.error is not None for r in paired_base)
    out.base_latency_p50_ms, out.head_latency_p50_ms = _p50(paired_base), _p50(paired_head)
    out.base_cost_usd, out.head_cost_usd = _cost(paired_base), _cost(paired_head)
    return out


def removed(prompt: str, model: str) -> ModelComparison:
    return ModelComparison(prompt=prompt, model=model, verdict=REMOVED_PROMPT)


def gate(comparison: ModelComparison, *, fail_on: list[str], max_drop: float, alpha: float,
         min_score: float | None, target: float | None) -> list[str]:
    """The gates this comparison fails, as one-line reasons (also stored on the comparison)."""
    c = comparison
    reasons: list[str] = []
    where = f"{c.prompt} × {c.model}"
    if c.verdict == REMOVED_PROMPT or c.head_total == 0:
        c.gates_failed = reasons
        return reasons
    level = c.head_accuracy_all
    if "regression" in fail_on and c.verdict == REGRESSED:
        reasons.append(f"{where} regressed: {fmt.pct(c.base_accuracy)} → {fmt.pct(c.head_accuracy)} "
                       f"(p = {fmt.p_value(c.p_value)} < {alpha:g}, {len(c.newly_failing)} newly failing)")
    if "below-min" in fail_on and min_score is not None and level is not None and level < min_score:
        reasons.append(f"{where} accuracy {fmt.pct(level)} is below the prompt's min {fmt.pct(min_score)}")
    if "below-target" in fail_on and target is not None and level is not None and level < target:
        reasons.append(f"{where} accuracy {fmt.pct(level)} is below the prompt's target {fmt.pct(target)}")
    if "drop" in fail_on and c.delta is not None and c.delta < -max_drop - 1e-12:
        reasons.append(f"{where} dropped {100 * -c.delta:.1f} points (more than the allowed "
                       f"{100 * max_drop:.1f})")
    c.gates_failed = reasons
    return reasons

