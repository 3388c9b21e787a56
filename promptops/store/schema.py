"""What the SQLModel store and the runner's sqlite3 path share, importable without SQLAlchemy:
statuses, the newest revision, the column specs of the runner's tables, the timestamp encoding,
the batch size and the result-row check.

``models.py`` declares the same tables for SQLAlchemy (and Alembic); ``tests/test_store_contract.py``
checks that the column specs here name exactly its columns.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

RUN_STATUSES = ("running", "finished", "interrupted", "failed", "partial")  # partial: a selection of the suite
RUN_SOURCES = ("cli", "ci", "demo", "server")
JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
KEY_SCOPES = ("read", "write", "admin")

# The newest migration's revision (tests/test_store.py checks it against Alembic's own head). A
# database already there is opened without importing Alembic at all, which keeps a fully cached
# eval, and every other command that only reads, fast.
HEAD_REVISION = "0004"

# Rows per executemany and keys per ``IN (...)``: well under SQLite's 32,766 bound parameters.
BATCH = 500

# --- column specs of the tables the runner writes: name -> kind, in table order ---
# Kinds: "str", "int", "float" and "bool" as they are; "json" holds any JSON value (None is JSON
# null), "json?" stores None as SQL NULL; "time" is a UTC timestamp (see encode_time).
PROMPT_VERSION_COLUMNS: dict[str, str] = {
    "id": "int", "name": "str", "version": "str", "hash": "str", "content": "str", "path": "str",
    "first_seen": "time",
}
RUN_COLUMNS: dict[str, str] = {
    "id": "int", "prompt": "str", "version": "str", "hash": "str", "ref": "str", "commit": "str",
    "branch": "str", "models": "json", "repeat": "int", "fingerprint": "str", "suite_hash": "str",
    "status": "str", "started_at": "time", "finished_at": "time", "summary": "json?", "source": "str",
}
RUN_DEFAULTS: dict[str, Any] = {
    "ref": None, "commit": None, "branch": None, "models": [], "repeat": 1, "suite_hash": "",
    "status": "running", "finished_at": None, "summary": None, "source": "cli",
}
RUN_REQUIRED = ("prompt", "version", "hash", "fingerprint")
RESULT_COLUMNS: dict[str, str] = {
    "id": "int", "run_id": "int", "prompt": "str", "version": "str", "model": "str", "case_id": "str",
    "repeat_index": "int", "vars": "json", "expected": "json?", "output": "str", "passed": "bool",
    "score": "float", "reason": "str", "error": "str", "cached": "bool", "latency_ms": "float",
    "prompt_tokens": "int", "completion_tokens": "int", "cost_usd": "float", "created_at": "time",
    "assertions": "json?",
}
CACHE_COLUMNS: dict[str, str] = {"key": "str", "model": "str", "response": "json", "created_at": "time"}

RESULT_KEY = ("run_id", "model", "case_id", "repeat_index")
RESULT_DEFAULTS: dict[str, Any] = {
    "repeat_index": 0, "vars": {}, "expected": None, "output": None, "passed": None, "score": None,
    "reason": "", "error": None, "cached": False, "latency_ms": None, "prompt_tokens": None,
    "completion_tokens": None, "cost_usd": None, "assertions": None,
}
RESULT_REQUIRED = ("run_id", "prompt", "version", "model", "case_id")


def result_row(row: dict[str, Any], now: Any, allowed: set[str]) -> dict[str, Any]:
    """A result row with every column (executemany needs the same keys in each), checked:
    the required fields present, no field outside ``allowed``, ``id`` left to the database."""
    missing = [k for k in RESULT_REQUIRED if row.get(k) is None]
    if missing:
        raise ValueError(f"result row lacks {', '.join(missing)}")
    unknown = set(row) - allowed
    if unknown:
        raise ValueError(f"unknown result fields: {', '.join(sorted(unknown))}")
    full = {**RESULT_DEFAULTS, "created_at": now, **row}
    full.pop("id", None)
    return full


def check(value: str, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; one of {', '.join(allowed)}")


# --- timestamps: aware UTC in Python; naive UTC text on SQLite, timestamptz on PostgreSQL ---


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(value: datetime) -> datetime:
    """``value`` in UTC, aware; a naive datetime is taken to be UTC already."""
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def encode_time(value: datetime | None, dialect: str) -> datetime | str | None:
    """What a timestamp column receives. SQLite gets fixed-width naive UTC text (the format
    SQLAlchemy used to write, so old rows and new compare and sort as text); PostgreSQL an aware value."""
    if value is None:
        return None
    value = as_utc(value)
    if dialect == "sqlite":
        return value.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    return value


def decode_time(value: datetime | str | None) -> datetime | None:
    """A timestamp column's value (text from SQLite, a datetime from PostgreSQL) as aware UTC."""
    if value is None:
        return None
    return as_utc(datetime.fromisoformat(value) if isinstance(value, str) else value)
