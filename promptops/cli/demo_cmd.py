"""promptops demo: the whole loop on the embedded model, in a scratch project."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from . import common


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    workdir: Optional[Path] = typer.Option(
        None, "--workdir",
        help="Scratch project, replaced at each run (default: .promptops/demo in the project found from the "
             "current folder, else in the current folder itself)."),
    quick: bool = typer.Option(False, "--quick", help="Smaller suite and shorter training, for a fast look."),
) -> None:
    """Run the loop end to end on real data with the embedded model (no network; the data ships with promptops)."""
    from ..demo import run_demo  # the demo pulls in the server (FastAPI): not on the path of --help

    cfg = common.config()
    # outside any project the root found is the current folder, so this is ./.promptops/demo there
    run_demo(workdir=workdir or cfg.state_path / "demo", quick=quick,
             say=lambda text: common.console().print(text, markup=False), table=common.table)
