"""All database tables in one module, plus the public shapes a server may return.

Timestamps are timezone-aware UTC on the way in and out (SQLite keeps them as naive UTC text;
PostgreSQL as ``timestamptz``). JSON columns hold lists and dicts as they are. Constraint names
follow one naming convention, so later migrations can refer to them on every dialect.

Keep this module and ``migrations/versions/`` in step: ``tests/test_store.py`` compares them.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from .schema import JOB_STATUSES, KEY_SCOPES, RUN_SOURCES, RUN_STATUSES  # noqa: F401 - re-exported
from .schema import decode_time, encode_time, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
# Every table here is ours; setting the convention before any table exists names them all.
metadata = SQLModel.metadata
metadata.naming_convention = NAMING_CONVENTION


class UTCDateTime(TypeDecorator):
    """A datetime that always comes back aware, in UTC (naive input is taken as UTC), stored as
    :func:`~promptops.store.schema.encode_time` says: the same encoding the runner's SQL writes."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        # On SQLite the value is already text (encode_time); SQLAlchemy's DateTime would insist on a datetime.
        return dialect.type_descriptor(sa.String() if dialect.name == "sqlite" else sa.DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | str | None:
        return encode_time(value, dialect.name)

    def process_result_value(self, value: datetime | str | None, dialect: sa.Dialect) -> datetime | None:
        return decode_time(value)


# Plain functions, not the ``dict``/``list`` builtins: pydantic inspects a default factory's
# signature on every construction, and a builtin's costs about 1 ms each time.
def _dict() -> dict[str, Any]:
    return {}


def _list() -> list[Any]:
    return []


def _json(nullable: bool = False) -> sa.JSON:
    return sa.JSON(none_as_null=nullable)


def _time(**kw: Any) -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, **kw)


def _maybe_time() -> Any:
    return Field(default=None, sa_type=UTCDateTime)


