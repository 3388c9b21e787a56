"""Engines and migrations: turn a URL into a migrated database, once per process.

SQLite is the embedded default: WAL journal, a 30 s busy timeout, and transactions that begin
explicitly (``BEGIN`` to read, ``BEGIN IMMEDIATE`` to write) so a write never fails half-way on a
lock another process holds. PostgreSQL goes through psycopg 3. Migrations run inside one
transaction under a database-wide lock (SQLite's write lock, PostgreSQL's advisory lock), so two
processes opening a fresh database at once do not both create the tables.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.engine.url import URL
from sqlalchemy.pool import StaticPool

from ..errors import StoreError
from . import lite
from .lite import BUSY_TIMEOUT_MS, sqlite_pragmas
from .schema import HEAD_REVISION

log = logging.getLogger("promptops.store")

if TYPE_CHECKING:
    from ..config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
# pg_advisory_xact_lock key for migrations: any fixed 64-bit number works, this one is ours.
PG_MIGRATION_LOCK = 0x70726F6D70746F70  # "promptop"

_engines: dict[tuple[int, str], Engine] = {}
_migrated: set[tuple[int, str]] = set()
_lock = threading.Lock()


def normalize_url(raw: str) -> URL:
    """Parse ``raw``; plain ``postgresql://`` means psycopg 3 (the driver we depend on)."""
    try:
        url = make_url(raw)
    except Exception:
        raise StoreError(f"not a database URL: {raw!r}",
                         hint="use sqlite:///path/to/file.db or postgresql+psycopg://user@host/db") from None
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise StoreError(f"unsupported database {url.get_backend_name()!r}",
                         hint="promptops stores its state in SQLite or PostgreSQL")
    return url


def shown(url: URL) -> str:
    """The URL as it may appear in messages: never with the password."""
    return url.render_as_string(hide_password=True)


def _sqlite_engine(url: URL) -> Engine:
    memory = url.database in (None, "", ":memory:")
    if not memory:
        folder = Path(url.database).expanduser().parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the database folder {folder}: {exc.strerror}",
                             hint="point database_url (or state_dir) at a writable folder") from None
    kw: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000}}
    if memory:
        kw["poolclass"] = StaticPool  # one shared connection, or each would see its own empty db
    engine = sa.create_engine(url, **kw)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves, see _on_begin
        cur = dbapi_conn.cursor()
        for pragma in sqlite_pragmas(memory=memory):
            cur.execute(pragma)
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _postgres_engine(url: URL) -> Engine:
    try:
        return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    except ModuleNotFoundError as exc:
        raise StoreError(f"the PostgreSQL driver is not installed ({exc.name})",
                         hint="pip install 'promptops[postgres]'") from None


def get_engine(raw_url: str) -> Engine:
    """The engine for a URL, created once per process (a forked child gets its own)."""
    url = normalize_url(raw_url)
    key = (os.getpid(), url.render_as_string(hide_password=False))
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _sqlite_engine(url) if url.get_backend_name() == "sqlite" else _postgres_engine(url)
            _engines[key] = engine
    return engine


def checkpoint_engines() -> None:
    """Fold each SQLite database this process opened back into its file (``wal_checkpoint(TRUNCATE)``),
    so a copy of the ``.db`` file alone holds every commit: the CLI leaves with ``os._exit``, which
    skips the checkpoint SQLite makes when the last connection closes. Never raises."""
    with _lock:
        paths = {Path(e.url.database) for (pid, _url), e in _engines.items()
                 if pid == os.getpid() and e.dialect.name == "sqlite" and e.url.database not in (None, "", ":memory:")}
    lite.checkpoint(paths | lite.OPENED)


def dispose_engines() -> None:
    """Close this process's pooled connections and forget every engine (tests, shutdown)."""
    with _lock:
        for (pid, _url), engine in _engines.items():
            # An engine inherited through fork shares its sockets with the parent: only drop it.
            engine.dispose(close=pid == os.getpid())
        _engines.clear()
        _migrated.clear()


