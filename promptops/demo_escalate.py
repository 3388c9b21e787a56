"""Demo phase: the prompt has plateaued, so escalate — export the logged traffic, train a LoRA
adapter, evaluate it on the same suite, promote it when it beats the best prompt, print the table.

Runs after the serving phase, which logged production calls with feedback (correct answers scored
1, wrong ones corrected with the true label). Every figure is measured in the run.
"""

from __future__ import annotations

import time
from typing import Any, Callable

NAME = "snips-intent"
# quick: a smoke-sized job; full: the settings measured in bench/bench_lora_snips.py
QUICK = {"epochs": 1, "max_steps": 60, "batch_size": 8, "lora_r": 16, "learning_rate": 1e-3,
         "eval_generate": False}
FULL = {"epochs": 2, "batch_size": 8, "lora_r": 16, "learning_rate": 1e-3}


def phase(*, config: Any, figures: dict, quick: bool, say: Callable[[str], None], table: Callable[..., None]) -> dict:
    from .escalate import PLATEAUED, check, export
    from .escalate.estimate import base_latency, estimate
    from .escalate.flow import compare, comparison_rows, promote_if_better
    from .finetune import TrainConfig, jobs
    from .store import open_store

    store = open_store(config)
    say("== Escalate: has prompt engineering plateaued? (promptops escalate --check)")
    reports = [r for r in check(config, [NAME], store=store)]
    table(None, ["model", "status", "why", "scores per version (oldest first)"],
          [[r.model, r.status, r.reason(), " → ".join(f"{s.version}:{100 * s.accuracy:.0f}%" for s in r.scores)]
           for r in reports])
    rep = next((r for r in reports if r.status == PLATEAUED), None)
    if rep is None:
        say("nothing plateaued (exit 0): no escalation needed")
        return {"escalation": {"plateau": [r.to_dict() for r in reports], "escalated": False}}
    say(f"exit code 3: {NAME} plateaued on {rep.model}")

    say("== Export the logged production traffic as a fine-tuning set (promptops export)")
    ex = export(config, NAME, store=store, version=figures.get("finetune_version"),
                min_examples=min(config.escalate.min_examples, 20))
    c = ex.manifest["counts"]
    say(f"{ex.train} train + {ex.val} validation examples -> {ex.out_dir} (rendered with {ex.version}; "
        f"{c['corrected']} corrected, {c['rated_good']} rated good, from {c['logged_calls']} logged calls; dropped: "
        + (", ".join(f"{n} {w}" for w, n in sorted(ex.dropped.items())) or "none") + ")")

    tc = TrainConfig.from_dict(QUICK if quick else FULL)
    est = estimate(prompt=NAME, train_path=ex.train_path, examples=ex.train, train_config=tc, plateau=rep,
                   store=store, base_latency_ms=base_latency(reports, tc.base))
    table(f"is fine-tuning worth it? (estimate; step time: {est.step_source})",
          ["", "prompt now", "fine-tuned (expected)"], est.rows())

    say(f"== LoRA job on {tc.base} (r={tc.lora_r}, {', '.join(tc.target_modules)}; "
        f"{'max ' + str(tc.max_steps) + ' steps' if tc.max_steps else str(tc.epochs) + ' epochs'}), its own process")
    t0 = time.perf_counter()
    job = jobs.create(config, NAME, ex.out_dir, tc, store=store,
                      extra={"commit": ex.commit, "version": ex.version, "estimate": est.to_dict()})
    say(f"job {job.id} (pid {job.pid}), log {job.log_path}")
    last = {"t": 0.0}

    def show(j: Any) -> None:
        p = j.progress or {}
        if time.monotonic() - last["t"] < 10 and j.status == "running":
            return
        last["t"] = time.monotonic()
        if p.get("step") is not None:
            loss = "–" if p.get("loss") is None else f"{p['loss']:.3f}"
            val = "" if p.get("val_loss") is None else f"  val {p['val_loss']:.3f}"
            eta = "" if p.get("eta_s") is None else f"  ~{p['eta_s']:.0f} s left"
            say(f"  {j.status}: step {p['step']}/{p.get('total_steps')}  loss {loss}{val}{eta}")
        else:
            say(f"  {j.status}: loading the base model")

    job = jobs.wait(config, job.id, store=store, poll_s=1.0, on_update=show)
    if job.status != "succeeded":
        say(f"job {job.id} {job.status}: {job.error}")
        return {"escalation": {"plateau": rep.to_dict(), "job": job.id, "status": job.status, "error": job.error}}
    job_s = time.perf_counter() - t0
    say(f"job {job.id} succeeded in {job_s:.0f} s: model {job.metrics['model']}")
    curve = jobs.loss_curve(job)
    if curve:
        say(f"  loss {jobs.sparkline(curve, 50)}  {curve[0]:.3f} → {curve[-1]:.3f}")

    say(f"== Evaluate {job.metrics['model']} on the same regression suite, beside the best prompt")
    cmp = compare(config, NAME, job, rep, store=store, source="demo")
    table(f"prompt engineering vs fine-tuning ({cmp['cases']} suite cases, paired)",
          ["", "best prompt", "fine-tuned"], comparison_rows(cmp))
    promoted = promote_if_better(config, cmp, "production", say=say)
    return {"escalation": {
        "plateau": rep.to_dict(), "export": {"train": ex.train, "val": ex.val, "dropped": ex.dropped,
                                             "counts": c, "path": str(ex.out_dir)},
        "estimate": est.to_dict(), "job": job.id, "job_wall_s": job_s, "train_config": tc.to_dict(),
        "comparison": cmp, "promoted": None if promoted is None else {"env": "production", "model": promoted.model,
                                                                        "deployment": promoted.id},
        "gain": cmp["finetuned_row"]["accuracy"] - cmp["prompt_row"]["accuracy"],
    }}
