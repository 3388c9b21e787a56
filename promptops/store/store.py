"""Data functions over the tables: one short method each, keyword arguments, detached rows out.

Every method runs its own transaction; rows come back detached (loaded, no session attached),
so callers may keep them as long as they like. Writes on SQLite take the write lock when they
begin, and bulk inserts skip rows that already exist (results: unless the stored row is an error,
which a retry replaces), so a resumed or concurrent writer never duplicates a row or fails half-way.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, select

from ..errors import NotFoundError, StoreError
from .db import shown, write_engine
from .evals import DIALECTS, Connect, SqlEvalStore
from .models import (
    JOB_STATUSES,
    KEY_SCOPES,
    ApiKey,
    CallLog,
    Deployment,
    EvalResult,
    EvalRun,
    Feedback,
    FinetuneJob,
    PromptVersionRow,
)
from .schema import BATCH
from .schema import check as _check


class ConflictError(StoreError):
    """A write lost a race (the label moved meanwhile); re-read and retry."""

    http_status = 409


class Store:
    """The promptops database. Create it with :func:`promptops.store.open_store`."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._write = write_engine(engine)
        self.evals = SqlEvalStore(_pooled(engine), DIALECTS[engine.dialect.name], where=shown(engine.url),
                                  errors=(engine.dialect.dbapi.Error,), run_type=EvalRun, result_type=EvalResult)

    def __repr__(self) -> str:
        return f"Store({shown(self.engine.url)!r})"

    def close(self) -> None:
        """Nothing to release: the engine and its pool are shared by the process's stores
        (:func:`promptops.store.db.dispose_engines` closes them)."""

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    # --- plumbing ---

    @contextmanager
    def reading(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """A session in one write transaction: committed on exit, rolled back on error."""
        with Session(self._write, expire_on_commit=False) as session, session.begin():
            yield session

    def _add(self, row: SQLModel) -> Any:
        """Insert one new row (Core, not the unit of work: a third of the time) and return it."""
        table = row.__table__  # type: ignore[attr-defined]
        values = {c.key: getattr(row, c.key) for c in table.columns}
        auto = [c.key for c in table.primary_key.columns if values[c.key] is None]
        for key in auto:
            del values[key]
        with self._write.begin() as conn:
            inserted = conn.execute(table.insert(), values).inserted_primary_key
        for key in auto:
            setattr(row, key, getattr(inserted, key))
        return row

    def _get(self, model: type[SQLModel], key: Any, what: str) -> Any:
        with self.reading() as session:
            row = session.get(model, key)
        if row is None:
            raise NotFoundError(f"no {what} {key!r}")
        return row

    # --- the runner's tables: one implementation, shared with the sqlite3 path (evals.py) ---

    def record_prompt_version(self, *, name: str, version: str, hash: str, content: str, path: str) -> None:
        """Remember a prompt version (a no-op when this name and hash are known)."""
        self.evals.record_prompt_version(name=name, version=version, hash=hash, content=content, path=path)

    def create_run(self, **fields: Any) -> EvalRun:
        """Insert an eval run and return it, ``id`` set."""
        return self.evals.create_run(**fields)

    def find_unfinished_run(self, fingerprint: str) -> EvalRun | None:
        """The newest run of the same eval that did not finish (to resume), or None."""
        return self.evals.find_unfinished_run(fingerprint)

    def finish_run(self, run_id: int, *, status: str = "finished", summary: dict[str, Any] | None = None) -> EvalRun:
        """Set a run's final status (and summary, unless None) and return it."""
        return self.evals.finish_run(run_id, status=status, summary=summary)

    def add_results(self, rows: list[dict[str, Any]]) -> None:
        """Insert results in batches. A row whose (run, model, case, repeat) is stored already is
        skipped, unless the stored one is an error: then the new row (a retry on resume) replaces it."""
        self.evals.add_results(rows)

    def results(self, run_id: int) -> list[EvalResult]:
        """A run's results in insertion order."""
        return self.evals.results(run_id)

    def result_rows(self, run_id: int) -> list[Any]:
        """A run's results as plain namespaces (same attributes), much cheaper for many rows."""
        return self.evals.result_rows(run_id)

    def done_keys(self, run_id: int, *, include_errors: bool = False) -> set[tuple[str, str, int]]:
        """(model, case_id, repeat_index) already stored; errored rows only with ``include_errors``."""
        return self.evals.done_keys(run_id, include_errors=include_errors)

    def cache_get_many(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        """The cached responses among ``keys``."""
        return self.evals.cache_get_many(keys)

    def cache_put_many(self, entries: dict[str, tuple[str, dict[str, Any]]]) -> None:
        """Store responses by key: ``{key: (model, response)}``; existing keys are kept."""
        self.evals.cache_put_many(entries)

    # --- prompt versions and runs, read through the ORM ---

    def prompt_versions(self, *, name: str | None = None) -> list[PromptVersionRow]:
        query = select(PromptVersionRow).order_by(PromptVersionRow.id)
        if name is not None:
            query = query.where(PromptVersionRow.name == name)
        with self.reading() as session:
            return list(session.exec(query))

    def get_run(self, run_id: int) -> EvalRun:
        return self._get(EvalRun, run_id, "eval run")

    def list_runs(self, *, prompt: str | None = None, model: str | None = None, branch: str | None = None,
                  limit: int = 100) -> list[EvalRun]:
        """Runs, newest first; ``model`` keeps runs that scored that model."""
        query = select(EvalRun).order_by(EvalRun.id.desc()).limit(limit)  # type: ignore[union-attr]
        if prompt is not None:
            query = query.where(EvalRun.prompt == prompt)
        if branch is not None:
            query = query.where(EvalRun.branch == branch)
        if model is not None:
            query = query.where(_json_text_contains(EvalRun.models, model))
        with self.reading() as session:
            return list(session.exec(query))

    # --- deployments ---

    def add_deployment(self, *, expect_current_id: int | None = None, **fields: Any) -> Deployment:
        """Move a label, in one transaction. With ``expect_current_id`` (0: no deployment yet), the
        move happens only if the label still points there; otherwise :class:`ConflictError`."""
        row = Deployment(**fields)
        with self.writing() as session:
            self._lock_label(session, row.prompt, row.env)
            if expect_current_id is not None:
                current = self._current(session, row.prompt, row.env)
                if (current.id if current else 0) != expect_current_id:
                    raise ConflictError(f"{row.prompt}@{row.env} moved while this change was prepared",
                                        hint="look at the label history and try again")
            session.add(row)
        return row

    def get_deployment(self, deployment_id: int) -> Deployment:
        return self._get(Deployment, deployment_id, "deployment")

    def current_deployment(self, prompt: str, env: str) -> Deployment | None:
        with self.reading() as session:
            return self._current(session, prompt, env)

    def deployment_history(self, *, prompt: str | None = None, env: str | None = None,
                           limit: int | None = None) -> list[Deployment]:
        """Label moves, newest first."""
        query = select(Deployment).order_by(Deployment.id.desc())  # type: ignore[union-attr]
        if prompt is not None:
            query = query.where(Deployment.prompt == prompt)
        if env is not None:
            query = query.where(Deployment.env == env)
        if limit is not None:
            query = query.limit(limit)
        with self.reading() as session:
            return list(session.exec(query))

    @staticmethod
    def _current(session: Session, prompt: str, env: str) -> Deployment | None:
        query = (select(Deployment).where(Deployment.prompt == prompt, Deployment.env == env)
                 .order_by(Deployment.id.desc()).limit(1))  # type: ignore[union-attr]
        return session.exec(query).first()

    def _lock_label(self, session: Session, prompt: str, env: str) -> None:
        # SQLite already holds the write lock (BEGIN IMMEDIATE); PostgreSQL locks just this label.
        if self.dialect == "postgresql":
            key = int.from_bytes(hashlib.sha256(f"{prompt}\0{env}".encode()).digest()[:8], "big", signed=True)
            session.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})

    # --- logged calls and feedback ---

    def log_call(self, **fields: Any) -> CallLog:
        return self._add(CallLog(**fields))

    def get_call(self, call_id: str) -> CallLog:
        return self._get(CallLog, call_id, "logged call")

    def add_feedback(self, call_id: str, *, score: float | None = None, label: str | None = None,
                     correction: str | None = None, comment: str | None = None) -> Feedback:
        with self.writing() as session:
            _must(session.get(CallLog, call_id), "logged call", call_id)
            row = Feedback(call_id=call_id, score=score, label=label, correction=correction, comment=comment)
            session.add(row)
        return row

    def log_calls(self, rows: list[dict[str, Any]]) -> list[CallLog]:
        """Record several calls in one transaction (all or none)."""
        made = [CallLog(**fields) for fields in rows]
        if made:
            table = CallLog.__table__  # type: ignore[attr-defined]
            with self._write.begin() as conn:
                conn.execute(table.insert(), [{c.key: getattr(r, c.key) for c in table.columns} for r in made])
        return made

    def list_calls(self, *, prompt: str | None = None, version: str | None = None, model: str | None = None,
                   has_feedback: bool | None = None, since: datetime | None = None,
                   until: datetime | None = None, env: str | None = None, source: str | None = None,
                   user_id: str | None = None, session_id: str | None = None, tag: str | None = None,
                   metadata: dict[str, str] | None = None, limit: int = 100, offset: int = 0) -> list[CallLog]:
        """Logged calls, newest first, filtered; ``until`` is exclusive; ``tag``: one of the call's
        tags; ``metadata``: every key has this (text) value in the call's metadata."""
        query = select(CallLog)
        for column, value in ((CallLog.prompt, prompt), (CallLog.version, version), (CallLog.model, model),
                              (CallLog.env, env), (CallLog.source, source), (CallLog.user_id, user_id),
                              (CallLog.session_id, session_id)):
            if value is not None:
                query = query.where(column == value)
        if since is not None:
            query = query.where(CallLog.created_at >= since)
        if until is not None:
            query = query.where(CallLog.created_at < until)
        if tag is not None:
            query = query.where(_json_text_contains(CallLog.tags, tag))
        for key, value in (metadata or {}).items():
            query = query.where(CallLog.meta[key].as_string() == value)  # type: ignore[index]
        if has_feedback is not None:
            exists = select(Feedback.id).where(Feedback.call_id == CallLog.id).exists()
            query = query.where(exists if has_feedback else ~exists)
        query = query.order_by(CallLog.created_at.desc(), CallLog.id).limit(limit).offset(offset)  # type: ignore[attr-defined]
        with self.reading() as session:
            return list(session.exec(query))

    def feedback_for(self, call_ids: Iterable[str]) -> dict[str, list[Feedback]]:
        """Feedback per call id, oldest first; calls without feedback are absent."""
        ids, out = list(call_ids), {}
        with self.reading() as session:
            for start in range(0, len(ids), BATCH):
                query = (select(Feedback).where(Feedback.call_id.in_(ids[start:start + BATCH]))  # type: ignore[attr-defined]
                         .order_by(Feedback.id))
                for row in session.exec(query):
                    out.setdefault(row.call_id, []).append(row)
        return out

    # --- fine-tune jobs ---

    def create_job(self, **fields: Any) -> FinetuneJob:
        _check(fields.get("status", "queued"), JOB_STATUSES, "job status")
        return self._add(FinetuneJob(**fields))

    def update_job(self, job_id: str, **fields: Any) -> FinetuneJob:
        """Set fields of a job (status, progress, pid, heartbeat_at, ...) and return it."""
        unknown = set(fields) - set(FinetuneJob.model_fields) | ({"id"} & set(fields))
        if unknown:
            raise ValueError(f"cannot set job fields: {', '.join(sorted(unknown))}")
        if "status" in fields:
            _check(fields["status"], JOB_STATUSES, "job status")
        with self.writing() as session:
            job = _must(session.get(FinetuneJob, job_id), "fine-tune job", job_id)
            for name, value in fields.items():
                setattr(job, name, value)
        return job

    def get_job(self, job_id: str) -> FinetuneJob:
        return self._get(FinetuneJob, job_id, "fine-tune job")

    def list_jobs(self, *, prompt: str | None = None) -> list[FinetuneJob]:
        """Jobs, newest first."""
        query = select(FinetuneJob).order_by(FinetuneJob.created_at.desc())  # type: ignore[attr-defined]
        if prompt is not None:
            query = query.where(FinetuneJob.prompt == prompt)
        with self.reading() as session:
            return list(session.exec(query))

    # --- API keys ---

    def create_api_key(self, scope: str, name: str = "") -> tuple[str, ApiKey]:
        """A new key: the plain key (shown once, never stored) and its row."""
        _check(scope, KEY_SCOPES, "API key scope")
        plain = "po_" + secrets.token_urlsafe(24)
        row = self._add(ApiKey(name=name, prefix=plain[:8], key_hash=hash_key(plain), scope=scope))
        return plain, row

    def verify_api_key(self, plain: str) -> ApiKey | None:
        """The live key matching ``plain``, or None (unknown or revoked)."""
        query = select(ApiKey).where(ApiKey.key_hash == hash_key(plain), ApiKey.revoked == False)  # noqa: E712
        with self.reading() as session:
            return session.exec(query).first()

    def list_api_keys(self) -> list[ApiKey]:
        with self.reading() as session:
            return list(session.exec(select(ApiKey).order_by(ApiKey.id)))

    def revoke_api_key(self, key_id: int) -> ApiKey:
        with self.writing() as session:
            key = _must(session.get(ApiKey, key_id), "API key", key_id)
            key.revoked = True
        return key


def _pooled(engine: Engine) -> Connect:
    """``connect`` for :class:`SqlEvalStore`: a DB-API connection from the engine's pool (with the
    engine's PRAGMAs on SQLite), given back after each transaction."""

    @contextmanager
    def connect() -> Iterator[Any]:
        conn = engine.raw_connection()
        try:
            yield conn
        finally:
            conn.close()

    return connect


def hash_key(plain: str) -> str:
    return hashlib.sha256(plain.encode()).hexdigest()


def _must(row: Any, what: str, key: Any) -> Any:
    if row is None:
        raise NotFoundError(f"no {what} {key!r}")
    return row


def _json_text_contains(column: Any, item: str) -> Any:
    """``item`` is an element of a JSON list of strings (portable: a match on the JSON text)."""
    import json

    needle = json.dumps(item).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return sa.cast(column, sa.Text).like(f"%{needle}%", escape="\\")
