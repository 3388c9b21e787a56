"""``optimize``: score candidate versions of a prompt on a validation split, write the best.

Order of the search (each candidate scored on the same validation cases through the eval runner,
runs recorded with source ``optimize`` so they never count as a version's suite score):

1. the current version (the baseline);
2. static few-shot sets of ``k`` examples: chosen greedily (answers covered round-robin) and by
   bootstrap (examples the current version already answers right on a sample of the training part);
3. dynamic few-shot (``fewshot:`` over the training part) for k in ``ks``;
4. an instruction rewrite by ``optimizer`` from the baseline's failures (skipped, with a note, when
   none is given or it is an embedded ``local/`` model).

``budget`` caps the model calls of the search; a candidate that would pass it is skipped (noted).
The best candidate by mean validation accuracy over the models (ties: the earlier, so the current
version wins a tie) is written to ``prompts/<name>.prompt`` (a dynamic one with its dataset
``datasets/<name>.fewshot.jsonl``), atomically; the optimization marker is recorded either way.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .._util.fs import atomic_write
from ..escalate import record_optimization
from ..eval import stats
from ..eval.results import EvalTarget
from ..eval.runner import run_eval_async
from ..project import Project, using
from ..providers import complete, is_local
from . import candidates as cands
from .data import Split, load_training, split


@dataclass
class Scored:
    name: str
    kind: str
    version: str
    accuracy: float
    passed: int
    total: int
    ci_low: float
    ci_high: float
    calls: int
    tokens: int
    per_model: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


@dataclass
class OptimizeResult:
    prompt: str
    start_version: str
    models: list[str]
    source: str
    train: int
    val: int
    scored: list[Scored]
    best: Scored
    written: str | None  # the path written, or None when the current version stayed best
    written_version: str | None
    calls: int
    tokens: int
    seconds: float
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k not in ("scored", "best")}
        out["seconds"] = round(self.seconds, 2)
        out["candidates"] = [s.to_dict() for s in self.scored]
        out["best"] = self.best.name
        return out


def optimize(project_or_config: Any, name: str, train: str, *, models: list[str] | None = None,
             budget: int | None = None, ks: tuple[int, ...] = (2, 4, 8), k_static: int = 4,
             select: str = "similar", optimizer: str | None = None, val_fraction: float = 0.3,
             seed: int = 0, write: bool = True, progress=None) -> OptimizeResult:
    """Search candidate versions of prompt ``name`` on a validation split of ``train`` (a
    suite-format path, or ``"logged"``); write the best (see the module docstring)."""
    with using(project_or_config) as project:
        return asyncio.run(_optimize(project, name, train, models=models, budget=budget, ks=ks,
                                     k_static=k_static, select=select, optimizer=optimizer,
                                     val_fraction=val_fraction, seed=seed, write=write, progress=progress))


async def _optimize(project: Project, name: str, train: str, *, models, budget, ks, k_static, select, optimizer,
                    val_fraction, seed, write, progress) -> OptimizeResult:
    started_at, t0 = datetime.now(timezone.utc), time.perf_counter()
    config, store, history = project.config, project.store, project.history
    resolved = history.resolve(name)
    prompt = resolved.prompt
    suite = history.suite_at(prompt, resolved.commit) if prompt.suite else []
    cases, source = load_training(train, prompt, store=store, root=config.root)
    parts: Split = split(cases, suite, source, val_fraction=val_fraction, seed=seed)
    models = list(models or prompt.models_or(config.default_model))
    notes = [f"dropped {n} training example(s): {why}" for why, n in parts.dropped.items()]
    spent = {"calls": 0, "tokens": 0}
    scored: list[Scored] = []
    built: dict[str, cands.Candidate] = {}

    async def run(cand_prompt, cases_) -> list[Any]:
        report = await run_eval_async(config, [EvalTarget(prompt=cand_prompt, cases=cases_)], models=models,
                                      store=store, source="optimize", branch=None, progress=progress)
        for s in report.summaries:
            spent["calls"] += s.total - s.cached
            spent["tokens"] += s.prompt_tokens + s.completion_tokens
        return report.summaries

    def affordable(n_cases: int, label: str) -> bool:
        if budget is not None and spent["calls"] + n_cases * len(models) > budget:
            notes.append(f"{label}: skipped, over the budget of {budget} calls ({spent['calls']} spent)")
            return False
        return True

    async def score(cand: cands.Candidate | None) -> list[Any] | None:
        if cand is None or not affordable(len(parts.val), cand.name):
            return None
        before_calls, before_tokens = spent["calls"], spent["tokens"]
        summaries = await run(cand.prompt, parts.val)
        passed = sum(s.passed for s in summaries)
        total = sum(s.total for s in summaries)
        low, high = stats.wilson(passed, total)
        scored.append(Scored(name=cand.name, kind=cand.kind, version=cand.prompt.version,
                             accuracy=passed / total if total else 0.0, passed=passed, total=total, ci_low=low,
                             ci_high=high, calls=spent["calls"] - before_calls, tokens=spent["tokens"] - before_tokens,
                             per_model={s.model: s.accuracy for s in summaries}))
        built[cand.name] = cand
        return summaries

    current = cands.Candidate("current", "current", prompt, prompt.to_text())
    baseline = await score(current)
    if prompt.fewshot is not None or any(s.role == "assistant" for s in prompt.sections):
        notes.append("the current version already has few-shot turns; candidates add to it")
    k_static = min(k_static, len(parts.train))
    await score(cands.safe(lambda: cands.static(prompt, f"static-greedy-{k_static}",
                                                cands.greedy(parts.train, k_static)), notes, "static-greedy"))
    sample = parts.train[: max(2 * k_static, 12)]
    if affordable(len(sample), "static-bootstrap"):
        runs = await run(prompt, sample)
        ok = {r.case_id for r in runs[0].results if r.passed} if runs else set()
        good = [c for c in sample if c.id in ok]
        if len(good) >= 2:
            chosen = cands.bootstrap(good, min(k_static, len(good)), seed)
            await score(cands.safe(lambda: cands.static(prompt, f"static-bootstrap-{len(chosen)}", chosen), notes,
                                   "static-bootstrap"))
        else:
            notes.append(f"static-bootstrap: skipped, the current version answered {len(good)} of {len(sample)} "
                         "training examples right (2 needed)")
    pool_path = f"datasets/{prompt.name}.fewshot.jsonl"
    for k in sorted({min(k, len(parts.train) - 1) for k in ks if k > 0}):
        await score(cands.safe(lambda: cands.dynamic(prompt, parts.train, k, select, pool_path), notes,
                               f"dynamic-{select}-{k}"))
    await _rewrite(prompt, baseline, optimizer, config, notes, score)

    best = max(scored, key=lambda s: (s.accuracy, -scored.index(s)))
    written = written_version = None
    if best.name != "current" and write:
        written = _write(config.root, prompt, built[best.name], pool_path)
        written_version = best.version
    elif best.name == "current":
        notes.append("no candidate beat the current version on validation; nothing written")
    seconds = time.perf_counter() - t0
    result = OptimizeResult(prompt=prompt.name, start_version=prompt.version, models=models, source=parts.source,
                            train=len(parts.train), val=len(parts.val), scored=scored, best=best, written=written,
                            written_version=written_version, calls=spent["calls"], tokens=spent["tokens"],
                            seconds=seconds, notes=notes)
    record_optimization(store, prompt, best_accuracy=best.accuracy, baseline_accuracy=scored[0].accuracy,
                        candidates=len(scored), written_version=written_version, models=models, train=parts.source,
                        commit=resolved.commit, branch=history.current_branch(), started_at=started_at,
                        details={"calls": spent["calls"], "tokens": spent["tokens"], "seconds": round(seconds, 2),
                                 "scores": {s.name: round(s.accuracy, 4) for s in scored}})
    return result


async def _rewrite(prompt, baseline, optimizer, config, notes, score) -> None:
    if not optimizer:
        notes.append("rewrite: skipped, no optimizer model (--optimizer MODEL)")
        return
    if is_local(optimizer):
        notes.append(f"rewrite: skipped, the embedded model {optimizer} is too small to rewrite instructions")
        return
    failures = [(str(r.vars), str(r.output), str(r.expected)) for s in (baseline or []) for r in s.results
                if not r.passed]
    if not failures:
        notes.append("rewrite: skipped, the current version failed no validation case")
        return
    try:
        answer = await complete(optimizer, cands.reflection_messages(prompt, failures), {"temperature": 0},
                                config=config)
    except Exception as exc:  # a provider error must not lose the search so far
        notes.append(f"rewrite: skipped, the optimizer model failed ({type(exc).__name__})")
        return
    await score(cands.safe(lambda: cands.rewrite(prompt, answer.text), notes, "rewrite"))


def _write(root: Path, prompt, cand: cands.Candidate, pool_path: str) -> str:
    """Write the candidate (and its dataset) atomically; on error nothing is left half-written."""
    target = root / "prompts" / f"{prompt.name}.prompt"
    pool = root / pool_path
    old_pool = pool.read_bytes() if pool.is_file() else None
    if cand.pool_text is not None:
        pool.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(pool, cand.pool_text)
    try:
        atomic_write(target, cand.text)
    except BaseException:
        if cand.pool_text is not None:
            if old_pool is None:
                pool.unlink(missing_ok=True)
            else:
                atomic_write(pool, old_pool)
        raise
    return str(target.relative_to(root))
