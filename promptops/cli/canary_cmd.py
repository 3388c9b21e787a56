"""canary: compare a running canary with the stable version on feedback; finish or abort it."""

from __future__ import annotations

from typing import Optional

import typer

from .. import deploy
from ..deploy import canary as canaries
from ..errors import PromptopsError
from . import common


def register(app: typer.Typer) -> None:
    app.command("canary")(canary)


def canary(
    name: str = typer.Argument(..., help="Prompt name."),
    env: str = typer.Option("production", "--env", help="Environment label running the canary."),
    promote: bool = typer.Option(False, "--promote", help="Finish the rollout: the canary serves everyone."),
    abort: bool = typer.Option(False, "--abort", help="Roll the canary back: the stable version serves everyone."),
    reason: str = typer.Option("", "--reason", help="Why (with --promote or --abort); kept in the store and tag."),
    actor: Optional[str] = typer.Option(None, "--actor", help="Who (default: git user.name, then $USER)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Compare a canary with the stable version on feedback; --promote finishes it, --abort rolls it back."""
    if promote and abort:
        raise PromptopsError("give --promote or --abort, not both", where="--promote/--abort")
    cfg = common.config()
    if promote or abort:
        move = canaries.finish if promote else canaries.abort
        row = move(cfg, name, env, actor=actor, reason=reason, store=common.store())
        if as_json:
            common.print_json(row.model_dump(mode="json"))
            return
        what = "finished: serves everyone" if promote else f"aborted: back to {row.version}"
        common.console().print(f"{name}@{env} canary {what} on {row.model} (deployment #{row.id}; tag "
                               f"{deploy.tag_name(name, env)})", markup=False)
        return
    result = canaries.compare(cfg, name, env, store=common.store())
    if as_json:
        common.print_json(result.to_dict())
        return
    rows = []
    for title, side in (("stable", result.stable), (f"canary {result.percent:g}%", result.canary)):
        rate = "-" if side.rate is None else f"{common.pct(side.rate)} [{common.pct(side.low)}, {common.pct(side.high)}]"
        rows.append([title, side.version, side.model, side.calls, side.rated, rate])
    common.table(f"{name}@{env}: calls since {result.since[:19]}", ["side", "version", "model", "calls", "rated",
                                                                   "good (95% Wilson)"], rows)
    line = f"canary is {result.verdict} (two-proportion z = {result.z:+.2f}, p = {result.p_value:.3g})"
    if result.more_rated_calls is not None:
        line += (f"; a difference this size needs about {result.needed_per_side} rated calls per side, "
                 f"about {result.more_rated_calls} more rated calls at this split")
    elif result.verdict == "not yet distinguishable":
        line += "; rate more calls of both sides (feedback) to tell them apart"
    common.console().print(line, markup=False)
