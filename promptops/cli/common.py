"""What every command shares: one :class:`~promptops.project.Project` per run (its config, store
and history), and the run's output helpers (:mod:`.session`, re-exported here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .._util.fmt import pct  # noqa: F401 - the commands format through common.pct
from ..project import Project
from .session import STATE, at_end, console, err_console, print_json, table  # noqa: F401 - re-exported

_PROJECTS: dict[str | None, Any] = {}


def project() -> Project:
    """The project of this command run (``--root``, else found from the cwd): built once."""
    root = STATE["root"]
    found = _PROJECTS.get(root)
    if found is None:
        found = _PROJECTS[root] = Project.load(Path(root) if root else None)
        at_end(close)
    return found


def config():
    return project().config


def store():
    return project().store


def history():
    """The project's history; name@label resolves through the deployments in the store."""
    return project().history


def close() -> None:
    """Close the run's project (at the CLI's exit; in-process tests call it between commands)."""
    for opened in _PROJECTS.values():
        opened.close()
    _PROJECTS.clear()
