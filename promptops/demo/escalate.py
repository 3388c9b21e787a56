"""Demo phase: the prompt has plateaued, so escalate — export the logged traffic, train a LoRA
adapter, evaluate it on the same suite, promote it when it beats the best prompt, print the table.

Runs after the serving phase, which logged production calls with feedback (correct answers scored
1, wrong ones corrected with the true label). The steps are :func:`promptops.escalate.flow.escalate_prompt`,
the flow behind ``promptops escalate --auto-promote``; this module chooses the demo's settings and
renders the flow's events in the demo's words. Every figure is measured in the run.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from ..escalate import PLATEAUED, check
from ..escalate import events as ev
from ..escalate.flow import comparison_rows, escalate_prompt
from ..finetune import TrainConfig, jobs
from ..store import open_store

NAME = "snips-intent"
# quick: a smoke-sized job; full: the settings measured in bench/bench_lora_snips.py
QUICK = {"epochs": 1, "max_steps": 60, "batch_size": 8, "lora_r": 16, "learning_rate": 1e-3,
         "eval_generate": False}
FULL = {"epochs": 2, "batch_size": 8, "lora_r": 16, "learning_rate": 1e-3}
PROGRESS_EVERY_S = 10  # one line per 10 s while the job runs, and one at each change of status


def phase(*, config: Any, figures: dict, quick: bool, say: Callable[[str], None], table: Callable[..., None]) -> dict:
    """Check for a plateau, then escalate through the library flow; returns ``{"escalation": {...}}``."""
    store = open_store(config)
    say("== Escalate: has prompt engineering plateaued? (promptops escalate --check)")
    reports = check(config, [NAME], store=store)
    table(None, ["model", "status", "why", "scores per version (oldest first)"],
          [[r.model, r.status, r.reason(), " → ".join(f"{s.version}:{100 * s.accuracy:.0f}%" for s in r.scores)]
           for r in reports])
    rep = next((r for r in reports if r.status == PLATEAUED), None)
    if rep is None:
        say("nothing plateaued (exit 0): no escalation needed")
        return {"escalation": {"plateau": [r.to_dict() for r in reports], "escalated": False}}
    say(f"exit code 3: {NAME} plateaued on {rep.model}")

    tc = TrainConfig.from_dict(QUICK if quick else FULL)
    view = _View(say, table, tc)
    out = escalate_prompt(config, rep, reports, train_config=tc, version=figures.get("finetune_version"),
                          min_examples=min(config.escalate.min_examples, 20), wait=True,
                          auto_promote="production", on_event=view, store=store, source="demo")
    job = out.job
    if job.status != "succeeded":
        return {"escalation": {"plateau": rep.to_dict(), "job": job.id, "status": job.status, "error": job.error}}
    ex, cmp, promoted = out.export, out.comparison, out.promoted
    return {"escalation": {
        "plateau": rep.to_dict(), "export": {"train": ex.train, "val": ex.val, "dropped": ex.dropped,
                                             "counts": ex.manifest["counts"], "path": str(ex.out_dir)},
        "estimate": out.estimate.to_dict(), "job": job.id, "job_wall_s": view.job_s, "train_config": tc.to_dict(),
        "comparison": cmp, "promoted": None if promoted is None else {"env": "production", "model": promoted.model,
                                                                        "deployment": promoted.id},
        "gain": cmp["finetuned_row"]["accuracy"] - cmp["prompt_row"]["accuracy"],
    }}


class _View:
    """The flow's events as the demo prints them: a heading per step, then what it measured."""

    def __init__(self, say: Callable[[str], None], table: Callable[..., None], tc: TrainConfig):
        self.say, self.table, self.tc = say, table, tc
        self.t0 = 0.0
        self.job_s: float | None = None
        self.last_line = 0.0

    def __call__(self, e: ev.Event) -> None:
        say, tc = self.say, self.tc
        if isinstance(e, ev.Exported):
            x = e.export
            c = x.manifest["counts"]
            say("== Export the logged production traffic as a fine-tuning set (promptops export)")
            say(f"{x.train} train + {x.val} validation examples -> {x.out_dir} (rendered with {x.version}; "
                f"{c['corrected']} corrected, {c['rated_good']} rated good, from {c['logged_calls']} logged calls; "
                "dropped: " + (", ".join(f"{n} {w}" for w, n in sorted(x.dropped.items())) or "none") + ")")
        elif isinstance(e, ev.Estimated):
            self.table(f"is fine-tuning worth it? (estimate; step time: {e.estimate.step_source})",
                       ["", "prompt now", "fine-tuned (expected)"], e.estimate.rows())
            self.t0 = time.perf_counter()  # the job is created next: its wall time counts from here
        elif isinstance(e, ev.JobStarted):
            steps = f"max {tc.max_steps} steps" if tc.max_steps else f"{tc.epochs} epochs"
            say(f"== LoRA job on {tc.base} (r={tc.lora_r}, {', '.join(tc.target_modules)}; {steps}), its own process")
            say(f"job {e.job.id} (pid {e.job.pid}), log {e.job.log_path}")
        elif isinstance(e, ev.JobProgress):
            self._progress(e.job)
        elif isinstance(e, ev.JobEnded):
            self._ended(e.job)
        elif isinstance(e, ev.Compared):
            self.table(f"prompt engineering vs fine-tuning ({e.comparison['cases']} suite cases, paired)",
                       ["", "best prompt", "fine-tuned"], comparison_rows(e.comparison))
        elif isinstance(e, ev.Promoted):
            d = e.deployment
            say(f"{e.prompt}@{e.env} -> {d.version} on {d.model} (deployment #{d.id})")
        elif isinstance(e, ev.NotPromoted):
            say(f"{e.prompt}: not promoted: {e.reason}")

    def _progress(self, job: Any) -> None:
        if time.monotonic() - self.last_line < PROGRESS_EVERY_S and job.status == "running":
            return
        self.last_line = time.monotonic()
        p = job.progress or {}
        if p.get("step") is not None:
            loss = "–" if p.get("loss") is None else f"{p['loss']:.3f}"
            val = "" if p.get("val_loss") is None else f"  val {p['val_loss']:.3f}"
            eta = "" if p.get("eta_s") is None else f"  ~{p['eta_s']:.0f} s left"
            self.say(f"  {job.status}: step {p['step']}/{p.get('total_steps')}  loss {loss}{val}{eta}")
        else:
            self.say(f"  {job.status}: loading the base model")

    def _ended(self, job: Any) -> None:
        if job.status != "succeeded":
            self.say(f"job {job.id} {job.status}: {job.error}")
            return
        self.job_s = time.perf_counter() - self.t0
        self.say(f"job {job.id} succeeded in {self.job_s:.0f} s: model {job.metrics['model']}")
        curve = jobs.loss_curve(job)
        if curve:
            self.say(f"  loss {jobs.sparkline(curve, 50)}  {curve[0]:.3f} → {curve[-1]:.3f}")
        self.say(f"== Evaluate {job.metrics['model']} on the same regression suite, beside the best prompt")
