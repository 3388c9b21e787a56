"""promptops eval: score prompts on their suites and models.

Exit codes: 0 when every case passed (with ``--fail-under X``: when every prompt × model scored at
least X); 1 when a case failed or errored (or a score is below X); 2 for a usage, file or
configuration error; 130 when interrupted."""

from __future__ import annotations

from typing import List, Optional

import typer

from ..errors import GateError, PromptopsError
from ..eval.evaluate import evaluate
from ..eval.select import Selection
from ..reports import write_reports
from . import common
from .progress import BarProgress
from .summary import print_details, print_summary


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)


def eval_command(
    names: Optional[List[str]] = typer.Argument(None, help="Prompt names (NAME or NAME@REF); default: all."),
    models: Optional[str] = typer.Option(None, "--models", "-m", help="Comma-separated models (default: each prompt's)."),
    ref: Optional[str] = typer.Option(None, "--ref", help="Evaluate the prompts and suites as of this git ref."),
    repeat: int = typer.Option(1, "--repeat", min=1, max=100, help="Run each case N times (pass^k, consistency)."),
    concurrency: Optional[int] = typer.Option(None, "--concurrency", "-j", min=1, help="Calls in flight at once."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Ignore the response cache."),
    fail_under: Optional[str] = typer.Option(None, "--fail-under", metavar="X", help="Exit 1 only when an "
                                             "accuracy is below X (0..1, e.g. 0.9) instead of on any failed case."),
    filter: Optional[str] = typer.Option(None, "--filter", "-k", metavar="REGEX",
                                         help="Only cases whose id, description or vars match (partial run)."),
    tags: Optional[List[str]] = typer.Option(None, "--tag", "-t", help="Only cases with this tag or metadata "
                                             "key[=value] (repeatable: any of them; partial run)."),
    max_cases: Optional[int] = typer.Option(None, "--max-cases", metavar="N", help="At most N cases per prompt (partial run)."),
    sample: Optional[int] = typer.Option(None, "--sample", metavar="N", help="A random sample of N cases per prompt "
                                         "(partial run)."),
    seed: int = typer.Option(0, "--seed", help="Seed of --sample."),
    failing: bool = typer.Option(False, "--failing", help="Only cases that failed or errored in their latest stored "
                                 "run of this version and model (partial run)."),
    json_path: Optional[str] = typer.Option(None, "--json", help="Write the JSON report here."),
    markdown_path: Optional[str] = typer.Option(None, "--markdown", help="Write the Markdown report here."),
    html_path: Optional[str] = typer.Option(None, "--html", help="Write the HTML report here."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar, no failing-case details."),
) -> None:
    """Score prompts against their regression suites on several models."""

    threshold = parse_fail_under(fail_under)
    selection = Selection(filter=filter, tags=list(tags or []), failing=failing, sample=sample, seed=seed,
                          max_cases=max_cases)
    progress = None if quiet else BarProgress(common.err_console(), eager=True)
    try:
        common.config()  # a bad promptops.yaml fails here, before anything runs
        model_list = [m.strip() for m in models.split(",") if m.strip()] if models else None
        report = evaluate(common.project(), names or None, models=model_list, ref=ref, repeat=repeat,
                          concurrency=concurrency, use_cache=not no_cache, progress=progress, selection=selection)
    finally:
        if progress is not None:
            progress.finish()
    print_summary(report)
    if not quiet:
        print_details(report)
    for path in write_reports(report, json_path=json_path, markdown_path=markdown_path, html_path=html_path):
        common.err_console().print(f"wrote {path}", markup=False)
    check_outcome(report, threshold)


def parse_fail_under(text: str | None) -> float | None:
    """``--fail-under``: a fraction 0..1. A percent (``90``, ``90%``) is refused with the fraction to write."""
    if text is None:
        return None
    raw = text.strip()
    try:
        value = float(raw.rstrip("%"))
    except ValueError:
        raise PromptopsError(f"--fail-under: not a number: {text!r}", where="command line",
                             hint="give the accuracy as a fraction 0..1, e.g. --fail-under 0.9") from None
    if raw.endswith("%") or not 0.0 <= value <= 1.0:
        hint = f"--fail-under {value / 100:g}" if 1.0 < value <= 100.0 else "e.g. --fail-under 0.9"
        raise PromptopsError(f"--fail-under takes a fraction 0..1, not {text!r}", where="command line",
                             hint=f"write {hint}")
    return value


def check_outcome(report, threshold: float | None) -> None:
    """Exit 1 (:class:`GateError`) when a case failed or errored, or with ``threshold`` when a score is below it."""
    summaries = report.summaries
    if threshold is not None:
        low = [s for s in summaries if s.accuracy < threshold]
        if low:
            listed = ", ".join(f"{s.prompt} on {s.model} {common.pct(s.accuracy)}" for s in low)
            raise GateError(f"accuracy below --fail-under {common.pct(threshold)}: {listed}",
                            hint="see the failing cases above")
        return
    failed = sum(s.failed for s in summaries)
    errors = sum(s.errors for s in summaries)
    if failed or errors:
        total = sum(s.total for s in summaries)
        parts = [f"{failed} failed"] if failed else []
        parts += [f"{errors} errored"] if errors else []
        raise GateError(f"{' and '.join(parts)} of {total} results (listed above)",
                        hint="fix them, or gate on accuracy instead: --fail-under 0.9")
