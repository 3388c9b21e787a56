"""Names shared by the SQLModel store and the runner's SQLite path, importable without SQLAlchemy."""

from __future__ import annotations

from typing import Any

RUN_STATUSES = ("running", "finished", "interrupted", "failed")
RUN_SOURCES = ("cli", "ci", "demo", "server")
JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
KEY_SCOPES = ("read", "write", "admin")

# The newest migration's revision (tests/test_store.py checks it against Alembic's own head). A
# database already there is opened without importing Alembic at all, which keeps a fully cached
# eval, and every other command that only reads, fast.
HEAD_REVISION = "0001"

RESULT_KEY = ("run_id", "model", "case_id", "repeat_index")
RESULT_DEFAULTS: dict[str, Any] = {
    "repeat_index": 0, "vars": {}, "expected": None, "output": None, "passed": None, "score": None,
    "reason": "", "error": None, "cached": False, "latency_ms": None, "prompt_tokens": None,
    "completion_tokens": None, "cost_usd": None,
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
