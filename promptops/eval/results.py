"""Eval results and the numbers computed from them.

One :class:`CaseResult` per (prompt version, model, case, repeat). :func:`summarize` turns a
list of them into a :class:`ModelSummary`: accuracy with a 95 % Wilson interval, errors counted
apart from failures, latency percentiles, tokens, cost, pass^k and consistency over repeats, and
per-label precision/recall for classification prompts.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from functools import cache
from typing import Any

from ..prompts import Prompt
from ..suites import Case
from . import stats
from .completeness import partials


@dataclass
class CaseResult:
    prompt: str
    version: str
    model: str
    case_id: str
    repeat_index: int
    vars: dict[str, Any]
    expected: Any = None
    output: str | None = None
    passed: bool | None = None
    score: float | None = None
    reason: str = ""
    error: str | None = None
    cached: bool = False
    latency_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    tags: list[str] = field(default_factory=list)
    assertions: list[dict[str, Any]] | None = None  # what :func:`ran` keeps of each assertion graded

    def to_dict(self) -> dict[str, Any]:
        # shallow on purpose: dataclasses.asdict deep-copies every value, which was the largest
        # cost of a fully cached eval (about 1 s per 3,000 results)
        return {name: getattr(self, name) for name in _field_names(type(self))}

    @property
    def status(self) -> str:
        if self.error is not None:
            return "error"
        return "pass" if self.passed else "fail"


@cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


@dataclass
class ModelSummary:
    prompt: str
    version: str
    model: str
    total: int
    passed: int
    failed: int
    errors: int
    accuracy: float
    ci_low: float
    ci_high: float
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    cost_usd: float
    duration_s: float
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: int = 0
    repeat: int = 1
    pass_hat_k: float | None = None
    consistency: float | None = None
    classification: dict[str, Any] | None = None
    named_metrics: dict[str, dict[str, Any]] | None = None  # `metric:` on assertions, see named_metrics()
    run_id: int | None = None
    ref: str | None = None
    results: list[CaseResult] = field(default_factory=list)

    def metrics(self) -> dict[str, Any]:
        """The summary without per-case results (what the store keeps with the run)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "results"}

    def to_dict(self) -> dict[str, Any]:
        out = self.metrics()
        ordered = sorted(self.results, key=lambda r: ({"error": 0, "fail": 1, "pass": 2}[r.status], r.case_id))
        out["results"] = [
            {"case_id": r.case_id, "repeat_index": r.repeat_index, "vars": r.vars, "expected": r.expected,
             "output": r.output, "pass": r.passed, "score": r.score, "reason": r.reason, "cached": r.cached,
             "error": r.error, "latency_ms": r.latency_ms, "assertions": r.assertions}
            for r in ordered
        ]
        return out


def summarize(results: list[CaseResult], *, prompt: str, version: str, model: str, duration_s: float,
              labels: list[str] | None = None, repeat: int = 1) -> ModelSummary:
    """Accuracy counts every result; errors count against accuracy and are reported apart."""
    total = len(results)
    errors = sum(1 for r in results if r.error is not None)
    passed = sum(1 for r in results if r.error is None and r.passed)
    failed = total - errors - passed
    low, high = stats.wilson(passed, total)
    latencies = [r.latency_ms for r in results if r.latency_ms is not None and not r.cached and r.error is None]
    if not latencies:
        latencies = [r.latency_ms for r in results if r.latency_ms is not None and r.error is None]
    summary = ModelSummary(
        prompt=prompt, version=version, model=model, total=total, passed=passed, failed=failed, errors=errors,
        accuracy=passed / total if total else 0.0, ci_low=low, ci_high=high,
        latency_p50_ms=_round(stats.percentile(latencies, 50)), latency_p95_ms=_round(stats.percentile(latencies, 95)),
        cost_usd=round(sum(r.cost_usd or 0.0 for r in results), 6), duration_s=round(duration_s, 3),
        prompt_tokens=sum(r.prompt_tokens or 0 for r in results),
        completion_tokens=sum(r.completion_tokens or 0 for r in results),
        cached=sum(1 for r in results if r.cached), repeat=repeat, results=results,
    )
    summary.named_metrics = named_metrics(results)
    if repeat > 1:
        by_case: dict[str, list[CaseResult]] = {}
        for r in results:
            by_case.setdefault(r.case_id, []).append(r)
        runs = [[bool(r.passed) and r.error is None for r in rs] for rs in by_case.values()]
        summary.pass_hat_k = stats.pass_hat_k(runs, repeat)
        summary.consistency = stats.consistency([[r.output for r in rs] for rs in by_case.values()])
    if labels:
        pairs = [(str(r.expected), _label_of(r, labels)) for r in results if r.expected is not None]
        if pairs:
            summary.classification = stats.classification_report(pairs, labels=labels)
    return summary


