"""promptops ci: score the prompts a change touches, base vs head; comment and gate."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .._util.fmt import p_value
from .._util.fs import atomic_write
from ..ci import post_comment, render_error, run_ci
from ..errors import GateError, PromptopsError
from . import common
from .progress import BarProgress


def register(app: typer.Typer) -> None:
    app.command("ci")(ci_command)


def ci_command(
    base: str = typer.Option(..., "--base", "-b", help="Base ref (e.g. origin/main); the merge base with head is used."),
    head: Optional[str] = typer.Option(None, "--head", help="Head ref (default: HEAD)."),
    models: Optional[str] = typer.Option(None, "--models", "-m", help="Comma-separated models (default: each head prompt's)."),
    comment: Optional[str] = typer.Option(None, "--comment", help="Write the Markdown comment to this file."),
    post: bool = typer.Option(False, "--post", help="Post or update the comment on the pull request (GitHub Actions)."),
    fail_on: Optional[str] = typer.Option(None, "--fail-on", help="Gates, comma-separated: regression, below-min, "
                                          "below-target, drop; 'none' for no gate (default: promptops.yaml ci.fail_on)."),
    max_drop: Optional[float] = typer.Option(None, "--max-drop", min=0.0, max=1.0,
                                             help="Largest allowed accuracy drop for the 'drop' gate, 0..1."),
    alpha: Optional[float] = typer.Option(None, "--alpha", min=0.0, max=1.0, help="Significance level of the verdicts."),
    record: bool = typer.Option(False, "--record", help="Keep the head results as the current branch's eval history."),
    json_path: Optional[str] = typer.Option(None, "--json", help="Write the JSON result here ('-' for stdout)."),
    concurrency: Optional[int] = typer.Option(None, "--concurrency", "-j", min=1, help="Calls in flight at once."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Ignore the response cache."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Score base vs head of every touched prompt, write the PR comment, fail on gates."""

    model_list = [m.strip() for m in models.split(",") if m.strip()] if models else None
    try:
        cfg = common.config()
        progress = None
        if not quiet:
            progress = BarProgress(common.err_console())
        result = run_ci(cfg, base, head, models=model_list, fail_on=fail_on, max_drop=max_drop, alpha=alpha,
                        record=record, use_cache=not no_cache, concurrency=concurrency, progress=progress)
    except PromptopsError as exc:  # the comment says why, then the error ends the command (exit 2)
        _deliver(render_error(exc.one_line(), base=base, head=head), comment, post)
        raise
    to_stdout = json_path == "-"
    if not to_stdout:
        _print(result)
    if json_path:
        import json

        if to_stdout:
            common.print_json(result.to_dict())
        else:
            _write(json_path, json.dumps(result.to_dict(), indent=2, ensure_ascii=False, default=str) + "\n")
    _deliver(result.comment(), comment, post)
    if not result.passed:
        failed = result.gates_failed
        for reason in failed:
            common.err_console().print(f"gate failed: {reason}", markup=False, style="red")
        raise GateError(f"{len(failed)} CI gate{'s' * (len(failed) != 1)} failed (listed above)",
                        hint="fix the prompt, or change the gates: --fail-on / ci.fail_on in promptops.yaml")


def _print(result) -> None:
    out = common.console()
    if not result.reviews:
        out.print(f"no prompt or suite changed between {result.base} ({result.base_sha[:7]}) and "
                  f"{result.head} ({result.head_sha[:7]}): nothing to score", markup=False)
        return
    rows = []
    for review in result.reviews:
        for c in review.comparisons:
            delta = "–" if c.delta is None else f"{100 * c.delta:+.1f}"
            rows.append([review.name, c.model, common.pct(c.base_accuracy), common.pct(c.head_accuracy), delta,
                         p_value(c.p_value), c.verdict, len(c.newly_failing), len(c.newly_passing),
                         c.new_cases or "", "gate" if c.gates_failed else ""])
        if not review.comparisons:
            rows.append([review.name, "–", "–", "–", "–", "–", review.note or review.what, "", "", "", ""])
    merge = f" (merge base {result.base_sha[:7]})" if result.base_sha != result.base_ref_sha else ""
    common.table(f"{result.base}{merge} → {result.head}",
                 ["prompt", "model", "base", "head", "Δ pts", "p", "verdict", "newly failing", "newly passing",
                  "new cases", ""], rows)
    note = f"{result.calls} calls, {result.cached} cached, {result.duration_s:.1f} s"
    if result.recorded_branch:
        note += f"; head results recorded for branch {result.recorded_branch}"
    out.print(note, markup=False)


def _deliver(body: str, comment: str | None, post: bool) -> None:
    if comment:
        _write(comment, body)
        common.err_console().print(f"wrote {comment}", markup=False)
    if post:
        outcome = post_comment(body)
        if outcome.ok:
            common.err_console().print(f"{outcome.action} the pull request comment {outcome.url or ''}".rstrip(),
                                       markup=False)
        else:  # a GitHub problem does not change the verdict: warn and go on
            common.err_console().print(f"warning: could not post the pull request comment: {outcome.error}",
                                       markup=False, style="yellow")


def _write(path: str, text: str) -> None:
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, text)  # never a half-written file
    except OSError as exc:
        raise PromptopsError(f"cannot write: {exc.strerror or exc}", where=path) from None
