"""compare: two versions or models of one prompt, paired on the same suite cases."""

from __future__ import annotations

import typer

from ..escalate.compare import compare_specs, comparison_rows
from . import common


def register(app: typer.Typer) -> None:
    app.command("compare")(compare)


def compare(
    first: str = typer.Argument(..., metavar="NAME@A/MODEL", help="The first side: a version (or ref, label) and "
                                                                 "a model; NAME/MODEL is the working tree."),
    second: str = typer.Argument(..., metavar="NAME@B/MODEL", help="The second side, of the same prompt."),
    no_eval: bool = typer.Option(False, "--no-eval", help="Use stored evals only; refuse when a side has none."),
    as_json: bool = typer.Option(False, "--json", help="Print the comparison as JSON."),
) -> None:
    """Two versions or models of a prompt side by side, paired on the same suite cases (McNemar)."""
    cmp = compare_specs(common.project(), first, second, run_missing=not no_eval)
    if as_json:
        common.print_json(cmp)
        return
    common.table(f"{cmp['prompt']}: {first} vs {second} (paired on {cmp['cases']} suite cases)",
                 ["", first, second], comparison_rows(cmp))
    d = cmp["paired"]
    if d["mcnemar_p"] < d["alpha"]:
        better = second if d["delta"] > 0 else first
        verdict = f"{better} is significantly better (p = {d['mcnemar_p']:.2g} < alpha {d['alpha']})"
    else:
        verdict = f"no significant difference (p = {d['mcnemar_p']:.2g}, alpha {d['alpha']})"
    common.console().print(verdict, markup=False)
