"""finetune, jobs: LoRA jobs by hand, followed, shown, cancelled and resumed."""

from __future__ import annotations

import dataclasses
import time
from typing import Any, List, Optional

import typer

from ..errors import PromptopsError
from ..escalate import check as plateau_check
from ..escalate.estimate import base_latency, versus_measured
from ..escalate.estimate import estimate as estimate_job
from ..escalate.flow import chosen
from ..escalate.measure import DEFAULT_STEPS, measure
from ..finetune import TrainConfig, jobs
from . import common

jobs_app = typer.Typer(name="jobs", help="Fine-tune jobs: list, show, cancel, resume.", invoke_without_command=True)


def register(app: typer.Typer) -> None:
    app.command("finetune")(finetune)
    app.add_typer(jobs_app, name="jobs")


def _say(text: str) -> None:
    common.console().print(text, markup=False)


def _show_estimate(prompt: str, est: Any) -> None:
    common.table(f"{prompt}: is fine-tuning worth it? (estimate; step time: {est.step_source})",
                 ["", "prompt now", "fine-tuned (expected)"], est.rows())
    plan = est.max_length or {}
    if plan.get("truncated"):
        _warn(f"warning: {plan['truncated']} of {plan['examples']} training example(s) are longer than max_length "
              f"{plan['max_length']} tokens (longest {plan['longest']}) and lose the start of their prompt "
              f"(raise it with --set max_length={plan['longest']})")


def _show_versus(job: Any) -> None:
    rows = versus_measured(job)
    if rows:
        common.table(f"job {job.id}: the estimate beside what was measured", ["", "estimated", "measured"], rows)


def _warn(text: str) -> None:
    common.err_console().print(text, markup=False, style="yellow")


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
    measure_steps: Optional[int] = typer.Option(None, "--measure-steps", min=0,
                                                help="Real training steps timed for the estimate before the job "
                                                     "(default 3; 0 = do not measure)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress lines while the job runs."),
    backend: Optional[str] = typer.Option(None, "--backend", help="local or ray (default: finetune.backend)."),
    cpus: Optional[float] = typer.Option(None, "--cpus", min=0, help="CPUs the worker needs (ray backend)."),
    gpus: Optional[int] = typer.Option(None, "--gpus", min=0, help="GPUs the worker needs; >1: data parallel."),
    memory_gb: Optional[float] = typer.Option(None, "--memory", min=0, metavar="GB", help="Memory the worker needs."),
    processes: Optional[int] = typer.Option(None, "--processes", min=1,
                                            help="Data-parallel processes (accelerate launch; default: one per GPU asked for)."),
    as_json: bool = typer.Option(False, "--json", help="With --wait: print the whole job record as JSON."),
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
        tc = TrainConfig.from_dict(values, where="--set/flags")
        tc, est = _estimate_manual(name, dataset, tc, measure_steps, quiet or as_json, show=not as_json)
        resources = {k: v for k, v in {"cpus": cpus, "gpus": gpus, "memory_gb": memory_gb,
                                       "processes": processes}.items() if v}
        job = jobs.create(cfg, name, dataset, tc, extra={"estimate": est.to_dict()}, backend=backend,
                          resources=resources or None)
    where = f"Ray job {(job.metrics or {}).get('ray', {}).get('job_id')}" if (job.metrics or {}).get("ray") \
        else f"pid {job.pid}"
    (common.err_console().print if as_json else _say)(
        f"job {job.id} started ({where}); model when done: {jobs.model_name(job.base_model, job.id)}; "
        f"log {job.log_path}", **({"markup": False} if as_json else {}))
    if wait:
        job = jobs.wait(cfg, job.id, on_update=None if as_json else _progress_printer(quiet))
        if as_json:
            common.print_json(_job_dict(job, full=True))
        else:
            _show(job)
        if job.status != "succeeded":
            raise SystemExit(1)


