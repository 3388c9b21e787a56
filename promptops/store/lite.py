"""The runner's part of the store on SQLite, through the standard library's ``sqlite3``.

A fully cached eval of 1,000 cases spent more time importing SQLAlchemy, SQLModel and the table
models (~0.6 s) than scoring its cases. When the database is a SQLite file already at the newest
migration, the runner uses :class:`LiteStore` instead of :class:`~promptops.store.Store`: the
methods the runner calls, in plain SQL on the same tables, writing what SQLAlchemy writes (naive
UTC timestamps as text, JSON as ``json.dumps`` text, booleans as 0/1; ``tests/test_store.py``
reads its rows back through ``Store`` and compares). Everything else (a new or older database,
PostgreSQL, the server, CI history, the dashboard) goes through ``Store``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ..errors import NotFoundError, StoreError
from .schema import HEAD_REVISION, RESULT_KEY, RUN_STATUSES, check, result_row

BUSY_TIMEOUT_MS = 30_000
BATCH = 500
_RESULT_COLUMNS = ("run_id", "prompt", "version", "model", "case_id", "repeat_index", "vars", "expected",
                   "output", "passed", "score", "reason", "error", "cached", "latency_ms", "prompt_tokens",
                   "completion_tokens", "cost_usd", "created_at")
_RESULT_FIELDS = {"id", *_RESULT_COLUMNS}
_RESULT_SCALARS = {"run_id": int, "repeat_index": int, "passed": bool, "score": float, "cached": bool,
                   "latency_ms": float, "prompt_tokens": int, "completion_tokens": int, "cost_usd": float}
_RUN_COLUMNS = ("prompt", "version", "hash", "ref", "commit", "branch", "models", "repeat", "fingerprint",
                "suite_hash", "status", "started_at", "finished_at", "summary", "source")
_RUN_DEFAULTS: dict[str, Any] = {"ref": None, "commit": None, "branch": None, "models": [], "repeat": 1,
                                 "suite_hash": "", "status": "running", "finished_at": None, "summary": None,
                                 "source": "cli"}


def sqlite_path(url: str) -> Path | None:
    """The file of a plain ``sqlite:///…`` URL; None for memory databases, URL options, other engines."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or "?" in url or "%" in url:
        return None
    path = url[len(prefix):]
    return Path(path) if path and path != ":memory:" else None


