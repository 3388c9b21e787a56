"""A litellm callback that logs an application's own litellm calls on the promptops server.

    import litellm
    from promptops.integrations.litellm import PromptopsLogger

    litellm.callbacks = [PromptopsLogger("http://127.0.0.1:8765", key="po_...")]
    litellm.completion(model="gpt-4o-mini", messages=messages,
                       metadata={"promptops": {"prompt": "capital", "variables": {"country": "Peru"},
                                               "label": "production", "user_id": "u-1"}})

Only calls whose metadata names a prompt are logged (a ``"promptops"`` mapping with ``prompt``;
optional ``version`` or ``label``, ``variables``, ``user_id``, ``session_id``, ``tags``,
``metadata``), failed ones with their error. The callback never blocks nor fails the call: it
queues the call and a background thread posts the queue in batches (``POST /v1/calls``, through
:class:`promptops.client.Client`); :meth:`PromptopsLogger.flush` waits for it. A batch the server
refuses is dropped with a warning (``dropped`` counts its calls).

This module imports litellm (it subclasses litellm's ``CustomLogger``): import it only in an
application that uses litellm.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import OrderedDict
from datetime import datetime, timezone
from typing import Any

from litellm.integrations.custom_logger import CustomLogger

from ..client import Client
from ..errors import PromptopsError

log = logging.getLogger("promptops.integrations.litellm")
KEY = "promptops"
_CONTEXT = ("version", "label", "variables", "user_id", "session_id", "tags", "metadata")


class PromptopsLogger(CustomLogger):
    """Log litellm calls that name a prompt. ``url``/``key``: the server and a write key (or a
    ready ``client``); ``batch_size``: calls per request; ``max_queue``: calls kept while the
    server is slow (more are dropped, counted in ``dropped``)."""

    def __init__(self, url: str | None = None, key: str | None = None, *, client: Client | None = None,
                 batch_size: int = 100, max_queue: int = 10_000, **kwargs: Any):
        super().__init__(**kwargs)
        if client is None and not url:
            raise PromptopsError("PromptopsLogger needs the server's url (or a client)",
                                 hint='PromptopsLogger("http://127.0.0.1:8765", key="po_...")')
        self.client = client or Client(url or "", key=key)
        self.batch_size = batch_size
        self.dropped = 0
        self.sent = 0
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=max_queue)
        self._seen: OrderedDict[str, None] = OrderedDict()  # litellm call ids already queued
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    # --- litellm's hooks (sync and async: whichever litellm calls; a call is queued once) ---

    def log_success_event(self, kwargs: dict, response_obj: Any, start_time: Any, end_time: Any) -> None:
        self._record(kwargs, response_obj, start_time, end_time, error=None)

    def log_failure_event(self, kwargs: dict, response_obj: Any, start_time: Any, end_time: Any) -> None:
        self._record(kwargs, None, start_time, end_time, error=_error_of(kwargs))

    async def async_log_success_event(self, kwargs: dict, response_obj: Any, start_time: Any, end_time: Any) -> None:
        self._record(kwargs, response_obj, start_time, end_time, error=None)

    async def async_log_failure_event(self, kwargs: dict, response_obj: Any, start_time: Any, end_time: Any) -> None:
        self._record(kwargs, None, start_time, end_time, error=_error_of(kwargs))

    # --- queueing and posting ---

    def _record(self, kwargs: dict, response: Any, start: Any, end: Any, *, error: str | None) -> None:
        try:
            call = call_of(kwargs, response, start, end, error=error)
            if call is None or not self._first(kwargs.get("litellm_call_id")):
                return
            self._queue.put_nowait(call)
        except queue.Full:
            self.dropped += 1
            return
        except Exception:  # noqa: BLE001 - a logging callback must never break the application's call
            log.exception("promptops: could not record a litellm call")
            return
        self._start()

    def _first(self, call_id: str | None) -> bool:
        if not call_id:
            return True
        with self._lock:
            if call_id in self._seen:
                return False
            self._seen[call_id] = None
            if len(self._seen) > 10_000:
                self._seen.popitem(last=False)
        return True

    def _start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="promptops-litellm-logger", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self.batch_size:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self.client.log_many(batch)
                self.sent += len(batch)
            except Exception as exc:  # noqa: BLE001 - the server is down or refused it: drop, say so
                self.dropped += len(batch)
                log.warning("promptops: %d litellm call(s) not logged: %s", len(batch), exc)
            finally:
                for _ in batch:
                    self._queue.task_done()

    def flush(self) -> None:
        """Wait until every queued call is posted (or dropped)."""
        self._queue.join()

    def close(self) -> None:
        self.flush()
        self.client.close()


def _error_of(kwargs: dict) -> str:
    exc = kwargs.get("exception")
    return f"{type(exc).__name__}: {exc}" if exc is not None else "the call failed"


def _millis(start: Any, end: Any) -> float | None:
    try:
        return max(0.0, (end - start).total_seconds() * 1000.0)
    except (TypeError, AttributeError):
        return None


def call_of(kwargs: dict, response: Any, start: Any, end: Any, *, error: str | None) -> dict[str, Any] | None:
    """The ``Client.log`` fields of one litellm call, or None when its metadata names no prompt."""
    metadata = (kwargs.get("litellm_params") or {}).get("metadata") or kwargs.get("metadata") or {}
    named = metadata.get(KEY) if isinstance(metadata, dict) else None
    if not isinstance(named, dict) or not named.get("prompt"):
        return None
    model = str(kwargs.get("model") or "")
    provider = kwargs.get("custom_llm_provider") or (kwargs.get("litellm_params") or {}).get("custom_llm_provider")
    if provider and not model.startswith(f"{provider}/"):
        model = f"{provider}/{model}"
    call: dict[str, Any] = {"prompt": named["prompt"], "model": model or "unknown",
                            "messages": [dict(m) for m in kwargs.get("messages") or [] if isinstance(m, dict)],
                            "latency_ms": _millis(start, end), "error": error}
    call.update({k: named[k] for k in _CONTEXT if named.get(k) is not None})
    if isinstance(start, datetime):
        call["created_at"] = start.astimezone(timezone.utc).isoformat()  # litellm's is naive local time
    if response is not None and error is None:
        choice = response.choices[0]
        call["output"] = getattr(choice.message, "content", None) or ""
        usage = getattr(response, "usage", None)
        call["prompt_tokens"] = getattr(usage, "prompt_tokens", None)
        call["completion_tokens"] = getattr(usage, "completion_tokens", None)
        cost = kwargs.get("response_cost")
        call["cost_usd"] = float(cost) if cost is not None else None
    return call
