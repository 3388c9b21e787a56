"""The runner's part of the store: the one implementation of its methods, in plain SQL over a DB-API
connection.

Two callers share it. :class:`~promptops.store.Store` runs it over connections from its SQLAlchemy
engine's pool (``sqlite3`` or psycopg underneath); the runner, on a SQLite file already at the
newest migration, runs it over one ``sqlite3`` connection (:func:`promptops.store.lite.open_lite`),
because a fully cached eval of 1,000 cases spent more time importing SQLAlchemy (~0.6 s) than
scoring its cases. This module therefore imports no SQLAlchemy.

The dialects differ in four things only, all in :class:`Dialect`: the parameter marker, how a
write transaction begins, how an insert reports its id, and the timestamp encoding
(:func:`~promptops.store.schema.encode_time`). JSON columns are read as text (``CAST(… AS TEXT)``),
so both drivers hand back the same thing to decode.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Protocol

from ..errors import NotFoundError, StoreError
from .schema import (
    BATCH,
    CACHE_COLUMNS,
    PROMPT_VERSION_COLUMNS,
    RESULT_COLUMNS,
    RESULT_KEY,
    RUN_COLUMNS,
    RUN_DEFAULTS,
    RUN_REQUIRED,
    RUN_STATUSES,
    as_utc,
    check,
    decode_time,
    encode_time,
    result_row,
    utcnow,
)

Row = dict[str, Any]
CacheEntries = dict[str, tuple[str, dict[str, Any]]]


class EvalStore(Protocol):
    """What the eval runner needs from a store. Rows come back as objects with one attribute per
    column (``EvalRun``/``EvalResult`` from :class:`~promptops.store.Store`, plain namespaces from
    the sqlite3 path), timestamps aware UTC, JSON decoded, booleans as ``bool``."""

    def record_prompt_version(self, *, name: str, version: str, hash: str, content: str, path: str) -> None:
        """Remember a prompt version (a no-op when this name and hash are known)."""

    def create_run(self, **fields: Any) -> Any:
        """Insert an eval run (columns of ``eval_runs``) and return it, ``id`` set."""

    def find_unfinished_run(self, fingerprint: str) -> Any | None:
        """The newest run of the same eval that did not finish (to resume), or None."""

    def finish_run(self, run_id: int, *, status: str = "finished", summary: dict[str, Any] | None = None) -> Any:
        """Set a run's final status (and summary, unless None) and return it."""

    def add_results(self, rows: list[Row]) -> None:
        """Insert results. A row whose (run, model, case, repeat) is stored already is skipped,
        unless the stored one is an error: then the new row (a retry on resume) replaces it."""

    def done_keys(self, run_id: int, *, include_errors: bool = False) -> set[tuple[str, str, int]]:
        """(model, case_id, repeat_index) already stored; errored rows only with ``include_errors``."""

    def results(self, run_id: int) -> list[Any]:
        """A run's results in insertion order."""

    def cache_get_many(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        """The cached responses among ``keys``."""

    def cache_put_many(self, entries: CacheEntries) -> None:
        """Store responses by key: ``{key: (model, response)}``; existing keys are kept."""

    def close(self) -> None:
        """Release what this store holds (its own connection; nothing for a shared engine)."""


@dataclass(frozen=True)
class Dialect:
    """How one database's SQL and driver differ, for the statements below."""

    name: str
    mark: str  # the driver's parameter marker: sqlite3 is qmark, psycopg format
    begin_write: str | None  # opens a write transaction; None: the driver opens one itself
    returning_id: bool  # INSERT … RETURNING id, instead of the cursor's lastrowid

    def marks(self, n: int) -> str:
        return ", ".join([self.mark] * n)


# BEGIN IMMEDIATE takes SQLite's write lock up front, so a write never fails half-way on a lock
# another process holds. RETURNING would do on SQLite too, but only from 3.35 (some distributions'
# Python still links older).
SQLITE = Dialect("sqlite", "?", "BEGIN IMMEDIATE", returning_id=False)
POSTGRESQL = Dialect("postgresql", "%s", None, returning_id=True)
DIALECTS = {d.name: d for d in (SQLITE, POSTGRESQL)}

Connect = Callable[[], AbstractContextManager[Any]]


def _q(name: str) -> str:
    return f'"{name}"'  # "commit", "repeat", "hash": keywords somewhere; quote them all


def _select_list(columns: dict[str, str]) -> str:
    """Column names, JSON ones as text: psycopg would decode them itself, sqlite3 would not."""
    return ", ".join(f"CAST({_q(c)} AS TEXT)" if kind.startswith("json") else _q(c) for c, kind in columns.items())


def _maybe(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else convert(value)


def _encoder(kind: str, dialect: str) -> Callable[[Any], Any] | None:
    """How a column's Python value goes to the driver (None: as it is)."""
    if kind == "json":
        return json.dumps  # None too: JSON null, as SQLAlchemy writes a non-nullable JSON column
    if kind == "json?":
        return _maybe(json.dumps)
    if kind == "time":
        return lambda value: encode_time(value, dialect)
    # the drivers take only Python's own scalars (a grader may hand back numpy values)
    cast: Callable[[Any], Any] | None = {"int": int, "float": float, "bool": bool}.get(kind)
    return None if cast is None else _maybe(cast)


def _decoder(kind: str) -> Callable[[Any], Any] | None:
    """How a column's non-NULL value comes back from the driver (None: as it is)."""
    if kind.startswith("json"):
        return json.loads
    return {"time": decode_time, "bool": bool}.get(kind)


class _Codec:
    """A table's columns converted for one dialect, in order; ``id`` is the database's to set."""

    def __init__(self, columns: dict[str, str], dialect: str):
        self.names = [c for c in columns if c != "id"]
        self._encode = [(c, _encoder(columns[c], dialect)) for c in self.names]
        self._decode = [(c, _decoder(kind)) for c, kind in columns.items()]
        self.select = _select_list(columns)

    def encode(self, row: Row) -> tuple:
        return tuple(row[c] if f is None else f(row[c]) for c, f in self._encode)

    def decode(self, values: tuple) -> Row:
        return {c: v if f is None or v is None else f(v) for (c, f), v in zip(self._decode, values)}


_RESULT_ALLOWED = set(RESULT_COLUMNS)
# the upsert rule: a stored result is replaced only when it is an error (a retry on resume)
_RESULT_UPSERT = (f"ON CONFLICT ({', '.join(RESULT_KEY)}) DO UPDATE SET "
                  + ", ".join(f"{_q(c)} = excluded.{_q(c)}" for c in RESULT_COLUMNS if c not in (*RESULT_KEY, "id"))
                  + " WHERE eval_results.error IS NOT NULL")


def _insert(table: str, columns: dict[str, str], dialect: Dialect, tail: str = "") -> str:
    names = [c for c in columns if c != "id"]
    return (f"INSERT INTO {table} ({', '.join(map(_q, names))}) VALUES ({dialect.marks(len(names))})"
            + (f" {tail}" if tail else ""))


class SqlEvalStore:
    """:class:`EvalStore` in SQL over DB-API connections from ``connect`` (a context manager
    yielding one). ``run_type`` and ``result_type`` build the rows handed back from their columns;
    ``errors`` are the driver's exceptions, turned into :class:`~promptops.errors.StoreError`."""

    def __init__(self, connect: Connect, dialect: Dialect, *, where: str, errors: tuple[type[BaseException], ...],
                 run_type: Callable[..., Any] = SimpleNamespace, result_type: Callable[..., Any] = SimpleNamespace,
                 on_close: Callable[[], None] | None = None):
        self._connect = connect
        self.dialect = dialect
        self.where = where
        self._errors = errors
        self._run_type = run_type
        self._result_type = result_type
        self._on_close = on_close
        self._d = dialect.name
        self._runs, self._results = _Codec(RUN_COLUMNS, self._d), _Codec(RESULT_COLUMNS, self._d)
        self._sql_run = _insert("eval_runs", RUN_COLUMNS, dialect, "RETURNING id" if dialect.returning_id else "")
        self._sql_result = _insert("eval_results", RESULT_COLUMNS, dialect, _RESULT_UPSERT)
        self._sql_cache = _insert("cache_entries", CACHE_COLUMNS, dialect, "ON CONFLICT (key) DO NOTHING")
        self._sql_version = _insert("prompt_versions", PROMPT_VERSION_COLUMNS, dialect,
                                    "ON CONFLICT (name, hash) DO NOTHING")
        self._sql_get_run = f"SELECT {self._runs.select} FROM eval_runs WHERE id = {dialect.mark}"

    def __repr__(self) -> str:
        return f"SqlEvalStore({self.where!r})"

    def close(self) -> None:
        if self._on_close is not None:
            self._on_close()

    # --- plumbing ---

    @contextmanager
    def _transaction(self, *, write: bool) -> Iterator[Any]:
        """A cursor in one transaction: committed on exit, rolled back on error. A write on SQLite
        holds the write lock from its first statement."""
        with self._connect() as conn:
            try:
                cur = conn.cursor()
                if write and self.dialect.begin_write:
                    cur.execute(self.dialect.begin_write)
                yield cur
                conn.commit()  # a read ends PostgreSQL's implicit transaction too
            except BaseException as exc:
                try:
                    conn.rollback()  # SQLite may have rolled back already: then a no-op
                except self._errors:
                    pass
                if isinstance(exc, self._errors):
                    detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                    raise StoreError(f"cannot {'write to' if write else 'read'} the database {self.where}: {detail}",
                                     hint="is the database reachable and writable (promptops.yaml database_url)?"
                                     ) from None
                raise

    # --- prompt versions ---

    def record_prompt_version(self, *, name: str, version: str, hash: str, content: str, path: str) -> None:
        with self._transaction(write=True) as cur:
            cur.execute(self._sql_version, (name, version, hash, content, path, encode_time(utcnow(), self._d)))

    # --- runs ---

    def create_run(self, **fields: Any) -> Any:
        unknown = set(fields) - set(self._runs.names)
        if unknown:
            raise ValueError(f"unknown run fields: {', '.join(sorted(unknown))}")
        missing = [k for k in RUN_REQUIRED if fields.get(k) is None]
        if missing:
            raise ValueError(f"run lacks {', '.join(missing)}")
        row = {**RUN_DEFAULTS, "started_at": utcnow(), **fields}
        check(row["status"], RUN_STATUSES, "run status")
        for c in ("started_at", "finished_at"):  # handed back as they will be read: aware UTC
            row[c] = None if row[c] is None else as_utc(row[c])
        with self._transaction(write=True) as cur:
            cur.execute(self._sql_run, self._runs.encode(row))
            run_id = cur.fetchone()[0] if self.dialect.returning_id else cur.lastrowid
        return self._run_type(id=run_id, **row)

    def find_unfinished_run(self, fingerprint: str) -> Any | None:
        m = self.dialect.mark
        with self._transaction(write=False) as cur:
            cur.execute(f"SELECT {self._runs.select} FROM eval_runs WHERE fingerprint = {m} "
                        "AND status IN ('running', 'interrupted') ORDER BY id DESC LIMIT 1", (fingerprint,))
            found = cur.fetchone()
        return None if found is None else self._run_type(**self._runs.decode(found))

    def finish_run(self, run_id: int, *, status: str = "finished", summary: dict[str, Any] | None = None) -> Any:
        check(status, RUN_STATUSES, "run status")
        m = self.dialect.mark
        sets, params = [f"status = {m}", f"finished_at = {m}"], [status, encode_time(utcnow(), self._d)]
        if summary is not None:
            sets.append(f"summary = {m}")
            params.append(json.dumps(summary))
        with self._transaction(write=True) as cur:
            cur.execute(f"UPDATE eval_runs SET {', '.join(sets)} WHERE id = {m}", (*params, run_id))
            if not cur.rowcount:
                raise NotFoundError(f"no eval run {run_id!r}")
            cur.execute(self._sql_get_run, (run_id,))
            found = cur.fetchone()
        return self._run_type(**self._runs.decode(found))

    # --- results ---

    def add_results(self, rows: list[Row]) -> None:
        if not rows:
            return
        now = utcnow()
        values = [self._results.encode(result_row(r, now, _RESULT_ALLOWED)) for r in rows]
        with self._transaction(write=True) as cur:
            for start in range(0, len(values), BATCH):
                cur.executemany(self._sql_result, values[start:start + BATCH])

    def done_keys(self, run_id: int, *, include_errors: bool = False) -> set[tuple[str, str, int]]:
        sql = f"SELECT model, case_id, repeat_index FROM eval_results WHERE run_id = {self.dialect.mark}"
        if not include_errors:
            sql += " AND error IS NULL"
        with self._transaction(write=False) as cur:
            cur.execute(sql, (run_id,))
            return {tuple(r) for r in cur.fetchall()}  # type: ignore[misc]

    def results(self, run_id: int) -> list[Any]:
        with self._transaction(write=False) as cur:
            cur.execute(f"SELECT {self._results.select} FROM eval_results "
                        f"WHERE run_id = {self.dialect.mark} ORDER BY id", (run_id,))
            rows = cur.fetchall()
        return [self._result_type(**self._results.decode(r)) for r in rows]

    def result_rows(self, run_id: int) -> list[Any]:
        """A run's results as plain namespaces, in insertion order: for readers of many rows (the
        dashboard's grid), since building 3,000 ORM rows takes ~0.6 s and these ~0.07 s."""
        with self._transaction(write=False) as cur:
            cur.execute(f"SELECT {self._results.select} FROM eval_results "
                        f"WHERE run_id = {self.dialect.mark} ORDER BY id", (run_id,))
            rows = cur.fetchall()
        return [SimpleNamespace(**self._results.decode(r)) for r in rows]

    # --- response cache ---

    def cache_get_many(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        if not keys:
            return out
        with self._transaction(write=False) as cur:
            for start in range(0, len(keys), BATCH):
                chunk = keys[start:start + BATCH]
                cur.execute(f"SELECT key, CAST(response AS TEXT) FROM cache_entries "
                            f"WHERE key IN ({self.dialect.marks(len(chunk))})", chunk)
                out.update({k: json.loads(v) for k, v in cur.fetchall()})
        return out

    def cache_put_many(self, entries: CacheEntries) -> None:
        if not entries:
            return
        now = encode_time(utcnow(), self._d)
        rows = [(k, m, json.dumps(r), now) for k, (m, r) in entries.items()]  # CACHE_COLUMNS' order
        with self._transaction(write=True) as cur:
            for start in range(0, len(rows), BATCH):
                cur.executemany(self._sql_cache, rows[start:start + BATCH])


def single_connection(conn: Any) -> Connect:
    """``connect`` for one connection shared by threads (the runner's writer thread and its
    event loop), one statement group at a time."""
    lock = threading.Lock()

    @contextmanager
    def connect() -> Iterator[Any]:
        with lock:
            yield conn

    return connect
