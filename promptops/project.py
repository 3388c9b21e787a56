"""One project's context: its settings, store, git history and adapter folders.

The edges (a CLI command run, the server) build one :class:`Project` and hand it down; library
functions take a ``Project`` or, as before, a :class:`~promptops.config.Config` (plus optional
``store=`` / ``history=``), and :func:`using` turns either into a project for the call::

    with Project.load() as project:
        evaluate(project, ["greet"])
        project.store.list_runs(prompt="greet")

The store is opened on first use (an eval of cached answers, or ``promptops log``, may never need
it) and kept; so is the :class:`~promptops.history.History`, whose ``name@label`` lookups go
through the deployments in the store. :meth:`Project.close` closes what the project opened itself,
never a store or history it was given.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import Config, load_config
from .history import History
from .store import open_store

if TYPE_CHECKING:
    from .store import Store

__all__ = ["Project", "database_exists", "using"]


def database_exists(config: Config) -> bool:
    """False for a SQLite database file that does not exist yet (another URL is assumed to exist)."""
    url = config.db_url()
    return not (url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).exists())


class Project:
    """A project's config with its lazily opened, cached store and history."""

    def __init__(self, config: Config, *, store: Store | None = None, history: History | None = None):
        self.config = config
        self._store = store
        self._history = history
        self._own_store = store is None
        self._own_history = history is None

    @classmethod
    def load(cls, root: Path | str | None = None) -> "Project":
        """The project at ``root`` (default: found from ``PROMPTOPS_ROOT`` or the working directory)."""
        return cls(load_config(Path(root) if root else None))

    def __repr__(self) -> str:
        return f"Project({str(self.config.root)!r})"

    @property
    def root(self) -> Path:
        return self.config.root

    @property
    def store(self) -> Store:
        """The database (opened, and migrated when needed, on first use)."""
        if self._store is None:
            self._store = open_store(self.config)
        return self._store

    @property
    def history(self) -> History:
        """The prompts' git history; ``name@label`` resolves through the deployments."""
        if self._history is None:
            self._history = History(self.config.root, self.config.prompts_dir, label_resolver=self.label_commit)
        return self._history

    @property
    def adapter_dirs(self) -> list[Path]:
        """Where the local provider looks up adapter ids (the fine-tune jobs' adapters)."""
        return self.config.adapter_dirs

    def label_commit(self, name: str, label: str) -> str | None:
        """The commit ``name@label`` points at, None without such a label.

        Looked up without creating a database that does not exist yet."""
        if self._store is None and not database_exists(self.config):
            return None  # no database yet, so no labels; do not create one just to look
        row = self.store.current_deployment(name, label)
        return row.commit if row is not None else None

    def close(self) -> None:
        """Close the history and store this project opened (given ones stay open)."""
        if self._history is not None and self._own_history:
            self._history.close()
            self._history = None
        if self._store is not None and self._own_store:
            # the SQLAlchemy store shares a per-process engine and has no close; the SQLite fast path does
            closer = getattr(self._store, "close", None)
            if callable(closer):
                closer()
            self._store = None

    def __enter__(self) -> "Project":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def using(config: Config | Project, *, store: Any = None, history: Any = None) -> Iterator[Project]:
    """The project for one library call: ``config`` itself when it is a :class:`Project` (left
    open), else a temporary one over the config and the given ``store`` / ``history`` (closed
    after, which leaves the given ones open)."""
    if isinstance(config, Project):
        if store is None and history is None:
            yield config
            return
        # the caller's store or history wins for this call; the project's others are shared
        project = Project(config.config, store=store if store is not None else config._store,
                          history=history if history is not None else config._history)
    else:
        project = Project(config, store=store, history=history)
    try:
        yield project
    finally:
        project.close()
