"""promote, rollback, deployments, keys: environment labels behind eval gates, and server API keys."""

from __future__ import annotations

from typing import Optional

import typer

from .. import deploy
from ..deploy.canary import split_of
from ..errors import PromptopsError
from . import common

keys_app = typer.Typer(name="keys", no_args_is_help=True, help="Server API keys: create, list, revoke.")


def register(app: typer.Typer) -> None:
    app.command("promote")(promote)
    app.command("rollback")(rollback)
    app.command("deployments")(deployments)
    app.add_typer(keys_app, name="keys")


def promote(
    spec: str = typer.Argument(..., help="NAME@REF: a version prefix, commit, branch, tag or label."),
    to: str = typer.Option(..., "--to", help="Environment label to move (production, staging, ...)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Model to serve it on (default: the prompt's)."),
    reason: str = typer.Option("", "--reason", help="Why; kept in the store and the git tag."),
    force: bool = typer.Option(False, "--force", help="Promote even below the eval gate (recorded)."),
    actor: Optional[str] = typer.Option(None, "--actor", help="Who (default: git user.name, then $USER)."),
    canary: Optional[float] = typer.Option(None, "--canary", metavar="PERCENT",
                                           help="Serve it to this percent of the label's traffic (sticky per "
                                                "user), the current version the rest; see 'promptops canary'."),
) -> None:
    """Point an environment label at a prompt version, if its eval score passes the gate."""

    cfg = common.config()
    name = spec.partition("@")[0].strip()
    before = deploy.current(cfg, name, to)
    row = deploy.promote(cfg, spec, to, model=model, reason=reason, force=force, actor=actor, canary=canary)
    if before is not None and before.id == row.id:
        common.console().print(f"{name}@{to} already serves {row.version} on {row.model}; nothing changed",
                               markup=False)
        return
    score = "no eval" if row.score is None else common.pct(row.score)
    gate = "no threshold" if row.threshold is None else f"threshold {common.pct(row.threshold)}"
    forced = " (FORCED past the gate)" if row.forced else ""
    split = "" if row.canary_percent is None else (
        f" for {row.canary_percent:g}% of requests as a canary ({before.version} on {before.model} serves the rest)"
        if before is not None else "")
    common.console().print(
        f"{name}@{to} -> {row.version} on {row.model}{split} (commit {(row.commit or '')[:10]}; score {score}, {gate})"
        f"{forced}; tag {deploy.tag_name(name, to)}; deployment #{row.id}", markup=False)


def rollback(
    name: str = typer.Argument(..., help="Prompt name."),
    env: str = typer.Option(..., "--env", "--to", help="Environment label to move back."),
    reason: str = typer.Option("", "--reason", help="Why; kept in the store and the git tag."),
    actor: Optional[str] = typer.Option(None, "--actor", help="Who (default: git user.name, then $USER)."),
) -> None:
    """Return an environment label to the version and model it had before its latest move."""

    row = deploy.rollback(common.config(), name, env, actor=actor, reason=reason)
    common.console().print(f"{name}@{env} -> {row.version} on {row.model} (commit {(row.commit or '')[:10]}; "
                           f"rolled back deployment #{row.rollback_of}); deployment #{row.id}", markup=False)


def deployments(
    name: Optional[str] = typer.Argument(None, help="Prompt name (default: every prompt)."),
    env: Optional[str] = typer.Option(None, "--env", help="Only this environment."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Current labels of every prompt and environment, and the full history of label moves."""

    cfg = common.config()
    history = deploy.deployments(cfg, name, env)
    seen: dict[tuple[str, str], object] = {}
    for row in history:
        seen.setdefault((row.prompt, row.env), row)
    current = [seen[k] for k in sorted(seen)]
    if as_json:
        common.print_json({"current": [r.model_dump(mode="json") for r in current],
                           "history": [r.model_dump(mode="json") for r in history]})
        return
    if not history:
        common.console().print("no deployments yet (promptops promote NAME@REF --to ENV)", markup=False)
        return
    store = common.store()
    splits = {r.id: split_of(store, r) for r in current if r.canary_percent is not None}
    rows = []
    for r in current:
        if r.id in splits:
            stable = splits[r.id].stable
            rows.append([r.prompt, r.env, f"{stable.version} {100 - r.canary_percent:g}% | {r.version} "
                         f"{r.canary_percent:g}% (canary)", stable.model if stable.model == r.model
                                                                     else f"{stable.model} | {r.model}",
                         common.pct(r.score), _when(r), r.actor])
        else:
            rows.append([r.prompt, r.env, r.version, r.model, common.pct(r.score), _when(r), r.actor])
    common.table("current labels", ["prompt", "env", "version", "model", "score", "since", "by"], rows)
    common.table("history (newest first)", ["#", "when", "prompt", "env", "version", "model", "score", "by", "reason"],
                 [[r.id, _when(r), r.prompt, r.env, r.version, r.model, common.pct(r.score), r.actor,
                   " ".join(x for x in (_note(r), r.reason) if x)] for r in history])


def _when(row) -> str:
    return row.created_at.strftime("%Y-%m-%d %H:%M")


def _note(row) -> str:
    if row.rollback_of is not None:
        return f"(rollback of #{row.rollback_of})"
    if row.canary_percent is not None:
        return f"(canary {row.canary_percent:g}%, rest on #{row.canary_base})"
    if row.canary_end is not None:
        return f"(finishes canary #{row.canary_end})"
    return "(FORCED)" if row.forced else ""


@keys_app.command("create")
def keys_create(
    scope: str = typer.Option(..., "--scope", help="read, write or admin."),
    name: str = typer.Option("", "--name", help="A label for the key (who or what uses it)."),
) -> None:
    """Create an API key; it is printed once, only its hash is stored."""
    from ..store.models import KEY_SCOPES

    if scope not in KEY_SCOPES:
        raise PromptopsError(f"unknown scope '{scope}'", where="--scope", hint=f"one of {', '.join(KEY_SCOPES)}")
    plain, row = common.store().create_api_key(scope, name)
    common.err_console().print(f"key #{row.id} ({row.scope}{', ' + row.name if row.name else ''}); "
                               "store it now, it is not shown again:", markup=False)
    print(plain)


@keys_app.command("list")
def keys_list(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """API keys (never the key itself: id, name, prefix, scope, created, revoked)."""

    from ..store.models import ApiKeyPublic

    rows = [ApiKeyPublic.model_validate(k, from_attributes=True) for k in common.store().list_api_keys()]
    if as_json:
        common.print_json([r.model_dump(mode="json") for r in rows])
        return
    common.table(None, ["id", "name", "prefix", "scope", "created", "revoked"],
                 [[r.id, r.name, r.prefix + "…", r.scope, r.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                   "yes" if r.revoked else ""] for r in rows])


@keys_app.command("revoke")
def keys_revoke(key_id: int = typer.Argument(..., help="Key id (from 'promptops keys list').")) -> None:
    """Revoke an API key; requests with it are refused from now on."""
    row = common.store().revoke_api_key(key_id)
    common.console().print(f"revoked key #{row.id} ({row.prefix}…, {row.scope})", markup=False)
