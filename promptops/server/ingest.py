"""Calls made elsewhere, reported to be logged (``POST /v1/calls``): as served ones are.

Each reported call names its prompt and a version (a version prefix or git ref) or a label (its
current version); both are resolved here, so the call is logged with the canonical version and an
unknown prompt, label or version is refused (404, naming the call). When the reported messages
begin with the prompt rendered from the call's variables, what follows is kept as the call's
``extra_messages``: a fine-tuning export renders the prompt again and appends them, exactly as it
does for a gateway call. A call without messages is logged with the rendered prompt.
"""

from __future__ import annotations

from datetime import timezone
from typing import Any

from .._util.secrets import redact
from ..errors import PromptopsError
from ..prompts import Prompt
from .schemas import IngestCall
from .serving import PromptCache, Served


def _same(sent: dict[str, Any], rendered: dict[str, str]) -> bool:
    return sent.get("role") == rendered["role"] and sent.get("content") == rendered["content"]


def split_messages(prompt: Prompt, variables: dict[str, Any], messages: list[dict[str, Any]]
                   ) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
    """(the messages to log, those after the rendered prompt or None when they do not follow it)."""
    try:
        rendered = prompt.render(variables)
    except PromptopsError:
        return messages, None
    if not messages:
        return rendered, None
    n = len(rendered)
    if len(messages) >= n and all(_same(s, r) for s, r in zip(messages, rendered)):
        return messages, messages[n:] or None
    return messages, None


def ingest_rows(prompts: PromptCache, calls: list[IngestCall], secrets: list[str]) -> list[dict[str, Any]]:
    """The ``CallLog`` fields of each reported call (blocking: may read the store and git)."""
    resolved: dict[tuple[str, str | None, str | None], Served] = {}
    rows = []
    for i, call in enumerate(calls):
        label = None if call.version else (call.label or "production")
        key = (call.prompt, label, call.version)
        served = resolved.get(key)
        if served is None:
            try:
                served = (prompts.by_version(call.prompt, call.version) if call.version
                          else prompts.by_label(call.prompt, label or "production"))
            except PromptopsError as exc:
                exc.where = f"calls[{i}]" + (f" ({exc.where})" if exc.where else "")
                raise
            resolved[key] = served
        served = served.for_user(call.user_id, random_without_user=False)
        messages, extra = split_messages(served.prompt, call.variables, call.messages)
        row = {"prompt": served.name, "version": served.version, "env": served.label, "model": call.model,
               "variables": call.variables, "messages": messages, "extra_messages": extra,
               "output": redact(call.output, secrets), "error": redact(call.error, secrets),
               "latency_ms": call.latency_ms, "prompt_tokens": call.prompt_tokens,
               "completion_tokens": call.completion_tokens, "cost_usd": call.cost_usd, "source": "ingested",
               "user_id": call.user_id, "session_id": call.session_id, "tags": list(call.tags) or None,
               "meta": dict(call.metadata) or None, **served.log_columns()}
        if call.created_at is not None:
            when = call.created_at
            row["created_at"] = when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)
        rows.append(row)
    return rows
