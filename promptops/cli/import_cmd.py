"""promptops import: bring suites written for other tools into this project."""

from __future__ import annotations

from pathlib import Path

import typer

from ..importers import import_promptfoo
from . import common

import_app = typer.Typer(name="import", no_args_is_help=True,
                         help="Import suites written for other tools (promptfoo) as prompts, datasets and models.")


def register(app: typer.Typer) -> None:
    app.add_typer(import_app, name="import")


@import_app.command("promptfoo")
def promptfoo(config: Path = typer.Argument(..., help="The promptfoo config (promptfooconfig.yaml)."),
              out: Path = typer.Option(Path("."), "--out", help="Project folder to write into (default: here)."),
              name: str = typer.Option(None, "--name", help="Name of the suite file (default: from the description)."),
              force: bool = typer.Option(False, "--force", help="Overwrite prompts and datasets already there.")) -> None:
    """Write prompts/, datasets/ and promptops.yaml models from a promptfoo config; list what was not imported."""
    result = import_promptfoo(config, out, name=name, force=force)
    console = common.console()
    for path in result.written:
        console.print(f"wrote {path}", markup=False)
    console.print(f"imported {len(result.prompts)} prompt(s), {len(result.models)} model(s), {result.cases} case(s)",
                  markup=False)
    for env in result.env_to_set:
        console.print(f"set {env}: the config had an API key written in it, which was not copied", markup=False)
    if result.not_imported:
        console.print(f"not imported ({len(result.not_imported)}):", markup=False)
        for line in result.not_imported:
            console.print(f"  - {line}", markup=False)
    else:
        console.print("not imported: nothing", markup=False)
    for note in result.notes:
        console.print(f"note: {note}", markup=False)
    console.print(f"report: {result.report}; next: promptops eval", markup=False)
