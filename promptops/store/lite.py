"""SQLite without SQLAlchemy: the PRAGMAs every promptops connection runs, and the runner's opener.

When the database is a SQLite file already at the newest migration, the runner writes through a
:class:`~promptops.store.evals.SqlEvalStore` over one ``sqlite3`` connection (:func:`open_lite`)
instead of :class:`~promptops.store.Store`, so a cached eval never imports SQLAlchemy. Everything
else (a new or older database, PostgreSQL, the server, CI history, the dashboard) goes through
``Store``, whose engine runs the same :func:`sqlite_pragmas` on each new connection.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from .evals import SQLITE, SqlEvalStore, single_connection
from .schema import HEAD_REVISION

BUSY_TIMEOUT_MS = 30_000


def sqlite_pragmas(*, memory: bool = False) -> list[str]:
    """The statements a new SQLite connection runs first: wait for locks rather than fail, WAL
    (readers never block the writer; not for memory databases), and enforced foreign keys."""
    pragmas = [f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}"]
    if not memory:
        pragmas += ["PRAGMA journal_mode = WAL",
                    "PRAGMA synchronous = NORMAL"]  # safe with WAL; an fsync per checkpoint
    pragmas.append("PRAGMA foreign_keys = ON")
    return pragmas


def sqlite_path(url: str) -> Path | None:
    """The file of a plain ``sqlite:///…`` URL; None for memory databases, URL options, other engines."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or "?" in url or "%" in url:
        return None
    path = url[len(prefix):]
    return Path(path) if path and path != ":memory:" else None


def open_lite(url: str) -> SqlEvalStore | None:
    """The runner's store over ``sqlite3`` when ``url`` is a SQLite file at the newest migration, else None."""
    path = sqlite_path(url)
    if path is None or not path.is_file():
        return None
    conn = None
    try:
        conn = _connect(path)
        rows = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.Error:
        if conn is not None:
            conn.close()
        return None
    if [r[0] for r in rows] != [HEAD_REVISION]:
        conn.close()
        return None
    connect = single_connection(conn)

    def close() -> None:
        with connect() as held:  # not while the writer thread is in a transaction
            held.close()

    return SqlEvalStore(connect, SQLITE, where=str(path), errors=(sqlite3.Error,), on_close=close)


OPENED: set[Path] = set()  # the files this process opened here (checkpointed before the CLI's fast exit)


def checkpoint(paths: set[Path]) -> None:
    """``PRAGMA wal_checkpoint(TRUNCATE)`` on each SQLite file: the WAL's commits moved into the
    file itself. Never raises: a busy or vanished database keeps its WAL, which stays valid."""
    for path in paths:
        if not path.is_file():
            continue
        try:
            conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000)
            try:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            finally:
                conn.close()
        except sqlite3.Error:
            pass


def _connect(path: Path) -> sqlite3.Connection:
    OPENED.add(path)
    # isolation_level=None: sqlite3 opens no transactions of its own; SqlEvalStore begins them.
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
    for pragma in sqlite_pragmas():
        conn.execute(pragma)
    return conn