def write_engine(engine: Engine) -> Engine:
    """The same engine, but its transactions take SQLite's write lock up front."""
    if engine.dialect.name == "sqlite":
        return engine.execution_options(sqlite_begin="IMMEDIATE")
    return engine


def alembic_config(connection: sa.Connection | None = None, script_location: Path | None = None) -> Any:
    """An Alembic config built in code: the package's migrations, no alembic.ini needed."""
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(script_location or MIGRATIONS).replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def migrate(engine: Engine, script_location: Path | None = None) -> None:
    """Upgrade the database to head, in one transaction, holding a database-wide lock."""
    from alembic import command

    quiet = logging.getLogger("alembic")
    if quiet.level == logging.NOTSET:  # "Context impl SQLiteImpl." on every open helps nobody
        quiet.setLevel(logging.WARNING)
    with engine.connect() as conn:
        conn.execution_options(sqlite_begin="IMMEDIATE")
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_MIGRATION_LOCK})
            command.upgrade(alembic_config(conn, script_location), "head")


def current_revision(engine: Engine) -> str | None:
    """The revision recorded in ``alembic_version`` (None for an empty database)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision(script_location: Path | None = None) -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(script_location=script_location)).get_current_head()


def at_head(engine: Engine) -> bool:
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT version_num FROM alembic_version")).fetchall()
    except sa.exc.DBAPIError:
        return False
    return [r[0] for r in rows] == [HEAD_REVISION]


def open_engine(raw_url: str) -> Engine:
    """A migrated engine for ``raw_url``; errors become :class:`StoreError` with a hint."""
    engine = get_engine(raw_url)
    url = engine.url
    key = (os.getpid(), url.render_as_string(hide_password=False))
    if key in _migrated:
        return engine
    try:
        if not at_head(engine):
            migrate(engine)
    except StoreError:
        raise
    except sa.exc.OperationalError as exc:
        raise StoreError(f"cannot open the database {shown(url)}: {_first_line(exc)}",
                         hint=_hint(url)) from None
    except sa.exc.DatabaseError as exc:
        raise StoreError(f"cannot migrate the database {shown(url)}: {_first_line(exc)}",
                         hint="is this a promptops database? back it up and point database_url elsewhere") from None
    except ModuleNotFoundError as exc:
        raise StoreError(f"a database driver is missing ({exc.name})", hint="pip install 'promptops[postgres]'") from None
    except Exception as exc:
        if not type(exc).__module__.startswith("alembic"):
            raise
        # alembic's CommandError: the database names a revision this promptops does not have
        raise StoreError(f"the database {shown(url)} is at a migration this promptops does not know "
                         f"({str(exc).splitlines()[0]})",
                         hint="was it written by a newer promptops? upgrade promptops, or point database_url "
                              "elsewhere") from None
    _migrated.add(key)
    return engine


def url_of(config_or_url: Config | str) -> str:
    if isinstance(config_or_url, str):
        return config_or_url
    url = config_or_url.db_url()
    if url.startswith("sqlite"):
        try:
            config_or_url.state_path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot make the state folder: {exc.strerror or exc}", where=str(config_or_url.state_path),
                             hint="point state_dir (promptops.yaml) at a folder promptops may write") from None
        if not config_or_url.state_path.is_dir():
            raise StoreError("the state folder is not a folder", where=str(config_or_url.state_path),
                             hint="point state_dir (promptops.yaml) at a folder promptops may write")
    return url


def _first_line(exc: sa.exc.DBAPIError) -> str:
    return str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc).splitlines()[0]


def _hint(url: URL) -> str:
    if url.get_backend_name() == "postgresql":
        return "is PostgreSQL running and reachable, and are the user, password and database name right?"
    return "check that the folder exists and is writable"