class PromptVersionRow(SQLModel, table=True):
    """A prompt's content as seen once (versions come from git; this is a record of them)."""

    __tablename__ = "prompt_versions"
    __table_args__ = (sa.UniqueConstraint("name", "hash"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True)
    version: str = Field(max_length=12)
    hash: str = Field(max_length=64)
    content: str = Field(sa_type=sa.Text)
    path: str
    first_seen: datetime = _time()


class EvalRun(SQLModel, table=True):
    """One eval of one prompt version over a suite × models × repeats."""

    __tablename__ = "eval_runs"

    id: int | None = Field(default=None, primary_key=True)
    prompt: str = Field(index=True)
    version: str
    hash: str
    ref: str | None = None
    commit: str | None = None
    branch: str | None = None
    models: list[str] = Field(default_factory=_list, sa_type=_json())
    repeat: int = 1
    fingerprint: str = Field(index=True, description="identifies the same eval, for resume")
    suite_hash: str = ""
    status: str = "running"
    started_at: datetime = _time()
    finished_at: datetime | None = _maybe_time()
    summary: dict[str, Any] | None = Field(default=None, sa_type=_json(True))
    source: str = "cli"


class EvalResult(SQLModel, table=True):
    """One model call of one case (one repeat) in a run, graded."""

    __tablename__ = "eval_results"
    __table_args__ = (sa.UniqueConstraint("run_id", "model", "case_id", "repeat_index"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="eval_runs.id", index=True)
    prompt: str
    version: str
    model: str
    case_id: str
    repeat_index: int = 0
    vars: dict[str, Any] = Field(default_factory=_dict, sa_type=_json())
    expected: Any | None = Field(default=None, sa_type=_json(True), nullable=True)
    output: str | None = Field(default=None, sa_type=sa.Text)
    passed: bool | None = None
    score: float | None = None
    reason: str = Field(default="", sa_type=sa.Text)
    error: str | None = Field(default=None, sa_type=sa.Text)
    cached: bool = False
    latency_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    created_at: datetime = _time()
    # 0003: the assertions the case ran (type, passed, score, weight, metric), so a report read
    # back from the store says which ones; None on rows written before
    assertions: list[dict[str, Any]] | None = Field(default=None, sa_type=_json(True), nullable=True)


class CacheEntry(SQLModel, table=True):
    """A successful model response, keyed by the sha256 of its canonical request."""

    __tablename__ = "cache_entries"

    key: str = Field(primary_key=True, max_length=64)
    model: str
    response: dict[str, Any] = Field(default_factory=_dict, sa_type=_json())
    created_at: datetime = _time()


class Deployment(SQLModel, table=True):
    """A label move: ``prompt`` in ``env`` now serves ``version``. The newest row is current."""

    __tablename__ = "deployments"
    __table_args__ = (sa.Index("ix_deployments_prompt_env", "prompt", "env"),)

    id: int | None = Field(default=None, primary_key=True)
    prompt: str
    env: str
    version: str
    hash: str
    commit: str | None = None
    model: str
    score: float | None = None
    threshold: float | None = None
    reason: str = Field(default="", sa_type=sa.Text)
    forced: bool = False
    rollback_of: int | None = None
    actor: str = ""
    created_at: datetime = _time()
    # 0004: a canary serves canary_percent of the label's traffic, the stable deployment canary_base
    # the rest; canary_end is set on the move that finished the canary (promote) it names
    canary_percent: float | None = None
    canary_base: int | None = None
    canary_end: int | None = None


def new_call_id() -> str:
    return uuid.uuid4().hex


class CallLog(SQLModel, table=True):
    """A prompt run in production, with what it cost: served by the server (``complete``, the
    OpenAI-compatible gateway) or reported by the application that made it (``POST /v1/calls``)."""

    __tablename__ = "call_logs"

    id: str = Field(default_factory=new_call_id, primary_key=True, max_length=32)
    prompt: str = Field(index=True)
    version: str
    model: str
    env: str | None = None
    variables: dict[str, Any] = Field(default_factory=_dict, sa_type=_json())
    messages: list[dict[str, Any]] = Field(default_factory=_list, sa_type=_json())
    output: str | None = Field(default=None, sa_type=sa.Text)
    error: str | None = Field(default=None, sa_type=sa.Text)
    latency_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    created_at: datetime = _time(index=True)
    # 0002: where the call came from and its context
    source: str | None = None  # served (complete), gateway (/v1/chat/completions), passthrough, ingested
    extra_messages: list[dict[str, Any]] | None = Field(default=None, sa_type=_json(True))  # after the prompt's
    user_id: str | None = Field(default=None, index=True)
    session_id: str | None = Field(default=None, index=True)
    tags: list[str] | None = Field(default=None, sa_type=_json(True))
    meta: dict[str, Any] | None = Field(default=None, sa_type=_json(True))  # "metadata" in the API
    # 0004: the deployment that served the call, and (while a canary runs) whether it was the canary
    deployment_id: int | None = None
    canary: bool | None = None


class Feedback(SQLModel, table=True):
    """A judgement on a logged call: a score, a label, or the corrected output."""

    __tablename__ = "feedback"

    id: int | None = Field(default=None, primary_key=True)
    call_id: str = Field(foreign_key="call_logs.id", index=True, max_length=32)
    score: float | None = None
    label: str | None = None
    correction: str | None = Field(default=None, sa_type=sa.Text)
    comment: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime = _time()


def new_job_id() -> str:
    return f"ft-{secrets.token_hex(4)}"


class FinetuneJob(SQLModel, table=True):
    """A LoRA fine-tune, run as its own process; this row is how others follow it."""

    __tablename__ = "finetune_jobs"

    id: str = Field(default_factory=new_job_id, primary_key=True, max_length=32)
    prompt: str
    base_model: str
    dataset: str
    config: dict[str, Any] = Field(default_factory=_dict, sa_type=_json())
    status: str = "queued"
    progress: dict[str, Any] = Field(default_factory=_dict, sa_type=_json())
    metrics: dict[str, Any] = Field(default_factory=_dict, sa_type=_json())
    log_path: str | None = None
    adapter_path: str | None = None
    error: str | None = Field(default=None, sa_type=sa.Text)
    pid: int | None = None
    heartbeat_at: datetime | None = _maybe_time()
    created_at: datetime = _time()
    started_at: datetime | None = _maybe_time()
    finished_at: datetime | None = _maybe_time()


class ApiKey(SQLModel, table=True):
    """A server API key. Only its sha256 is stored; never return this table from an API."""

    __tablename__ = "api_keys"

    id: int | None = Field(default=None, primary_key=True)
    name: str = ""
    prefix: str = Field(max_length=8, description="first 8 characters, for display")
    key_hash: str = Field(unique=True, max_length=64)
    scope: str = "read"
    created_at: datetime = _time()
    revoked: bool = False


# --- shapes for the HTTP layer (never tables; they decide which columns leave the server) ---


class ApiKeyCreate(SQLModel):
    name: str = Field(default="", max_length=200)
    scope: Literal["read", "write", "admin"] = "read"


class ApiKeyPublic(SQLModel):
    """An API key as the server shows it: no hash."""

    id: int
    name: str
    prefix: str
    scope: str
    created_at: datetime
    revoked: bool


class FeedbackCreate(SQLModel):
    score: float | None = None
    label: str | None = Field(default=None, max_length=200)
    correction: str | None = None
    comment: str | None = None