def ran(components: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Which assertions a case ran, as the results keep them: type, pass, score, weight, and
    metric, threshold and error when there are."""
    keep = ("type", "passed", "score", "weight", "metric", "threshold", "error")
    return [{k: c[k] for k in keep if k in c and (k != "error" or c[k])} for c in components]


def named_metrics(results: list[CaseResult]) -> dict[str, dict[str, Any]] | None:
    """Per ``metric:`` name over the results: assertions graded, passed, pass rate and mean score
    (promptfoo's named scores). None when no assertion names a metric."""
    acc: dict[str, list[tuple[bool, float]]] = {}
    for r in results:
        for a in r.assertions or ():
            if a.get("metric"):
                acc.setdefault(str(a["metric"]), []).append((bool(a.get("passed")), float(a.get("score") or 0.0)))
    if not acc:
        return None
    return {name: {"total": len(v), "passed": sum(p for p, _ in v), "pass_rate": round(sum(p for p, _ in v) / len(v), 6),
                   "score": round(sum(s for _, s in v) / len(v), 6)} for name, v in sorted(acc.items())}


def _label_of(result: CaseResult, labels: list[str]) -> str:
    """The label a result is counted as, by the same pass rule as accuracy: a passing result is its
    expected label; a failing one is the label its output names exactly (case-insensitive, a trailing
    period ignored) unless that is the expected one, else ``(other)``; an errored call ``(error)``.
    So per-label recall and the confusion matrix add up to the eval's accuracy."""
    if result.error is not None or result.output is None:
        return "(error)"
    expected = str(result.expected)
    if result.passed:
        return expected
    text = result.output.strip().strip(".").strip().lower()
    named = next((label for label in labels if text == str(label).lower()), None)
    return named if named is not None and named != expected else "(other)"


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


@dataclass
class EvalTarget:
    """One prompt version and the cases to score it on."""

    prompt: Prompt
    cases: list[Case]
    ref: str | None = None
    commit: str | None = None
    content: str | None = None
    suite_size: int | None = None  # the whole suite's size when a selection left cases out (a partial run)


@dataclass
class PromptEval:
    prompt: str
    version: str
    run_id: int | None
    ref: str | None
    summaries: list[ModelSummary] = field(default_factory=list)
    suite_size: int | None = None  # set when the run was partial: the suite's size (cases run: the summaries' totals)
    planned: int | None = None  # results each model was to give (cases × repeats): fewer came back means partial


@dataclass
class EvalReport:
    evals: list[PromptEval]
    duration_s: float
    calls: int = 0
    cached: int = 0
    interrupted: bool = False
    calls_s: float | None = None  # from the first call sent to the last answer (start-up excluded)
    selection: dict[str, Any] | None = None  # what --filter/--tag/... asked for (None: every case)

    @property
    def summaries(self) -> list[ModelSummary]:
        return [s for e in self.evals for s in e.summaries]

    def to_dict(self) -> dict[str, Any]:
        return {"duration_s": round(self.duration_s, 3), "calls": self.calls, "cached": self.cached,
                "calls_s": None if self.calls_s is None else round(self.calls_s, 3),
                "interrupted": self.interrupted, "selection": self.selection,
                "partial": sorted(e.prompt for e in self.evals if e.suite_size is not None),
                "partial_scores": [p.to_dict() for p in partials(self)],  # every incomplete score, with counts
                "results": [s.to_dict() for s in self.summaries]}


class Progress:
    """What the runner reports while it works; the CLI draws a bar from it."""

    def start(self, total: int, done: int) -> None: ...
    def advance(self, result: CaseResult) -> None: ...
    def finish(self) -> None: ...
