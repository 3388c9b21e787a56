"""promptops eval: score prompts on their suites and models."""

from __future__ import annotations

from typing import List, Optional

import typer

from ..eval.evaluate import evaluate
from ..reports import write_reports
from . import common
from .progress import BarProgress
from .summary import print_summary


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)


def eval_command(
    names: Optional[List[str]] = typer.Argument(None, help="Prompt names (NAME or NAME@REF); default: all."),
    models: Optional[str] = typer.Option(None, "--models", "-m", help="Comma-separated models (default: each prompt's)."),
    ref: Optional[str] = typer.Option(None, "--ref", help="Evaluate the prompts and suites as of this git ref."),
    repeat: int = typer.Option(1, "--repeat", min=1, max=100, help="Run each case N times (pass^k, consistency)."),
    concurrency: Optional[int] = typer.Option(None, "--concurrency", "-j", min=1, help="Calls in flight at once."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Ignore the response cache."),
    json_path: Optional[str] = typer.Option(None, "--json", help="Write the JSON report here."),
    markdown_path: Optional[str] = typer.Option(None, "--markdown", help="Write the Markdown report here."),
    html_path: Optional[str] = typer.Option(None, "--html", help="Write the HTML report here."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Score prompts against their regression suites on several models."""

    common.config()  # a bad promptops.yaml fails here, before anything runs
    model_list = [m.strip() for m in models.split(",") if m.strip()] if models else None
    progress = None if quiet else BarProgress(common.err_console())
    report = evaluate(common.project(), names or None, models=model_list, ref=ref, repeat=repeat, concurrency=concurrency,
                      use_cache=not no_cache, progress=progress)
    print_summary(report)
    for path in write_reports(report, json_path=json_path, markdown_path=markdown_path, html_path=html_path):
        common.err_console().print(f"wrote {path}", markup=False)
