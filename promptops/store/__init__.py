"""The store: runs, results, response cache, deployments, logged calls, feedback, jobs, API keys.

``open_store(config_or_url)`` returns a :class:`Store` over a migrated database: SQLite by
default (``.promptops/promptops.db``), PostgreSQL when ``database_url`` says so. Migrations are
Alembic's, shipped in ``promptops/store/migrations`` and applied on open; nobody runs them by hand.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .db import open_engine, url_of
from .store import ConflictError, Store, hash_key

if TYPE_CHECKING:
    from ..config import Config

__all__ = ["ConflictError", "Store", "hash_key", "open_store"]


def open_store(config_or_url: Config | str) -> Store:
    """Open (creating and migrating as needed) the database of a config, or at a URL."""
    return Store(open_engine(url_of(config_or_url)))
