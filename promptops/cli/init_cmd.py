"""promptops init: scaffold a working project."""

from __future__ import annotations

from pathlib import Path

import typer

from . import common


def register(app: typer.Typer) -> None:
    app.command("init")(init)


def init(folder: Path = typer.Argument(Path("."), help="Folder to set up (created if missing)."),
         force: bool = typer.Option(False, "--force", help="Overwrite existing files.")) -> None:
    """Create promptops.yaml, an example prompt and suite, .gitignore and the CI workflow."""
    from ..scaffold import init_project

    for path in init_project(folder, force=force):
        common.console().print(f"wrote {path}", markup=False)
    common.console().print("next: promptops list; promptops eval; git add -A && git commit", markup=False)
