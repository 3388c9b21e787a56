"""escalate, export, finetune, jobs: from a plateaued prompt to a fine-tuned model."""

from __future__ import annotations

import dataclasses
import time
from typing import Any, List, Optional

import typer

from ..errors import PromptopsError
from ..escalate import DECLINED, DUE
from ..escalate import check as plateau_check
from ..escalate import events as ev
from ..escalate import export as export_examples
from ..escalate.estimate import base_latency, versus_measured
from ..escalate.estimate import estimate as estimate_job
from ..escalate.flow import chosen, comparison_rows
from ..escalate.flow import escalate as escalate_prompts
from ..escalate.measure import DEFAULT_STEPS, measure
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


# exit codes of `escalate` (README: "Exit codes")
EXIT_ESCALATED = 0   # escalate: a job was started for every chosen prompt (with --wait: and it succeeded)
EXIT_DUE = 3         # --check: a prompt plateaued, escalation is due
EXIT_DECLINED = 4    # too little history to decide (and nothing plateaued): the output says what would change it
EXIT_NOTHING = 5     # escalate: nothing to do (targets met, still improving, no target)


def escalate(
    names: Optional[List[str]] = typer.Argument(None, help="Prompts (default: every prompt with a suite or target)."),
    check: bool = typer.Option(False, "--check", help="Only report: exit 0 nothing to do, 3 plateaued (escalation "
                                                      "due), 4 too little history (for CI)."),
    force: bool = typer.Option(False, "--force", help="Escalate the named prompts whatever the verdict (recorded "
                                                      "in the job)."),
    wait: bool = typer.Option(False, "--wait", help="Wait for the job, then evaluate and compare the adapter."),
    auto_promote: Optional[str] = typer.Option(None, "--auto-promote", metavar="ENV",
                                               help="Promote the fine-tuned model to ENV when it beats the prompt (implies --wait)."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="Training epochs."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Stop training after this many steps."),
    min_examples: Optional[int] = typer.Option(None, "--min-examples", help="Refuse sets smaller than this."),
    measure_steps: Optional[int] = typer.Option(None, "--measure-steps", min=0,
                                                help="Real training steps timed for the estimate before the job "
                                                     "(default 3; 0 = do not measure)."),
    as_json: bool = typer.Option(False, "--json", help="Print one decision per prompt x model as JSON (and what "
                                                       "was escalated)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress lines while the job runs."),
) -> None:
    """Find prompts that plateaued below their target; fine-tune a small model for them."""

    cfg = common.config()
    if force and not names:
        raise typer.BadParameter("--force needs the NAME of each prompt to escalate")
    if force and check:
        raise typer.BadParameter("--force and --check do not go together (--check only reports)")
    reports = plateau_check(common.project(), names or None)
    if check:
        if as_json:
            common.print_json([r.to_dict() for r in reports])
        else:
            _decisions(cfg, reports)
        # SystemExit, not typer.Exit: main() runs the app with standalone_mode=False, where click
        # turns typer.Exit into a return value that main() does not pass on
        actions = {r.action for r in reports}
        raise SystemExit(EXIT_DUE if DUE in actions else EXIT_DECLINED if DECLINED in actions else 0)
    todo = chosen(reports, force=force)
    if not as_json:
        _decisions(cfg, reports)
    if not todo:
        code = EXIT_DECLINED if any(r.action == DECLINED for r in reports) else EXIT_NOTHING
        if as_json:
            common.print_json([_decision_json(r, None) for r in reports])
        else:
            _say("nothing escalated: " + ("too little history to decide (see 'next' above), or force it with "
                                          "--force" if code == EXIT_DECLINED else "nothing has plateaued")
                 + f" (exit {code})")
        raise SystemExit(code)

    overrides = {k: v for k, v in (("epochs", epochs), ("max_steps", max_steps)) if v is not None}
    outcomes = escalate_prompts(cfg, names or None, wait=wait or bool(auto_promote), auto_promote=auto_promote,
                                train_overrides=overrides, min_examples=min_examples, reports=reports,
                                force=force, measure_steps=measure_steps,
                                on_event=(lambda e: None) if as_json else _event_printer(quiet=quiet))
    if as_json:
        by_key = {(o.prompt, o.plateau.model): o for o in outcomes}
        common.print_json([_decision_json(r, by_key.get((r.prompt, r.model))) for r in reports])
    else:
        for o in outcomes:
            for note in o.notes:
                _say(f"{o.prompt}: {note}")
    failed = any(o.job is not None and o.job.status in ("failed", "cancelled") for o in outcomes)
    raise SystemExit(1 if failed else EXIT_ESCALATED)


def _decisions(cfg: Any, reports: list) -> None:
    common.table("escalation decision per prompt x model (eval history on branch " + cfg.escalate.branch + ")",
                 ["prompt", "model", "status", "why", "next", "scores per version (oldest first)"],
                 [[r.prompt, r.model, r.status, r.reason() + "".join(f"; {n}" for n in r.decision.notes),
                   r.next_step(),
                   " → ".join(f"{s.version}:{100 * s.accuracy:.0f}%" for s in r.scores) or "–"] for r in reports])


def _decision_json(report: Any, outcome: Any) -> dict[str, Any]:
    out = report.to_dict()
    if outcome is None:
        out["escalated"] = None
        return out
    job = outcome.job
    out["escalated"] = {
        "forced": report.forced, "job": None if job is None else job.id,
        "job_status": None if job is None else job.status,
        "export": None if outcome.export is None else {"train": outcome.export.train, "val": outcome.export.val,
                                                       "path": str(outcome.export.out_dir),
                                                       "version": outcome.export.version},
        "estimate": None if outcome.estimate is None else outcome.estimate.to_dict(),
        "comparison": outcome.comparison,
        "promoted": None if outcome.promoted is None else {"version": outcome.promoted.version,
                                                           "model": outcome.promoted.model},
        "notes": outcome.notes}
    return out


def _event_printer(quiet: bool = False):
    """Render the escalation flow's events (promptops.escalate.events) as lines and tables."""

    progress = _progress_printer(quiet=quiet)

    def show(e: Any) -> None:
        if isinstance(e, ev.Exported):
            x = e.export
            dropped = ", ".join(f"{n} {w}" for w, n in sorted(x.dropped.items())) or "none"
            _say(f"{e.prompt}: exported {x.train} train + {x.val} validation examples to {x.out_dir} "
                 f"(version {x.version}; dropped: {dropped})")
        elif isinstance(e, ev.Measuring):
            if not quiet:
                _say(f"{e.prompt}: timing {e.steps} real training step(s) on this machine for the estimate")
        elif isinstance(e, ev.Estimated):
            _show_estimate(e.prompt, e.estimate)
        elif isinstance(e, ev.JobStarted):
            _say(f"{e.prompt}: started job {e.job.id} (log {e.job.log_path}); "
                 f"follow it with: promptops jobs show {e.job.id}")
        elif isinstance(e, ev.JobProgress):
            progress(e.job)
        elif isinstance(e, ev.JobEnded) and e.job.status != "succeeded":
            _say(f"{e.prompt}: job {e.job.id} {e.job.status}: {e.job.error or ''}")
        elif isinstance(e, ev.JobEnded):
            _show_versus(e.job)
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
    measure_steps: Optional[int] = typer.Option(None, "--measure-steps", min=0,
                                                help="Real training steps timed for the estimate before the job "
                                                     "(default 3; 0 = do not measure)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress lines while the job runs."),
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
        tc, est = _estimate_manual(name, dataset, tc, measure_steps, quiet)
        job = jobs.create(cfg, name, dataset, tc, extra={"estimate": est.to_dict()})
    _say(f"job {job.id} started (pid {job.pid}); model when done: {jobs.model_name(job.base_model, job.id)}; "
         f"log {job.log_path}")
    if wait:
        job = jobs.wait(cfg, job.id, on_update=_progress_printer(quiet))
        _show(job)
        if job.status != "succeeded":
            raise SystemExit(1)


def _estimate_manual(name: str, dataset: str, tc: TrainConfig, steps: Optional[int], quiet: bool) -> Any:
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
    _say(f"job {job.id} resumed (pid {job.pid})")
    if wait:
        job = jobs.wait(cfg, job.id, on_update=_progress_printer(quiet))
        _show(job)
