"""Escalation end to end: plateau → export → measure a few steps → estimate → LoRA job → eval of the adapter → compare → promote.

The fine-tuned model is scored on the prompt's own regression suite with the same runner, using
the version that was fine-tuned, and set beside that version on its base model: accuracy with 95 %
Wilson intervals, the paired difference with its interval and the exact McNemar test on the same
cases, latency, cost, and the time it took to deliver.

Progress goes out as events (:mod:`.events`) through ``on_event``; nothing here prints.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .. import deploy
from ..config import Config
from ..errors import PromptopsError
from ..eval.evaluate import evaluate
from ..finetune import TrainConfig, jobs
from ..store import open_store
from .compare import Side, comparison_rows, paired_comparison, passes_of, row_of  # noqa: F401 - rows re-exported
from .estimate import base_latency, estimate
from .events import (Compared, Estimated, Exported, JobEnded, JobProgress, JobStarted, Measuring, NotPromoted,
                     OnEvent, Promoted, ignore)
from .export import export
from .measure import DEFAULT_STEPS, measure
from .plateau import PlateauReport, check


@dataclass
class Outcome:
    """What escalation did for one prompt."""

    prompt: str
    plateau: PlateauReport
    export: Any = None
    estimate: Any = None
    job: Any = None
    comparison: dict[str, Any] | None = None
    promoted: Any = None
    notes: list[str] = field(default_factory=list)


def compare(config: Config, name: str, job: Any, plateau: PlateauReport, *, store: Any = None,
            repeat: int = 1, source: str = "cli") -> dict[str, Any]:
    """Evaluate the job's adapter on the suite (version fine-tuned) and compare it with that version
    on the base model it was scored on (the best prompt): :func:`.compare.paired_comparison`."""
    store = store or open_store(config)
    if job.status != "succeeded":
        raise PromptopsError(f"job {job.id} is {job.status}; only a succeeded job has a model to evaluate")
    best = plateau.best
    if best is None:
        raise PromptopsError(f"prompt '{name}' has no scored version to compare with")
    model = job.metrics["model"]
    commit = (job.metrics or {}).get("commit") or best.commit
    spec = f"{name}@{commit}" if commit else name
    report = evaluate(config, [spec], models=[model], source=source, branch=config.escalate.branch, repeat=repeat)
    ft = report.summaries[0]
    run = store.get_run(best.run_id) if best.run_id else None
    base_summary = ((run.summary or {}).get(plateau.model) or {}) if run else {}
    base_row = {**row_of(base_summary), "accuracy": best.accuracy,
                "ci_low": base_summary.get("ci_low", best.ci_low), "ci_high": base_summary.get("ci_high", best.ci_high)}
    base = Side(name, best.version, best.commit, plateau.model, best.run_id, base_row,
                passes_of(store.results(best.run_id), plateau.model) if best.run_id else {})
    tuned = Side(name, ft.version, commit, model, ft.run_id, row_of(ft.metrics()),
                 {r.case_id: (r.error is None and bool(r.passed)) for r in ft.results if r.repeat_index == 0})
    m = job.metrics or {}
    deliver_s = (job.finished_at - job.created_at).total_seconds() if job.finished_at and job.created_at else None
    out = paired_comparison(base, tuned, alpha=config.ci.alpha)
    out.update({
        "job": job.id, "train_time_s": m.get("train_time_s"), "wall_time_s": m.get("wall_time_s"),
        "time_to_deliver_s": deliver_s, "steps": m.get("steps"), "train_examples": m.get("train_examples"),
        "val_accuracy": m.get("val_accuracy"), "best_val_loss": m.get("best_val_loss"), "folds": m.get("folds"),
        "peak_rss_mb": m.get("peak_rss_mb"),
    })
    return out


def escalate(config: Config, names: list[str] | None = None, *, wait: bool = False, auto_promote: str | None = None,
             train_overrides: dict[str, Any] | None = None, min_examples: int | None = None,
             reports: list[PlateauReport] | None = None, on_event: OnEvent = ignore, store: Any = None,
             source: str = "cli", force: bool = False, measure_steps: int | None = None) -> list[Outcome]:
    """Escalate every plateaued prompt among ``names``: export, estimate, start a LoRA job; with
    ``wait`` also evaluate and compare the adapter, and with ``auto_promote`` promote it when it
    beats the prompt (paired test at ``ci.alpha``) and passes the environment's gate.

    ``force``: escalate every named prompt whatever its verdict (recorded in the job's
    ``metrics["escalation"]``). ``reports``: the plateau check already made by the caller (else it
    is made here). ``measure_steps``: see :func:`escalate_prompt`."""
    store = store or open_store(config)
    if reports is None:
        reports = check(config, names, store=store)
    train_config = TrainConfig.from_dict(train_overrides or {})
    outcomes = []
    for rep in chosen(reports, force=force):
        outcomes.append(escalate_prompt(config, rep, [r for r in reports if r.prompt == rep.prompt],
                                        train_config=train_config, min_examples=min_examples, wait=wait,
                                        auto_promote=auto_promote, on_event=on_event, store=store, source=source,
                                        measure_steps=measure_steps))
    return outcomes


def chosen(reports: list[PlateauReport], *, force: bool = False) -> list[PlateauReport]:
    """The report each escalated prompt goes with: its first plateaued model; with ``force``, every
    prompt, on its first plateaued model, else its best scored one, else its first (``forced`` set)."""
    out, seen = [], set()
    for name in dict.fromkeys(r.prompt for r in reports):
        mine = [r for r in reports if r.prompt == name]
        rep = next((r for r in mine if r.plateaued), None)
        if rep is None and force:
            scored = [r for r in mine if r.best is not None]
            rep = max(scored, key=lambda r: r.best.accuracy) if scored else mine[0]
        if rep is None or name in seen:
            continue
        rep.forced = force and not rep.plateaued
        seen.add(name)
        out.append(rep)
    return out


def escalate_prompt(config: Config, plateau: PlateauReport, reports: list[PlateauReport], *,
                    train_config: TrainConfig, version: str | None = None, min_examples: int | None = None,
                    wait: bool = False, auto_promote: str | None = None, on_event: OnEvent = ignore,
                    store: Any = None, source: str = "cli", measure_steps: int | None = None) -> Outcome:
    """Escalate one plateaued prompt: export its logged calls (rendered with ``version``, by default
    the best scored one), time ``measure_steps`` real training steps (default 3; 0 = none, the
    estimate then says it is not measured), estimate, start the job; with ``wait`` compare, with
    ``auto_promote`` promote. Most examples longer than ``max_length``: a ConfigError, no job.

    ``reports``: this prompt's plateau reports on every model (for the base model's latency)."""
    store = store or open_store(config)
    name = plateau.prompt
    out = Outcome(prompt=name, plateau=plateau)
    ex = export(config, name, store=store, version=version, min_examples=min_examples)
    out.export = ex
    on_event(Exported(name, ex))
    steps = DEFAULT_STEPS if measure_steps is None else measure_steps
    if steps:
        on_event(Measuring(name, steps))
    probe = measure(train_config, ex.train_path, ex.val_path, steps=steps)
    if probe.lengths is not None:  # the job trains with the max_length chosen (and checked) here
        train_config = dataclasses.replace(train_config, max_length=probe.lengths.max_length)
    est = estimate(prompt=name, train_path=ex.train_path, examples=ex.train, train_config=train_config,
                   plateau=plateau, store=store, base_latency_ms=base_latency(reports, train_config.base),
                   measured=probe)
    out.estimate = est
    on_event(Estimated(name, est))
    decision = {"model": plateau.model, "status": plateau.status, "forced": plateau.forced,
                "reason": plateau.reason()}
    job = jobs.create(config, name, ex.out_dir, train_config, store=store,
                      extra={"commit": ex.commit, "version": ex.version, "estimate": est.to_dict(),
                             "escalation": decision})
    out.job = job
    on_event(JobStarted(name, job))
    if not wait:
        return out
    job = jobs.wait(config, job.id, store=store, on_update=lambda j: on_event(JobProgress(name, j)))
    out.job = job
    on_event(JobEnded(name, job))
    if job.status != "succeeded":
        out.notes.append(f"job {job.id} {job.status}: {job.error or ''}")
        return out
    if plateau.best is None:  # forced with no scored version: nothing to set the adapter beside
        out.notes.append(f"no scored version of '{name}' on {plateau.model} to compare with: "
                         f"run promptops eval {name}, then promptops compare")
        return out
    cmp = compare(config, name, job, plateau, store=store, source=source)
    out.comparison = cmp
    on_event(Compared(name, cmp))
    if auto_promote:
        out.promoted = promote_if_better(config, cmp, auto_promote, on_event=on_event)
    return out


def promote_if_better(config: Config, cmp: dict[str, Any], env: str, *, on_event: OnEvent = ignore) -> Any:
    """Promote the fine-tuned model to ``env`` when it beats the prompt; None (and a NotPromoted
    event saying why) otherwise."""
    if not cmp["beats_prompt"]:
        on_event(NotPromoted(cmp["prompt"], env, "the fine-tuned model does not beat the prompt "
                             f"(p = {cmp['paired']['mcnemar_p']:.2g}, alpha {cmp['paired']['alpha']})"))
        return None
    # the version the adapter was trained and scored with (it need not be the best prompt's version)
    commit = cmp.get("finetuned_commit") or cmp["commit"]
    spec = f"{cmp['prompt']}@{commit}" if commit else cmp["prompt"]
    reason = (f"escalate: fine-tuned {cmp['finetuned_model']} {100 * cmp['finetuned_row']['accuracy']:.1f}% vs "
              f"prompt {100 * cmp['prompt_row']['accuracy']:.1f}% (McNemar p={cmp['paired']['mcnemar_p']:.2g})")
    try:
        row = deploy.promote(config, spec, env, model=cmp["finetuned_model"], reason=reason)
    except PromptopsError as exc:
        on_event(NotPromoted(cmp["prompt"], env, exc.one_line()))
        return None
    on_event(Promoted(cmp["prompt"], env, row))
    return row
