"""What every command shares: one :class:`~promptops.project.Project` per run (its config, store
and history), console output, JSON output."""

from __future__ import annotations

import json
import os
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

from .._util.fmt import pct  # noqa: F401 - the commands format through common.pct

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # model-loading bars drown the output

STATE: dict[str, Any] = {"root": None}
_PROJECTS: dict[str | None, Any] = {}


def project():
    """The project of this command run (``--root``, else found from the cwd): built once."""
    root = STATE["root"]
    found = _PROJECTS.get(root)
    if found is None:
        # imported here, not at the top: `promptops --help` loads no project code
        from ..project import Project

        found = _PROJECTS[root] = Project.load(Path(root) if root else None)
    return found


def config():
    return project().config


def store():
    return project().store


@lru_cache(maxsize=1)
def console():
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    if not console.is_terminal:  # piped or captured: do not squeeze tables into 80 columns
        console = Console(highlight=False, soft_wrap=True, width=160)
    return console


@lru_cache(maxsize=1)
def err_console():
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def table(title: str | None, columns: list[str], rows: list[list[Any]]) -> None:
    from rich.table import Table

    t = Table(title=title, show_lines=False, header_style="bold")
    for c in columns:
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(*["" if v is None else str(v) for v in r])
    console().print(t)


def history():
    """The project's history; name@label resolves through the deployments in the store."""
    return project().history


def close() -> None:
    """Close the run's project (at the CLI's exit; in-process tests call it between commands)."""
    for opened in _PROJECTS.values():
        opened.close()
    _PROJECTS.clear()

