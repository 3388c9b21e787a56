"""escalate, export: from a plateaued prompt to a fine-tuned model (finetune and jobs: :mod:`.jobs_cmd`)."""

from __future__ import annotations

from typing import Any, List, Optional

import typer

from ..escalate import DECLINED, DUE
from ..escalate import check as plateau_check
from ..escalate import events as ev
from ..escalate import export as export_examples
from ..escalate.flow import chosen, comparison_rows
from ..escalate.flow import escalate as escalate_prompts
from . import common
from .jobs_cmd import _progress_printer, _say, _show_estimate, _show_versus


def register(app: typer.Typer) -> None:
    app.command("escalate")(escalate)
    app.command("export")(export)


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


