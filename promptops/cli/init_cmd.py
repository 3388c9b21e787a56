"""promptops init: scaffold a working project."""

from __future__ import annotations

from pathlib import Path

import typer

from ..scaffold import init_project
from . import common


def register(app: typer.Typer) -> None:
    app.command("init")(init)


def init(folder: Path = typer.Argument(Path("."), help="Folder to set up (created if missing)."),
         force: bool = typer.Option(False, "--force", help="Overwrite existing files.")) -> None:
    """Create promptops.yaml, an example prompt and suite, .gitignore and the CI workflow."""

    for path in init_project(folder, force=force):
        common.console().print(f"wrote {path}", markup=False)
    common.console().print("next: promptops list; promptops eval (a new repository starts on branch main, "
                           "with the scaffold as its first commit when git knows who you are)", markup=False)
