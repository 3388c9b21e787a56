"""Plateau detection: has prompt engineering stopped paying off for a prompt?

Reads the eval history of a prompt on the main branch (``escalate.branch``; every run when no run
carries a branch), keeps one score per version and model (its best finished accuracy), orders the
versions by when each was first evaluated, and decides:

- ``target met``: the best score reaches the prompt's ``target``;
- ``too little history``: fewer than ``window + 1`` versions scored;
- ``improving``: the last ``window`` versions raised the best score by more than ``delta``;
- ``plateaued``: below target, and the last ``window`` versions did not;
- ``no target``: the prompt sets no target, so there is nothing to fall short of.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from ..config import Config
from ..errors import NotFoundError
from ..project import Project, using

TARGET_MET = "target met"
IMPROVING = "improving"
PLATEAUED = "plateaued"
TOO_LITTLE = "too little history"
NO_TARGET = "no target"


@dataclass
class VersionScore:
    """The best finished accuracy of one prompt version on one model."""

    version: str
    hash: str
    accuracy: float
    first_eval: datetime
    commit: str | None = None
    run_id: int | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    latency_p50_ms: float | None = None
    total: int | None = None


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
    recent_gain: float | None = None  # best now − best before the last `window` versions

    @property
    def plateaued(self) -> bool:
        return self.status == PLATEAUED

    @property
    def gap(self) -> float | None:
        """How far the best version is below the target (0 when met)."""
        if self.target is None or self.best is None:
            return None
        return max(0.0, self.target - self.best.accuracy)

    def reason(self) -> str:
        best = "no eval" if self.best is None else f"best {100 * self.best.accuracy:.1f}% ({self.best.version})"
        target = "no target" if self.target is None else f"target {100 * self.target:.0f}%"
        n = len(self.scores)
        if self.status == TOO_LITTLE:
            return f"{n} version(s) scored, {self.window + 1} needed; {best}, {target}"
        if self.status == TARGET_MET or self.status == NO_TARGET:
            return f"{best}, {target}"
        gain = 100 * (self.recent_gain or 0.0)
        return (f"{best}, {target}; the last {self.window} versions raised the best by {gain:+.1f} points "
                f"({'>' if self.status == IMPROVING else '≤'} {100 * self.delta:.1f})")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["reason"] = self.reason()
        out["gap"] = self.gap
        return out


def decide(scores: list[VersionScore], *, target: float | None, window: int, delta: float) -> tuple[str, float | None]:
    """(status, recent gain) for scores ordered oldest first; pure, so tests can feed made-up histories."""
    best = max((s.accuracy for s in scores), default=None)
    gain = None
    if len(scores) > window:
        before = max(s.accuracy for s in scores[:-window])
        gain = best - before
    if target is not None and best is not None and best >= target:
        return TARGET_MET, gain
    if target is None:
        return NO_TARGET, gain
    if gain is None:
        return TOO_LITTLE, None
    # a tiny epsilon: "2 points" written as 0.02 should not flip on float noise
    return (IMPROVING if gain > delta + 1e-9 else PLATEAUED), gain


def version_scores(runs: list[Any], model: str, branch: str | None) -> list[VersionScore]:
    """One score per version (best finished accuracy) on ``model``, ordered by first eval time.

    ``runs`` are store ``EvalRun`` rows of one prompt. When any run carries a branch, only runs on
    ``branch`` count; otherwise (histories from before branches were recorded) all runs do.
    """
    finished = [r for r in runs if r.status == "finished" and isinstance(r.summary, dict)]
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


def check_prompt(config: Config | Project, prompt: Any, *, store: Any = None, models: list[str] | None = None,
                 window: int | None = None, delta: float | None = None) -> list[PlateauReport]:
    """Plateau reports for one prompt (a :class:`promptops.prompts.Prompt`), one per model.

    Window and delta: the arguments, else the prompt's ``escalate:`` front matter, else
    ``escalate:`` in promptops.yaml.
    """
    with using(config, store=store) as project:
        config, store = project.config, project.store
        runs = store.list_runs(prompt=prompt.name, limit=100_000)
    opts = config.escalate
    window = window or int(prompt.escalate.get("window", opts.window))
    delta = float(delta if delta is not None else prompt.escalate.get("delta", opts.delta))
    models = models or prompt.models_or(config.default_model)
    reports = []
    for model in models:
        scores = version_scores(runs, model, opts.branch)
        status, gain = decide(scores, target=prompt.target, window=window, delta=delta)
        best = max(scores, key=lambda s: s.accuracy) if scores else None
        reports.append(PlateauReport(prompt=prompt.name, model=model, status=status, target=prompt.target,
                                     window=window, delta=delta, scores=scores, best=best, recent_gain=gain))
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