def open_lite(url: str) -> LiteStore | None:
    """A LiteStore when ``url`` is a SQLite file at the newest migration, else None."""
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
    return LiteStore(conn, path)


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def _now() -> str:
    """What SQLAlchemy stores for ``UTCDateTime`` on SQLite: naive UTC, microseconds."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


def _json(value: Any) -> str:
    return json.dumps(value)


def _json_or_null(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


class LiteStore:
    """The runner's store methods (see :class:`promptops.store.Store` for their contracts)."""

    def __init__(self, conn: sqlite3.Connection, path: Path):
        self.conn = conn
        self.path = path
        self._lock = threading.Lock()  # the writer thread and the event loop share the connection

    def __repr__(self) -> str:
        return f"LiteStore({str(self.path)!r})"

    def close(self) -> None:
        with self._lock:
            self.conn.close()

    def _read(self, sql: str, params: Any = ()) -> list[tuple]:
        with self._lock:
            try:
                return self.conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"cannot read the database {self.path}: {exc}") from None

    def _write(self, sql: str, rows: list[Any]) -> tuple[int | None, int]:
        """Run ``sql`` for every row in one ``BEGIN IMMEDIATE`` transaction: (last row id, rows changed)."""
        with self._lock:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                try:
                    last, changed = None, 0
                    if len(rows) == 1:  # execute, not executemany: only it sets lastrowid
                        cur = self.conn.execute(sql, rows[0])
                        last, changed = cur.lastrowid, cur.rowcount
                    else:
                        for start in range(0, len(rows), BATCH):
                            changed += self.conn.executemany(sql, rows[start:start + BATCH]).rowcount
                    self.conn.execute("COMMIT")
                    return last, changed
                except BaseException:
                    if self.conn.in_transaction:  # SQLite may have rolled back already
                        self.conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise StoreError(f"cannot write to the database {self.path}: {exc}") from None

    # --- prompt versions ---

    def record_prompt_version(self, *, name: str, version: str, hash: str, content: str, path: str) -> None:
        self._write("INSERT INTO prompt_versions (name, version, hash, content, path, first_seen) "
                    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name, hash) DO NOTHING",
                    [(name, version, hash, content, path, _now())])

    # --- runs ---

    def create_run(self, **fields: Any) -> SimpleNamespace:
        unknown = set(fields) - set(_RUN_COLUMNS)
        if unknown:
            raise ValueError(f"unknown run fields: {', '.join(sorted(unknown))}")
        row = {**_RUN_DEFAULTS, "started_at": _now(), **fields}
        check(row["status"], RUN_STATUSES, "run status")
        values = [row[c] for c in _RUN_COLUMNS]
        values[_RUN_COLUMNS.index("models")] = _json(row["models"])
        values[_RUN_COLUMNS.index("summary")] = _json_or_null(row["summary"])
        columns = ", ".join(f'"{c}"' for c in _RUN_COLUMNS)  # "commit" is a keyword
        run_id, _ = self._write(f"INSERT INTO eval_runs ({columns}) VALUES ({', '.join('?' * len(_RUN_COLUMNS))})",
                             [values])
        return SimpleNamespace(id=run_id, **row)

    def find_unfinished_run(self, fingerprint: str) -> SimpleNamespace | None:
        rows = self._read("SELECT id, status FROM eval_runs WHERE fingerprint = ? AND status IN "
                          "('running', 'interrupted') ORDER BY id DESC LIMIT 1", (fingerprint,))
        return SimpleNamespace(id=rows[0][0], status=rows[0][1]) if rows else None

    def finish_run(self, run_id: int, *, status: str = "finished", summary: dict[str, Any] | None = None) -> None:
        check(status, RUN_STATUSES, "run status")
        if summary is None:
            _, changed = self._write("UPDATE eval_runs SET status = ?, finished_at = ? WHERE id = ?",
                                     [(status, _now(), run_id)])
        else:
            _, changed = self._write("UPDATE eval_runs SET status = ?, finished_at = ?, summary = ? WHERE id = ?",
                                     [(status, _now(), _json(summary), run_id)])
        if not changed:
            raise NotFoundError(f"no eval run {run_id!r}")

    # --- results ---

    def add_results(self, rows: list[dict[str, Any]]) -> None:
        """As :meth:`Store.add_results`: a stored row is kept unless it is an error (then replaced)."""
        if not rows:
            return
        values = []
        for row in rows:
            full = result_row(row, _now(), _RESULT_FIELDS)
            full["vars"] = _json(full["vars"])
            full["expected"] = _json_or_null(full["expected"])
            # sqlite3 takes only Python's own scalars (SQLAlchemy coerces, e.g. numpy values)
            for key, kind in _RESULT_SCALARS.items():
                if full[key] is not None:
                    full[key] = kind(full[key])
            values.append(tuple(full[c] for c in _RESULT_COLUMNS))
        update = ", ".join(f"{c} = excluded.{c}" for c in _RESULT_COLUMNS if c not in RESULT_KEY)
        self._write(f"INSERT INTO eval_results ({', '.join(_RESULT_COLUMNS)}) "
                    f"VALUES ({', '.join('?' * len(_RESULT_COLUMNS))}) "
                    f"ON CONFLICT ({', '.join(RESULT_KEY)}) DO UPDATE SET {update} "
                    f"WHERE eval_results.error IS NOT NULL", values)

    def done_keys(self, run_id: int, *, include_errors: bool = False) -> set[tuple[str, str, int]]:
        sql = "SELECT model, case_id, repeat_index FROM eval_results WHERE run_id = ?"
        if not include_errors:
            sql += " AND error IS NULL"
        return {tuple(r) for r in self._read(sql, (run_id,))}  # type: ignore[misc]

    def results(self, run_id: int) -> list[SimpleNamespace]:
        columns = ("id",) + _RESULT_COLUMNS
        rows = self._read(f"SELECT {', '.join(columns)} FROM eval_results WHERE run_id = ? ORDER BY id", (run_id,))
        out = []
        for r in rows:
            item = dict(zip(columns, r))
            item["vars"] = json.loads(item["vars"]) if item["vars"] is not None else {}
            item["expected"] = json.loads(item["expected"]) if item["expected"] is not None else None
            item["passed"] = None if item["passed"] is None else bool(item["passed"])
            item["cached"] = bool(item["cached"])
            out.append(SimpleNamespace(**item))
        return out

    # --- response cache ---

    def cache_get_many(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for start in range(0, len(keys), BATCH):
            chunk = keys[start:start + BATCH]
            rows = self._read(f"SELECT key, response FROM cache_entries WHERE key IN ({', '.join('?' * len(chunk))})",
                              chunk)
            out.update({k: json.loads(v) for k, v in rows})
        return out

    def cache_put_many(self, entries: dict[str, tuple[str, dict[str, Any]]]) -> None:
        now = _now()
        rows = [(k, m, _json(r), now) for k, (m, r) in entries.items()]
        if rows:
            self._write("INSERT INTO cache_entries (key, model, response, created_at) VALUES (?, ?, ?, ?) "
                        "ON CONFLICT (key) DO NOTHING", rows)
