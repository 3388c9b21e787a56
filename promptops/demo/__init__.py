"""The demo behind ``promptops demo``: the loop on real data (snips intents), the embedded model.

An app, like the CLI, built on the library: it builds a scratch project (a git repository of its
own, from the data shipped with the package), commits several versions of a prompt over time,
scores each one with the runner, then serves the best (:mod:`.serve`) and escalates it to a
fine-tuned model through the same flow as ``promptops escalate`` (:mod:`.escalate`). Every figure
it prints is measured in the run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from ..config import load_config
from ..eval.evaluate import evaluate
from ..history import History
from . import escalate, optimize, serve
from .project import FINETUNE_VERSION, INTENTS, VERSIONS, build_project

__all__ = ["INTENTS", "VERSIONS", "build_project", "run_demo"]

Say = Callable[[str], None]
Table = Callable[[str | None, list[str], list[list[Any]]], None]


def run_demo(*, workdir: Path, quick: bool, say: Say, table: Table) -> dict:
    """Run every phase of the demo in a scratch project at ``workdir``; returns the measured figures
    (also written to ``workdir/figures.json``). ``say`` prints a line, ``table`` a table."""
    workdir = Path(workdir).resolve()
    say(f"== 1. A prompt in git: {len(VERSIONS)} versions of snips-intent, committed over time ({workdir})")
    shas = build_project(workdir, cases=35 if quick else None)
    config = load_config(workdir)
    history = History(config.root, config.prompts_dir)
    versions = history.versions("snips-intent")
    table(None, ["version", "commit", "message"],
          [[v.version, v.commits[0].sha[:10], v.commits[0].message] for v in versions])

    say("== 2. Score every version on its regression suite with the embedded model (local/smollm2)")
    scores = []
    for sha, (message, _) in zip(shas, VERSIONS):
        report = evaluate(config, [f"snips-intent@{sha}"], source="demo", branch="main")
        s = report.summaries[0]
        scores.append({"version": s.version, "commit": sha, "message": message, "accuracy": s.accuracy,
                       "ci_low": s.ci_low, "ci_high": s.ci_high, "total": s.total, "duration_s": s.duration_s})
    table(None, ["version", "change", "accuracy", "95% CI", "cases"],
          [[r["version"], r["message"], f"{100 * r['accuracy']:.1f}%",
            f"{100 * r['ci_low']:.1f}–{100 * r['ci_high']:.1f}%", r["total"]] for r in scores])
    best = max(scores, key=lambda r: r["accuracy"])
    target = history.resolve("snips-intent").prompt.target
    say(f"best prompt: {best['version']} at {100 * best['accuracy']:.1f}% (target {100 * target:.0f}%, "
        f"production gate {100 * config.environments['production'].min_score:.0f}%)")
    figures = {"prompt_versions": scores, "best_prompt": best, "best_hand_prompt": best,
               "finetune_version": shas[FINETUNE_VERSION]}
    for phase in (serve.phase, optimize.phase, escalate.phase):
        figures.update(phase(config=config, figures=figures, quick=quick, say=say, table=table) or {})
    _summary(figures, table)
    out = workdir / "figures.json"
    out.write_text(json.dumps(figures, indent=2, default=str), encoding="utf-8")
    say(f"== Done: every figure above is in {out}")
    return figures


def _summary(figures: dict, table: Table) -> None:
    """The switch end to end: the best hand-written prompt, the optimized one, the fine-tuned model,
    each on the same suite, each paired with the row before it."""
    def acc(r: dict) -> str:
        return f"{100 * r['accuracy']:.1f}% [{100 * r['ci_low']:.1f}–{100 * r['ci_high']:.1f}]"

    def paired(d: dict | None) -> str:
        if not d:
            return "–"
        return f"{100 * d['delta']:+.1f} pts, p {d['mcnemar_p']:.2g}"

    hand, opt = figures["best_hand_prompt"], figures.get("optimized_prompt")
    rows = [["best hand-written prompt", hand["version"], acc(hand), "–"]]
    if opt:
        rows.append(["optimized prompt (promptops optimize)", opt["version"], acc(opt), paired(opt.get("paired_vs_hand"))])
    cmp = (figures.get("escalation") or {}).get("comparison")
    if cmp:
        f = cmp["finetuned_row"]
        rows.append([f"fine-tuned (vs {cmp['version']})", cmp["finetuned_model"], acc(f), paired(cmp["paired"])])
    table("the switch, end to end (same regression suite)", ["", "version / model", "accuracy [95% CI]",
                                                             "paired vs the row before"], rows)