def _estimate_manual(name: str, dataset: str, tc: TrainConfig, steps: Optional[int], quiet: bool,
                     show: bool = True) -> Any:
    """(train config with max_length chosen, estimate) for `finetune`: the probe and the table the
    escalation flow shows, beside the prompt's best scored version when there is one."""
    train_path, val_path = jobs.dataset_files(dataset)
    n = sum(1 for line in train_path.read_text(encoding="utf-8").splitlines() if line.strip())
    steps = DEFAULT_STEPS if steps is None else steps
    if steps and not quiet:
        _say(f"{name}: timing {steps} real training step(s) on this machine for the estimate")
    probe = measure(tc, train_path, val_path, steps=steps)
    if probe.lengths is not None:
        tc = dataclasses.replace(tc, max_length=probe.lengths.max_length)
    try:
        reports = plateau_check(common.project(), [name])
    except PromptopsError:  # a job for a name with no prompt file: no accuracy to set it beside
        reports = []
    best = chosen(reports, force=True)
    est = estimate_job(prompt=name, train_path=train_path, examples=n, train_config=tc,
                       plateau=best[0] if best else None, store=common.store(),
                       base_latency_ms=base_latency(reports, tc.base), measured=probe)
    if show:
        _show_estimate(name, est)
    return tc, est


NOT_A_TERMINAL_EVERY_S = 30.0  # piped or logged output: a line per status/phase change, else one per 30 s


def _progress_printer(quiet: bool = False, *, is_terminal: bool | None = None, clock: Any = time.monotonic):
    """on_update(job) for jobs.wait: a line when the progress line changes; when the output is not a
    terminal, only when the status or phase changes or every 30 s (a log, not a line per poll);
    nothing under ``quiet`` but the final status."""
    tty = common.console().is_terminal if is_terminal is None else is_terminal
    last: dict[str, Any] = {"line": None, "key": None, "at": None}

    def update(job: Any) -> None:
        line = _progress_line(job)
        key = (job.status, (job.progress or {}).get("phase"), (job.progress or {}).get("fold"))
        if line == last["line"] or (quiet and job.status not in jobs.FINAL):
            return
        now = clock()
        if not tty and key == last["key"] and last["at"] is not None and now - last["at"] < NOT_A_TERMINAL_EVERY_S:
            return
        last.update(line=line, key=key, at=now)
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


def _job_dict(job: Any, full: bool = False) -> dict[str, Any]:
    """A job as JSON; ``full``: the whole record (loss curve, losses, predictions, estimate included)."""
    drop = () if full else ("losses", "val_predictions", "estimate")
    m = {k: v for k, v in (job.metrics or {}).items() if k not in drop}
    ray = (job.metrics or {}).get("ray") or {}
    return {"id": job.id, "prompt": job.prompt, "status": job.status, "base_model": job.base_model,
            "model": (job.metrics or {}).get("model"), "dataset": job.dataset, "config": job.config,
            "backend": (job.metrics or {}).get("backend") or "local", "ray_job_id": ray.get("job_id"),
            "node": ray.get("node_id") or (job.metrics or {}).get("host"),
            "artifact_url": (job.metrics or {}).get("artifact_url"),
            "progress": {k: v for k, v in (job.progress or {}).items() if full or k != "curve"}, "metrics": m,
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
        common.print_json(_job_dict(job, full=True))
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
    plan = m.get("max_length") if isinstance(m.get("max_length"), dict) else None
    if plan and plan.get("truncated"):
        _say(f"warning: {plan['truncated']} of {plan['examples']} examples were cut to max_length "
             f"{plan['max_length']} tokens (longest {plan['longest']})")
    if job.status == "succeeded":
        _show_versus(job)
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
def jobs_resume(job_id: str = typer.Argument(...), wait: bool = typer.Option(False, "--wait"),
                quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress lines while the job runs.")) -> None:
    """Rerun a failed or cancelled job from its last checkpoint."""

    cfg = common.config()
    job = jobs.resume(cfg, job_id)
    ray_id = ((job.metrics or {}).get("ray") or {}).get("job_id")
    _say(f"job {job.id} resumed ({f'Ray job {ray_id}' if ray_id else f'pid {job.pid}'})")
    if wait:
        job = jobs.wait(cfg, job.id, on_update=_progress_printer(quiet))
        _show(job)
