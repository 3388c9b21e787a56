"""Plateau check: the escalation decision for each prompt × model, from the eval history.

Reads the eval history of a prompt on the main branch (``escalate.branch``; every run when no run
carries a branch), keeps one score per version and model (its best finished accuracy), orders the
versions by when each was first evaluated, and hands them to the rule in :mod:`.decision` (gap to
the target, recent gains paired on the same cases, optimization tried, budget of attempts).

Every model with history is checked, not only the prompt's declared ones: the declared models
first (even without history: "too little history" then says so), then the others by name.

**The optimization marker.** Optimization counts as tried on the current prompt when the store
holds a finished eval run of the prompt with ``source = "optimize"`` (what ``promptops optimize``
records for each search, whether or not it wrote a better version) whose ``hash`` is the newest
hand-written version's, or that started after that version was first scored. Such runs score
validation data, not the suite, so they never count as a version's score. A version first scored
after the marker (a hand edit since) makes the marker stale: optimize again; the version the search
itself wrote (``written_version``), scored on the suite afterwards, keeps it current.
:func:`record_optimization` writes one (``models`` empty, the figures under ``summary["optimize"]``).
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from ..config import Config
from ..errors import NotFoundError
from ..eval import stats
from ..project import Project, using
from .decision import (ACTION, DECLINED, DUE, IMPROVING, NO_TARGET, NOTHING, PLATEAUED, TARGET_MET, TOO_LITTLE,
                       Decision, Optimization, VersionScore, decide, evidence)

OPTIMIZE_SOURCE = "optimize"

__all__ = ["ACTION", "DECLINED", "DUE", "IMPROVING", "NOTHING", "NO_TARGET", "OPTIMIZE_SOURCE", "PLATEAUED",
           "PlateauReport", "TARGET_MET", "TOO_LITTLE", "VersionScore", "check", "check_prompt", "decide",
           "record_optimization", "version_scores"]


@dataclass
class PlateauReport:
    """The verdict for one prompt on one model, with the evidence behind it."""

    prompt: str
    model: str
    status: str
    target: float | None
    window: int
    delta: float
    scores: list[VersionScore] = field(default_factory=list)
    best: VersionScore | None = None
    recent_gain: float | None = None  # best of the last `window` versions − best before them
    alpha: float = 0.05
    budget: int = 8
    optimization: Optimization | None = None
    decision: Decision | None = None
    forced: bool = False  # escalated with --force, whatever the status

    @property
    def plateaued(self) -> bool:
        return self.status == PLATEAUED

    @property
    def action(self) -> str:
        """``due`` (plateaued), ``nothing`` (target met, improving, no target) or ``declined``."""
        return ACTION[self.status]

    @property
    def gap(self) -> float | None:
        """How far the best version is below the target (0 when met)."""
        if self.target is None or self.best is None:
            return None
        return max(0.0, self.target - self.best.accuracy)

    def reason(self) -> str:
        return self.decision.reason if self.decision else self.status

    def next_step(self) -> str:
        return self.decision.next if self.decision else ""

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k not in ("decision", "recent_gain")}
        out.update(evidence(self.decision) if self.decision else {"reason": self.status})
        out["status"], out["gap"] = self.status, self.gap
        out["optimization"] = None if self.optimization is None else asdict(self.optimization)
        return out


def version_scores(runs: list[Any], model: str, branch: str | None) -> list[VersionScore]:
    """One score per version (best finished accuracy) on ``model``, ordered by first eval time.

    ``runs`` are store ``EvalRun`` rows of one prompt. When any run carries a branch, only runs on
    ``branch`` count; otherwise (histories from before branches were recorded) all runs do.
    Optimization runs (source ``optimize``) score validation data and never count."""
    finished = [r for r in runs if r.status == "finished" and isinstance(r.summary, dict)
                and getattr(r, "source", None) != OPTIMIZE_SOURCE]
    if branch is not None and any(r.branch for r in finished):
        finished = [r for r in finished if r.branch == branch]
    by_hash: dict[str, VersionScore] = {}
    for run in sorted(finished, key=lambda r: (r.started_at, r.id or 0)):
        summary = run.summary.get(model)
        if not isinstance(summary, dict) or not isinstance(summary.get("accuracy"), (int, float)):
            continue
        acc = float(summary["accuracy"])
        seen = by_hash.get(run.hash)
        if seen is None:
            by_hash[run.hash] = _score(run, summary, acc, run.started_at)
        elif acc > seen.accuracy:
            by_hash[run.hash] = _score(run, summary, acc, seen.first_eval)
    return sorted(by_hash.values(), key=lambda s: s.first_eval)


def _score(run: Any, summary: dict, acc: float, first: datetime) -> VersionScore:
    return VersionScore(version=run.version, hash=run.hash, accuracy=acc, first_eval=first, commit=run.commit,
                        run_id=run.id, ci_low=summary.get("ci_low"), ci_high=summary.get("ci_high"),
                        latency_p50_ms=summary.get("latency_p50_ms"), total=summary.get("total"))


def record_optimization(store: Any, prompt: Any, *, best_accuracy: float | None = None,
                        baseline_accuracy: float | None = None, candidates: int | None = None,
                        written_version: str | None = None, models: list[str] | None = None,
                        train: str | None = None, commit: str | None = None, branch: str | None = None,
                        started_at: datetime | None = None, details: dict[str, Any] | None = None) -> Any:
    """Record the optimization marker for ``prompt`` (the version the search started from; a
    :class:`~promptops.prompts.Prompt`): a finished eval run with source ``optimize``, ``models``
    empty and the figures under ``summary["optimize"]`` — never keyed by a model name, so the
    promotion gate and version scores never read validation accuracy as a suite score."""
    figures = {"best_validation_accuracy": best_accuracy, "baseline_validation_accuracy": baseline_accuracy,
               "candidates": candidates, "written_version": written_version, "models": list(models or []),
               "train": train, **(details or {})}
    extra = {"started_at": started_at} if started_at is not None else {}
    return store.create_run(prompt=prompt.name, version=prompt.version, hash=prompt.hash, commit=commit,
                            branch=branch, models=[], fingerprint=f"optimize:{prompt.hash}:{uuid.uuid4().hex}",
                            status="finished", source=OPTIMIZE_SOURCE, summary={"optimize": figures}, **extra)


def optimization_marker(runs: list[Any], scores: list[VersionScore]) -> Optimization | None:
    """The newest optimize run of the prompt, ``current`` when no version was first scored after it
    other than at its own hash (see the module docstring)."""
    marks = [r for r in runs if getattr(r, "source", None) == OPTIMIZE_SOURCE and r.status == "finished"]
    if not marks:
        return None
    run = max(marks, key=lambda r: (_naive(r.started_at), r.id or 0))
    figures = (run.summary or {}).get("optimize")
    best = figures.get("best_validation_accuracy") if isinstance(figures, dict) else None
    written = figures.get("written_version") if isinstance(figures, dict) else None
    newest = scores[-1] if scores else None
    # scoring the version the search wrote (optimize, then eval it) is the flow, not a hand edit since
    current = (newest is None or newest.hash == run.hash or (written is not None and newest.version == written)
               or _naive(run.started_at) >= _naive(newest.first_eval))
    return Optimization(run_id=run.id, hash=run.hash, at=run.started_at, accuracy=best, current=current)


def _naive(t: datetime) -> datetime:
    return t.replace(tzinfo=None) if t.tzinfo is not None else t


def _pairing(store: Any, model: str):
    """pair(a, b): stats.paired on the cases both versions' best runs scored (first repeat), or None."""
    cache: dict[int, dict[str, bool]] = {}

    def passes(run_id: int | None) -> dict[str, bool] | None:
        if run_id is None:
            return None
        if run_id not in cache:
            cache[run_id] = {r.case_id: (r.error is None and bool(r.passed)) for r in store.results(run_id)
                             if r.model == model and r.repeat_index == 0}
        return cache[run_id]

    def pair(a: VersionScore, b: VersionScore) -> Any:
        pa, pb = passes(a.run_id), passes(b.run_id)
        if not pa or not pb:
            return None
        common = sorted(set(pa) & set(pb))
        return stats.paired([pa[c] for c in common], [pb[c] for c in common]) if common else None

    return pair


