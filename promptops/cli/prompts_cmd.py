"""list, log, show, diff, render: prompts and their versions from git."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from .._util import yamlsafe
from ..diff import prompt_diff
from ..errors import RenderError
from ..suites import load_suite
from . import common


def register(app: typer.Typer) -> None:
    app.command("list")(list_prompts)
    app.command("log")(log)
    app.command("show")(show)
    app.command("diff")(diff)
    app.command("render")(render)


def list_prompts(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Every prompt with its current version, suite size and target."""

    cfg = common.config()
    rows = []
    for prompt in common.history().list_prompts():
        size = None
        if prompt.suite and (cfg.root / prompt.suite).exists():
            size = len(load_suite(cfg.root / prompt.suite))
        rows.append({"name": prompt.name, "version": prompt.version, "model": prompt.model or cfg.default_model,
                     "suite": prompt.suite, "cases": size, "target": prompt.target,
                     "description": prompt.description})
    if as_json:
        common.print_json(rows)
        return
    common.table(None, ["name", "version", "model", "cases", "target", "description"],
                 [[r["name"], r["version"], r["model"], r["cases"], common.pct(r["target"]), r["description"]]
                  for r in rows])


def log(name: str = typer.Argument(..., help="Prompt name."),
        as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Versions of a prompt from git history, newest first."""
    versions = common.history().versions(name)
    rows = []
    for v in versions:
        commits = [{"sha": c.sha, "date": c.date.isoformat(), "author": c.author, "message": c.message,
                    "path": c.path} for c in v.commits]
        rows.append({"version": v.version, "hash": v.hash, "working_tree": v.working_tree, "commits": commits})
    if as_json:
        common.print_json(rows)
        return
    table_rows = []
    for r in rows:
        if r["working_tree"]:
            table_rows.append([r["version"], "(working tree)", "", "", "uncommitted changes"])
        for c in r["commits"]:
            table_rows.append([r["version"], c["sha"][:10], c["date"][:19].replace("T", " "), c["author"], c["message"]])
    common.table(f"{name}: {len(rows)} version(s)", ["version", "commit", "date", "author", "message"], table_rows)


def show(spec: str = typer.Argument(..., help="NAME or NAME@REF (version prefix, commit, branch, tag, label)."),
         as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Show one version of a prompt."""
    resolved = common.history().resolve(spec)
    p = resolved.prompt
    if as_json:
        common.print_json({"name": p.name, "version": p.version, "hash": p.hash, "commit": resolved.commit,
                           "path": resolved.path, "front": p.front,
                           "messages": [{"role": s.role, "template": s.template.strip()} for s in p.sections]})
        return
    where = resolved.commit[:10] if resolved.commit else "working tree"
    common.console().print(f"# {p.name}@{p.version} ({where}, {resolved.path})", markup=False)
    common.console().print(p.to_text(), markup=False)


def diff(a: str = typer.Argument(..., help="NAME@A"), b: str = typer.Argument(None, help="NAME@B (default: working tree)")) -> None:
    """A readable diff of two versions of a prompt."""

    hist = common.history()
    left = hist.resolve(a)
    right = hist.resolve(b or left.name)
    text = prompt_diff(left, right)
    common.console().print(text or "(no difference)", markup=False)


def render(spec: str = typer.Argument(..., help="NAME or NAME@REF."),
           var: Optional[List[str]] = typer.Option(None, "--var", "-v", help="k=v (repeatable)."),
           vars_file: Optional[Path] = typer.Option(None, "--vars-file", help="JSON or YAML file of variables."),
           as_json: bool = typer.Option(False, "--json", help="Print the messages as JSON.")) -> None:
    """Print the rendered messages of a prompt for the given variables."""

    values: dict = {}
    if vars_file:
        import yaml

        try:
            loaded = yamlsafe.load(vars_file.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{vars_file}:{mark.line + 1}" if mark else str(vars_file)
            raise RenderError(f"cannot read variables: {getattr(exc, 'problem', None) or exc}", where=where) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise RenderError(f"cannot read variables: {exc}", where=str(vars_file)) from None
        if not isinstance(loaded, dict):
            raise RenderError("the variables file must hold a mapping", where=str(vars_file))
        values.update(loaded)
    for item in var or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise RenderError(f"--var expects k=v, got '{item}'", hint="e.g. --var text='hello'")
        values[key] = _coerce(value)
    resolved = common.history().resolve(spec)
    prompt = resolved.prompt
    for key, spec_ in prompt.inputs.items():  # --var values arrive as text; fit them to the declared type
        if key in values and isinstance(values[key], str) and spec_.type == "string":
            continue
        if key in values and spec_.type == "string" and not isinstance(values[key], str):
            values[key] = json.dumps(values[key]) if isinstance(values[key], (dict, list)) else str(values[key])
    messages = prompt.render(values)
    if as_json:
        common.print_json(messages)
        return
    for m in messages:
        common.console().print(f"[bold]{m['role']}:[/bold]")
        common.console().print(m["content"], markup=False)


def _coerce(value: str):
    try:
        return json.loads(value)
    except ValueError:
        return value
