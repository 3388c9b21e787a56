"""Logged calls and their feedback."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import Discriminator, Tag

from ..._util.secrets import secrets_of
from ...errors import NotFoundError, RenderError
from ..auth import SECURED, WRITE_SECURED, ReadKey, WriteKey
from ..ingest import ingest_rows
from ..schemas import CallList, CallPublic, FeedbackPublic, FeedbackRequest, IngestBatch, IngestCall, IngestResult
from . import Filter, LabelQuery, Limit, Offset, PromptsDep, StoreDep, errors

router = APIRouter(prefix="/v1/calls", tags=["calls"])
_CALL_ID = re.compile(r"^[0-9A-Za-z_-]{1,32}$")


def _shape(value: object) -> str:
    return "batch" if isinstance(value, dict) and "calls" in value else "call"


IngestBody = Annotated[Annotated[IngestCall, Tag("call")] | Annotated[IngestBatch, Tag("batch")],
                       Discriminator(_shape)]


@router.post("", openapi_extra=WRITE_SECURED, response_model=IngestResult, status_code=201,
             responses=errors(401, 403, 404, 413, 422))
async def log_calls(body: IngestBody, _: WriteKey, prompts: PromptsDep, store: StoreDep) -> IngestResult:
    """Log calls an application made itself: one call, or ``{"calls": [...]}`` (up to 1000), each
    with its prompt and version (or label), model, variables, messages, output (or error), latency,
    tokens, cost and context. All are logged or none; the ids come back in order, for feedback."""
    calls = body.calls if isinstance(body, IngestBatch) else [body]
    config = prompts.config
    rows = await run_in_threadpool(ingest_rows, prompts, calls, secrets_of(config))
    made = await run_in_threadpool(store.log_calls, rows)
    return IngestResult(ids=[row.id for row in made])


@router.post("/{call_id}/feedback", openapi_extra=WRITE_SECURED, response_model=FeedbackPublic, status_code=201,
             responses=errors(401, 403, 404, 413, 422))
def add_feedback(call_id: Annotated[str, Path(max_length=64)], body: FeedbackRequest, _: WriteKey,
                 store: StoreDep) -> FeedbackPublic:
    """Judge a logged call: a score, a label, a corrected output and/or a comment."""
    if not _CALL_ID.match(call_id):
        raise NotFoundError(f"no logged call {call_id[:40]!r}")
    row = store.add_feedback(call_id, score=body.score, label=body.label, correction=body.correction,
                             comment=body.comment)
    return FeedbackPublic.model_validate(row)


def _utc(value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    except (OverflowError, ValueError):
        raise RenderError(f"{name} is out of range", where=f"query.{name}") from None


MetadataQuery = Annotated[list[str] | None, Query(max_length=20, description="key=value: the call's metadata has it (repeatable)")]


def metadata_filter(values: list[str] | None) -> dict[str, str] | None:
    """``["key=value", ...]`` as a mapping; RenderError (422) for an item without ``=``."""
    if not values:
        return None
    out = {}
    for item in values:
        key, eq, value = item.partition("=")
        if not eq or not key or len(item) > 400 or "\x00" in item:
            raise RenderError(f"metadata filter {item[:60]!r}: expected key=value", where="query.metadata")
        out[key] = value
    return out


@router.get("", openapi_extra=SECURED, response_model=CallList, responses=errors(401, 403, 422))
def list_calls(_: ReadKey, store: StoreDep, prompt: Filter = None, version: Filter = None, model: Filter = None,
               has_feedback: bool | None = None,
               since: Annotated[datetime | None, Query(description="created at or after (ISO 8601)")] = None,
               until: Annotated[datetime | None, Query(description="created before (ISO 8601)")] = None,
               label: LabelQuery = None, source: Filter = None, user_id: Filter = None, session_id: Filter = None,
               tag: Filter = None, metadata: MetadataQuery = None,
               limit: Limit = 100, offset: Offset = 0) -> CallList:
    """Logged calls, newest first, with their feedback; filtered by prompt, version, model, feedback, time,
    label, source (served, gateway, passthrough, ingested), user, session, tag and metadata."""
    rows = store.list_calls(prompt=prompt, version=version, model=model, has_feedback=has_feedback,
                            since=_utc(since, "since"), until=_utc(until, "until"), env=label, source=source,
                            user_id=user_id, session_id=session_id, tag=tag, metadata=metadata_filter(metadata),
                            limit=limit, offset=offset)
    feedback = store.feedback_for(r.id for r in rows)
    calls = []
    for row in rows:
        call = CallPublic.of(row)
        call.feedback = [FeedbackPublic.model_validate(f) for f in feedback.get(row.id, [])]
        calls.append(call)
    return CallList(calls=calls, limit=limit, offset=offset)
