"""optimize: automatic prompt moves (few-shot sets, dynamic few-shot, rewrites) scored on validation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from .._util.fs import atomic_write
from ..optimize import optimize as run_optimize
from . import common


def register(app: typer.Typer) -> None:
    app.command("optimize")(optimize)


def optimize(
    name: str = typer.Argument(..., help="The prompt to optimize (its working-tree file)."),
    train: str = typer.Option(..., "--train", metavar="DATA", help="A suite-format file or folder of examples with "
                                                                  "'expected', or 'logged' (the prompt's logged calls "
                                                                  "with feedback)."),
    models: Optional[List[str]] = typer.Option(None, "--models", "-m", help="Models to score on (default: the "
                                                                           "prompt's)."),
    budget: Optional[int] = typer.Option(None, "--budget", min=1, help="Most model calls the search may make."),
    optimizer: Optional[str] = typer.Option(None, "--optimizer", help="A model that rewrites the instruction from "
                                                                      "the failures (skipped for local/ models)."),
    k: Optional[List[int]] = typer.Option(None, "--k", help="Dynamic few-shot sizes to try (default 2, 4, 8)."),
    select: str = typer.Option("similar", "--select", help="Dynamic selection: similar, random or fixed."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Score the candidates, write nothing."),
    json_path: Optional[Path] = typer.Option(None, "--json", metavar="PATH", help="Write the result as JSON to PATH."),
) -> None:
    """Search few-shot sets, dynamic few-shot and rewrites on a validation split; write the best as a new version."""
    if select not in ("similar", "random", "fixed"):
        raise typer.BadParameter("similar, random or fixed", param_hint="--select")
    result = run_optimize(common.project(), name, train, models=models, budget=budget, optimizer=optimizer,
                          ks=tuple(k) if k else (2, 4, 8), select=select, write=not dry_run)
    rows = [[s.name, s.version, f"{common.pct(s.accuracy)} [{common.pct(s.ci_low)}, {common.pct(s.ci_high)}]",
             f"{s.passed}/{s.total}", str(s.calls), str(s.tokens), "best" if s is result.best else ""]
            for s in result.scored]
    common.table(f"{result.prompt}: candidates on {result.val} validation cases ({result.train} to draw examples "
                 f"from; {result.source})", ["candidate", "version", "accuracy [95% CI]", "passed", "calls", "tokens",
                                             ""], rows)
    out = common.console()
    for note in result.notes:
        out.print(f"note: {note}", markup=False)
    out.print(f"search cost: {result.calls} calls, {result.tokens} tokens, {result.seconds:.1f} s", markup=False)
    if result.written:
        out.print(f"wrote {result.written} (version {result.written_version}, {result.best.name}); review it with "
                  "git diff, then commit and run promptops ci", markup=False)
    if json_path is not None:
        atomic_write(json_path, json.dumps(result.to_dict(), indent=2, default=str) + "\n")
