"""escalate, export, finetune, jobs: from a plateaued prompt to a fine-tuned model."""

from __future__ import annotations

from typing import Any, List, Optional

import typer

from ..escalate import PLATEAUED
from ..escalate import check as plateau_check
from ..escalate import events as ev
from ..escalate import export as export_examples
from ..escalate.flow import comparison_rows
from ..escalate.flow import escalate as escalate_prompts
from ..finetune import TrainConfig, jobs
from . import common

jobs_app = typer.Typer(name="jobs", help="Fine-tune jobs: list, show, cancel, resume.", invoke_without_command=True)


def register(app: typer.Typer) -> None:
    app.command("escalate")(escalate)
    app.command("export")(export)
    app.command("finetune")(finetune)
    app.add_typer(jobs_app, name="jobs")


def _say(text: str) -> None:
    common.console().print(text, markup=False)


def escalate(
    names: Optional[List[str]] = typer.Argument(None, help="Prompts (default: every prompt with a suite or target)."),
    check: bool = typer.Option(False, "--check", help="Only report; exit 3 when a prompt has plateaued (for CI)."),
    wait: bool = typer.Option(False, "--wait", help="Wait for the job, then evaluate and compare the adapter."),
    auto_promote: Optional[str] = typer.Option(None, "--auto-promote", metavar="ENV",
                                               help="Promote the fine-tuned model to ENV when it beats the prompt (implies --wait)."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Training epochs."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Stop training after this many steps."),
    min_examples: Optional[int] = typer.Option(None, "--min-examples", help="Refuse sets smaller than this."),
    as_json: bool = typer.Option(False, "--json", help="Print the plateau reports as JSON."),
) -> None:
    """Find prompts that plateaued below their target; fine-tune a small model for them."""

    cfg = common.config()
    reports = plateau_check(common.project(), names or None)
    if as_json:
        common.print_json([r.to_dict() for r in reports])
    else:
        common.table("plateau check (eval history on branch " + cfg.escalate.branch + ")",
                     ["prompt", "model", "status", "why", "scores per version (oldest first)"],
                     [[r.prompt, r.model, r.status, r.reason(),
                       " → ".join(f"{s.version}:{100 * s.accuracy:.0f}%" for s in r.scores) or "–"] for r in reports])
    plateaued = any(r.status == PLATEAUED for r in reports)
    if check:
        # SystemExit, not typer.Exit: main() runs the app with standalone_mode=False, where click
        # turns typer.Exit into a return value that main() does not pass on
        raise SystemExit(3 if plateaued else 0)
    if not plateaued:
        _say("nothing has plateaued; nothing to escalate")
        return

    overrides = {k: v for k, v in (("epochs", epochs), ("max_steps", max_steps)) if v is not None}
    escalate_prompts(cfg, names or None, wait=wait or bool(auto_promote), auto_promote=auto_promote,
                     train_overrides=overrides, min_examples=min_examples, reports=reports,
                     on_event=_event_printer())


def _event_printer():
    """Render the escalation flow's events (promptops.escalate.events) as lines and tables."""

    progress = _progress_printer()

    def show(e: Any) -> None:
        if isinstance(e, ev.Exported):
            x = e.export
            dropped = ", ".join(f"{n} {w}" for w, n in sorted(x.dropped.items())) or "none"
            _say(f"{e.prompt}: exported {x.train} train + {x.val} validation examples to {x.out_dir} "
                 f"(version {x.version}; dropped: {dropped})")
        elif isinstance(e, ev.Estimated):
            common.table(f"{e.prompt}: is fine-tuning worth it? (estimate; step time: {e.estimate.step_source})",
                         ["", "prompt now", "fine-tuned (expected)"], e.estimate.rows())
        elif isinstance(e, ev.JobStarted):
            _say(f"{e.prompt}: started job {e.job.id} (log {e.job.log_path}); "
                 f"follow it with: promptops jobs show {e.job.id}")
        elif isinstance(e, ev.JobProgress):
            progress(e.job)
        elif isinstance(e, ev.JobEnded) and e.job.status != "succeeded":
            _say(f"{e.prompt}: job {e.job.id} {e.job.status}: {e.job.error or ''}")
        elif isinstance(e, ev.Compared):
            common.table(f"{e.prompt}: prompt engineering vs fine-tuning "
                         f"(measured on {e.comparison['cases']} suite cases)",
                         ["", "best prompt", "fine-tuned"], comparison_rows(e.comparison))
        elif isinstance(e, ev.Promoted):
            d = e.deployment
            _say(f"{e.prompt}@{e.env} -> {d.version} on {d.model} (deployment #{d.id})")
        elif isinstance(e, ev.NotPromoted):
            _say(f"{e.prompt}: not promoted: {e.reason}")

    return show


