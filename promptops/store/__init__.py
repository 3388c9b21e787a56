"""The store: runs, results, response cache, deployments, logged calls, feedback, jobs, API keys.

``open_store(config_or_url)`` returns a :class:`Store` over a migrated database: SQLite by
default (``.promptops/promptops.db``), PostgreSQL when ``database_url`` says so. Migrations are
Alembic's, shipped in ``promptops/store/migrations`` and applied on open; nobody runs them by hand.

This package imports SQLAlchemy only when a name from it is used, so the runner can open an
up-to-date SQLite database without it (:func:`open_for_eval`, :mod:`promptops.store.lite`). The
runner depends on :class:`EvalStore` only; :mod:`promptops.store.evals` implements it once, for both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..localmodels.job_record import set_locator
from .evals import EvalStore
from .job_adapters import locate
from .lite import open_lite

if TYPE_CHECKING:
    from ..config import Config
    from .store import ConflictError, Store, hash_key  # noqa: F401

__all__ = ["ConflictError", "EvalStore", "Store", "hash_key", "open_for_eval", "open_store"]

set_locator(locate)  # local/<base>+<job id> finds the adapter through the job's record


def open_store(config_or_url: Config | str) -> Store:
    """Open (creating and migrating as needed) the database of a config, or at a URL."""
    from .db import open_engine, url_of  # SQLAlchemy: not on the cached eval's path
    from .store import Store

    return Store(open_engine(url_of(config_or_url)))


def open_for_eval(config: Config) -> EvalStore:
    """The store an eval writes to: the runner's SQL over one ``sqlite3`` connection when the
    database is a SQLite file already at the newest migration, else :func:`open_store`."""
    return open_lite(config.db_url()) or open_store(config)


def __getattr__(name: str) -> Any:
    if name in ("ConflictError", "Store", "hash_key"):
        from . import store

        return getattr(store, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