def _models(prompt: Any, runs: list[Any], default: str, models: list[str] | None) -> list[str]:
    if models:
        return list(models)
    declared = list(prompt.models_or(default))
    seen = {m for r in runs if r.status == "finished" and isinstance(r.summary, dict)
            and getattr(r, "source", None) != OPTIMIZE_SOURCE for m in r.summary}
    return declared + sorted(seen - set(declared))


def check_prompt(config: Config | Project, prompt: Any, *, store: Any = None, models: list[str] | None = None,
                 window: int | None = None, delta: float | None = None) -> list[PlateauReport]:
    """Plateau reports for one prompt (a :class:`promptops.prompts.Prompt`), one per model with history.

    Window, delta and budget: the arguments, else the prompt's ``escalate:`` front matter, else
    ``escalate:`` in promptops.yaml; alpha is ``ci.alpha``."""
    with using(config, store=store) as project:
        config, store = project.config, project.store
        runs = store.list_runs(prompt=prompt.name, limit=100_000)
        opts = config.escalate
        window = window or int(prompt.escalate.get("window", opts.window))
        delta = float(delta if delta is not None else prompt.escalate.get("delta", opts.delta))
        budget = int(prompt.escalate.get("budget", opts.budget))
        alpha = config.ci.alpha
        reports = []
        for model in _models(prompt, runs, config.default_model, models):
            scores = version_scores(runs, model, opts.branch)
            opt = optimization_marker(runs, scores)
            dec = decide(scores, target=prompt.target, window=window, delta=delta, alpha=alpha, budget=budget,
                         optimization=opt, pair=_pairing(store, model), name=prompt.name)
            best = max(scores, key=lambda s: s.accuracy) if scores else None
            reports.append(PlateauReport(prompt=prompt.name, model=model, status=dec.status, target=prompt.target,
                                         window=window, delta=delta, scores=scores, best=best,
                                         recent_gain=dec.gain.delta if dec.gain else None, alpha=alpha,
                                         budget=budget, optimization=opt, decision=dec))
    return reports


def check(config: Config | Project, names: list[str] | None = None, *, store: Any = None) -> list[PlateauReport]:
    """Plateau reports for the named prompts (every prompt with a target or suite when none named)."""
    with using(config, store=store) as project:
        return _check(project, names)


def _check(project: Project, names: list[str] | None) -> list[PlateauReport]:
    config = project.config
    prompts = project.history.list_prompts()
    by_name = {p.name: p for p in prompts}
    if names:
        missing = [n for n in names if n not in by_name]
        if missing:
            raise NotFoundError(f"no prompt named {missing[0]!r}", where=str(config.prompts_path),
                                hint="known prompts: " + (", ".join(sorted(by_name)) or "none"))
        chosen = [by_name[n] for n in names]
    else:
        chosen = [p for p in prompts if p.suite or p.target is not None]
    return [r for p in chosen for r in check_prompt(project, p)]