def export(
    name: str = typer.Argument(..., help="Prompt name."),
    out: Optional[str] = typer.Option(None, "--out", help="Folder (default: datasets/finetune/NAME)."),
    version: Optional[str] = typer.Option(None, "--version", help="Render with this version (default: the best scored)."),
    min_examples: Optional[int] = typer.Option(None, "--min-examples", help="Refuse sets smaller than this (default: escalate.min_examples)."),
    val_fraction: float = typer.Option(0.2, "--val-fraction", help="Share held out for validation."),
    seed: int = typer.Option(0, "--seed", help="Seed of the train/validation split."),
) -> None:
    """Build a chat-JSONL fine-tuning set from the prompt's logged calls and their feedback."""
    res = export_examples(common.project(), name, out=out, version=version, min_examples=min_examples,
                          val_fraction=val_fraction, seed=seed)
    counts = res.manifest["counts"]
    _say(f"{name}: {res.train} train + {res.val} validation examples -> {res.out_dir} (version {res.version}; "
         f"{counts['corrected']} corrected, {counts['rated_good']} rated good, from {counts['logged_calls']} logged calls)")
    for why, n in sorted(res.dropped.items()):
        _say(f"  dropped {n}: {why}")


def finetune(
    name: str = typer.Argument(..., help="Prompt name (the job is recorded under it)."),
    dataset: Optional[str] = typer.Option(None, "--dataset", help="Chat JSONL file, or a folder with train.jsonl/val.jsonl."),
    base: Optional[str] = typer.Option(None, "--base", help="Base model (default local/smollm2)."),
    epochs: Optional[int] = typer.Option(None, "--epochs"),
    r: Optional[int] = typer.Option(None, "--r", help="LoRA rank."),
    alpha: Optional[int] = typer.Option(None, "--alpha", help="LoRA alpha."),
    dropout: Optional[float] = typer.Option(None, "--dropout", help="LoRA dropout."),
    target_modules: Optional[str] = typer.Option(None, "--target-modules", help="Comma-separated, e.g. q_proj,v_proj."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Peak learning rate."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="linear, cosine or constant."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size"),
    grad_accum: Optional[int] = typer.Option(None, "--grad-accum"),
    weight_decay: Optional[float] = typer.Option(None, "--weight-decay"),
    patience: Optional[int] = typer.Option(None, "--patience", help="Early-stopping patience (0 = off)."),
    folds: Optional[int] = typer.Option(None, "--folds", help="K-fold cross-validation first (spread across folds)."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps"),
    seed: Optional[int] = typer.Option(None, "--seed"),
    settings: List[str] = typer.Option([], "--set", metavar="KEY=VALUE", help="Any training setting (repeatable)."),
    wait: bool = typer.Option(False, "--wait", help="Follow the job until it ends."),
    resume: Optional[str] = typer.Option(None, "--resume", metavar="JOB_ID", help="Resume a failed or cancelled job."),
) -> None:
    """Start a LoRA fine-tune job in its own process; the adapter becomes local/<base>+<job id>."""

    cfg = common.config()
    if resume:
        job = jobs.resume(cfg, resume)
    else:
        if not dataset:
            raise typer.BadParameter("--dataset is required (or --resume JOB_ID)")
        flags = {"base": base, "epochs": epochs, "lora_r": r, "lora_alpha": alpha, "lora_dropout": dropout,
                 "target_modules": target_modules, "learning_rate": lr, "lr_scheduler": scheduler,
                 "batch_size": batch_size, "grad_accum": grad_accum, "weight_decay": weight_decay,
                 "early_stopping_patience": patience, "folds": folds, "max_steps": max_steps, "seed": seed}
        values: dict[str, Any] = {k: v for k, v in flags.items() if v is not None}
        for item in settings:
            key, sep, value = item.partition("=")
            if not sep:
                raise typer.BadParameter(f"--set {item!r}: expected KEY=VALUE")
            values[key.strip()] = value
        job = jobs.create(cfg, name, dataset, TrainConfig.from_dict(values, where="--set/flags"))
    _say(f"job {job.id} started (pid {job.pid}); model when done: {jobs.model_name(job.base_model, job.id)}; "
         f"log {job.log_path}")
    if wait:
        job = jobs.wait(cfg, job.id, on_update=_progress_printer())
        _show(job)
        if job.status != "succeeded":
            raise SystemExit(1)


def _progress_printer():
    last: dict[str, Any] = {"line": None}

    def update(job: Any) -> None:
        line = _progress_line(job)
        if line != last["line"]:
            last["line"] = line
            _say(line)

    return update


def _progress_line(job: Any) -> str:
    p = job.progress or {}
    parts = [f"{job.id} {job.status}"]
    if p.get("step") is not None:
        parts.append(f"step {p['step']}/{p.get('total_steps')}")
    if p.get("epoch") is not None:
        parts.append(f"epoch {p['epoch']:.2f}")
    if p.get("fold"):
        parts.append(f"fold {p['fold']}/{p.get('folds')}")
    if p.get("loss") is not None:
        parts.append(f"loss {p['loss']:.3f}")
    if p.get("val_loss") is not None:
        parts.append(f"val {p['val_loss']:.3f}")
    if p.get("eta_s") is not None and job.status == "running":
        parts.append(f"~{p['eta_s']:.0f} s left")
    if p.get("phase") and p["phase"] != "train":
        parts.append(f"({p['phase']})")
    return "  ".join(parts)


def _job_dict(job: Any) -> dict[str, Any]:
    m = {k: v for k, v in (job.metrics or {}).items() if k not in ("losses", "val_predictions", "estimate")}
    return {"id": job.id, "prompt": job.prompt, "status": job.status, "base_model": job.base_model,
            "model": (job.metrics or {}).get("model"), "dataset": job.dataset, "config": job.config,
            "progress": {k: v for k, v in (job.progress or {}).items() if k != "curve"}, "metrics": m,
            "error": job.error, "pid": job.pid, "log_path": job.log_path, "adapter_path": job.adapter_path,
            "created_at": job.created_at, "started_at": job.started_at, "finished_at": job.finished_at,
            "heartbeat_at": job.heartbeat_at}


@jobs_app.callback()
def jobs_list(
    ctx: typer.Context,
    prompt: Optional[str] = typer.Option(None, "--prompt", help="Only this prompt's jobs."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List fine-tune jobs (a job whose worker died is marked failed here)."""
    if ctx.invoked_subcommand is not None:
        return

    rows = jobs.list_jobs(common.config(), prompt=prompt, store=common.store())
    if as_json:
        common.print_json([_job_dict(j) for j in rows])
        return
    common.table(None, ["id", "prompt", "status", "progress", "model", "created", "error"],
                 [[j.id, j.prompt, j.status, _progress_line(j).split("  ", 1)[1] if "  " in _progress_line(j) else "",
                   (j.metrics or {}).get("model") or "", j.created_at.strftime("%Y-%m-%d %H:%M"),
                   (j.error or "")[:80]] for j in rows])


@jobs_app.command("show")
def jobs_show(job_id: str = typer.Argument(...), as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """A job's status, progress, loss curve, metrics and log tail."""

    job = jobs.get(common.config(), job_id, store=common.store())
    if as_json:
        common.print_json(_job_dict(job))
        return
    _show(job)


def _show(job: Any) -> None:
    m = job.metrics or {}
    _say(_progress_line(job))
    _say(f"prompt {job.prompt}  base {job.base_model}  dataset {job.dataset}")
    if m.get("model"):
        _say(f"model {m['model']}  adapter {job.adapter_path}")
    curve = jobs.loss_curve(job)
    if curve:
        _say(f"loss  {jobs.sparkline(curve)}  {curve[0]:.3f} → {curve[-1]:.3f} ({len(curve)} points)")
    evals = m.get("evals") or []
    if evals:
        _say("val   " + jobs.sparkline([e["val_loss"] for e in evals], 30) + "  "
             + ", ".join(f"{e['epoch']:.1f}:{e['val_loss']:.3f}" for e in evals[-6:]))
    keys = ("steps", "best_epoch", "best_val_loss", "stopped_early", "val_accuracy", "train_time_s", "wall_time_s",
            "examples_per_s", "peak_rss_mb", "resumed_from_step")
    shown = [f"{k} {_fmt(m[k])}" for k in keys if m.get(k) is not None]
    if shown:
        _say("  ".join(shown))
    if m.get("folds"):
        f = m["folds"]
        _say(f"{f['k']}-fold {f['metric']}: " + ", ".join(f"{s:.3f}" for s in f["scores"])
             + f"  (mean {f['mean']:.3f}, sd {f['std']:.3f})")
    for label, d in sorted((m.get("per_label") or {}).items()):
        if isinstance(d, dict):
            _say(f"  {label}: precision {_fmt(d.get('precision'))} recall {_fmt(d.get('recall'))} "
                 f"support {d.get('support')}")
    if job.error:
        _say(f"error: {job.error}")
    tail = jobs.log_tail(job, 5)
    if tail:
        _say("log: " + (job.log_path or ""))
        for line in tail:
            _say("  " + line)


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


@jobs_app.command("cancel")
def jobs_cancel(job_id: str = typer.Argument(...)) -> None:
    """Cancel a job; its worker stops at the next step and keeps a checkpoint."""

    job = jobs.cancel(common.config(), job_id, grace_s=5.0, store=common.store())
    _say(f"job {job.id} cancelled (resume: promptops jobs resume {job.id})")


@jobs_app.command("resume")
def jobs_resume(job_id: str = typer.Argument(...), wait: bool = typer.Option(False, "--wait")) -> None:
    """Rerun a failed or cancelled job from its last checkpoint."""

    cfg = common.config()
    job = jobs.resume(cfg, job_id)
    _say(f"job {job.id} resumed (pid {job.pid})")
    if wait:
        job = jobs.wait(cfg, job.id, on_update=_progress_printer())
        _show(job)
