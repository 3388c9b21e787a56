"""Run a served prompt on its model and log the call: the one path of ``complete`` and the
OpenAI-compatible gateway (and of the gateway's passthrough models).

The model call is the runner's (:func:`promptops.eval.calls.call_with_retries`): the model's
timeout per attempt, retries with backoff on rate limits, server errors and timeouts, and
provider errors redacted by the one rule of :mod:`promptops._util.secrets`. Every call is logged,
a failed one with its error (then :class:`ModelCallError`, 502, carries the call id).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi.concurrency import run_in_threadpool

from .._util.secrets import secrets_of
from ..config import Config
from ..errors import PromptopsError
from ..eval.calls import call_with_retries
from ..providers import setup_litellm
from ..store import Store
from ..store.models import CallLog

_providers_ready = False


class ModelCallError(PromptopsError):
    """The model failed after its retries (the call is logged with its error)."""

    http_status = 502


@dataclass
class CallContext:
    """What a call is logged with besides its prompt: who made it, in which session, tagged how."""

    source: str = "served"
    user_id: str | None = None
    session_id: str | None = None
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    served: dict[str, Any] = field(default_factory=dict)  # Served.log_columns(): deployment id, canary

    def columns(self) -> dict[str, Any]:
        return {"source": self.source, "user_id": self.user_id, "session_id": self.session_id,
                "tags": list(self.tags) or None, "meta": dict(self.metadata) or None, **self.served}


@dataclass
class _Job:  # what call_with_retries needs (the runner's jobs have the same three)
    model: str
    messages: list[dict]
    params: dict


async def ensure_providers() -> None:
    """Import litellm once, in a thread: it takes seconds, not on the event loop nor in a timeout."""
    global _providers_ready
    if not _providers_ready:
        await run_in_threadpool(setup_litellm)
        _providers_ready = True


async def run_and_log(config: Config, store: Store, *, prompt: str, version: str, env: str | None, model: str,
                      messages: list[dict], params: dict[str, Any], variables: dict[str, Any],
                      extra_messages: list[dict] | None = None, context: CallContext | None = None,
                      where: str | None = None) -> tuple[CallLog, dict[str, Any]]:
    """Call ``model`` with ``messages`` (the rendered prompt, then ``extra_messages``) and log it.

    Returns the logged row and the response (``text``, tokens, ``cost_usd``, ``latency_ms``, and
    ``tool_calls`` / ``finish_reason`` when the model gave them); raises :class:`ModelCallError`
    (502) when the model failed, after logging the call with its error."""
    await ensure_providers()
    context = context or CallContext()
    logged: dict[str, Any] = {"prompt": prompt, "version": version, "model": model, "env": env,
                              "variables": variables, "messages": messages,
                              "extra_messages": extra_messages or None, **context.columns()}
    start = time.perf_counter()
    response, error = await call_with_retries(config, _Job(model, messages, params), secrets_of(config))
    if response is None:
        row = await run_in_threadpool(lambda: store.log_call(
            **logged, error=error, latency_ms=(time.perf_counter() - start) * 1000.0))
        failure = ModelCallError(f"model {model} failed: {error}", where=where or f"{prompt}@{env or version}",
                                 hint="the call is logged with its error; try again or check the model")
        failure.extra = {"call_id": row.id}  # type: ignore[attr-defined]
        raise failure
    output = response["text"]
    if not output and response.get("tool_calls"):
        output = json.dumps({"tool_calls": response["tool_calls"]})
    row = await run_in_threadpool(lambda: store.log_call(
        **logged, output=output, latency_ms=response["latency_ms"],
        prompt_tokens=response["prompt_tokens"], completion_tokens=response["completion_tokens"],
        cost_usd=response["cost_usd"]))
    return row, response
