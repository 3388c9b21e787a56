"""promptops demo: the whole loop on the embedded model, in a scratch project."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from . import common


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    workdir: Optional[Path] = typer.Option(None, "--workdir", help="Scratch project (default: .promptops/demo)."),
    quick: bool = typer.Option(False, "--quick", help="Smaller suite and shorter training, for a fast look."),
) -> None:
    """Run the loop end to end on real data with the embedded model (no network)."""
    from ..demo import run_demo

    cfg = common.config()
    run_demo(source_root=cfg.root, workdir=workdir or cfg.state_path / "demo", quick=quick,
             say=lambda text: common.console().print(text, markup=False), table=common.table)
