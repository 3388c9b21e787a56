"""A client for the promptops server, with an in-process prompt cache.

    from promptops import Client

    client = Client("http://127.0.0.1:8765", key="po_...", ttl=60)
    prompt = client.get("snips-intent")                 # label production
    messages = prompt.render(text="play some jazz")      # rendered here, same sandbox as the server
    result = client.complete("snips-intent", {"text": "play some jazz"})
    client.feedback(result.call_id, score=1)
    call_id = client.log("snips-intent", model="gpt-4o-mini", variables={"text": "..."}, output="PlayMusic")

Caching follows the Langfuse SDK: a fetched prompt is fresh for ``ttl`` seconds; after that the
stale entry is still returned at once while one background refresh runs (concurrent callers
share it). A ``fallback`` prompt is used only when the server cannot be reached and nothing is
cached yet; it comes back with ``is_fallback=True`` and is not cached, so the next call tries
the server again.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from .errors import AuthError, NotFoundError, PromptopsError, RenderError
from .prompts import Prompt, parse_prompt

log = logging.getLogger("promptops.client")
Fallback = str | list[dict[str, str]]


class ServerUnreachable(PromptopsError):
    """The server could not be reached (connection refused, timeout, 502/503/504)."""

    http_status = 503


class ServerError(PromptopsError):
    """The server answered with an error this client has no better class for."""


@dataclass(frozen=True)
class PromptResult:
    """A fetched prompt: its content and what it runs on. ``render(**vars)`` gives the messages."""

    name: str
    version: str | None
    label: str | None
    model: str | None
    params: dict[str, Any]
    content: str
    prompt: Prompt = field(repr=False, compare=False)
    commit: str | None = None
    is_fallback: bool = False

    def render(self, **variables: Any) -> list[dict[str, str]]:
        """The chat messages, validated against the prompt's declared inputs (RenderError)."""
        return self.prompt.render(variables)


@dataclass(frozen=True)
class CompletionResult:
    """What ``complete`` returns: the model's output and the id of the logged call."""

    call_id: str
    output: str
    name: str
    version: str
    label: str
    model: str
    latency_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None


@dataclass
class _Entry:
    result: PromptResult
    expires: float


class Client:
    """The promptops server's API, with prompts cached in process.

    ``fallback``: one fallback for every prompt, or ``{name: fallback}``; a fallback is the text of
    a ``.prompt`` file, a plain template (one user message), or a list of
    ``{"role", "content"}`` templates. ``get(..., fallback=...)`` overrides it per call.
    """

    def __init__(self, url: str, key: str | None = None, ttl: float = 60, fallback: Any = None, *,
                 timeout: float = 10.0, transport: httpx.BaseTransport | None = None):
        headers = {"User-Agent": "promptops-client"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self.url = url.rstrip("/")
        self.ttl = ttl
        self.fallback = fallback
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout, transport=transport)
        self._cache: dict[tuple[str, str | None, str | None], _Entry] = {}
        self._inflight: dict[tuple[str, str | None, str | None], Future] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="promptops-refresh")

    # ------------------------------------------------------------------ prompts

    def get(self, name: str, label: str | None = "production", version: str | None = None, *,
            fallback: Fallback | None = None, ttl: float | None = None) -> PromptResult:
        """A prompt by label (default production) or by version (a version prefix or git ref)."""
        key = (name, None if version else label, version)
        now = time.monotonic()
        with self._lock:
            entry = self._cache.get(key)
            if entry is not None:
                if entry.expires <= now:
                    self._refresh_locked(key, ttl)  # stale: serve it, refresh behind
                return entry.result
            future = self._refresh_locked(key, ttl)  # first fetch: wait for it (shared with others)
        try:
            return future.result()
        except ServerUnreachable:
            chosen = fallback if fallback is not None else self._fallback_for(name)
            if chosen is None:
                raise
            log.warning("promptops server unreachable; serving the fallback of %s", name)
            return _fallback_result(name, label, chosen)

    def _refresh_locked(self, key: tuple[str, str | None, str | None], ttl: float | None) -> Future:
        """One fetch per key at a time: an in-flight one is shared. Call with the lock held."""
        future = self._inflight.get(key)
        if future is None:
            future = self._pool.submit(self._fetch_and_store, key, ttl)
            self._inflight[key] = future
        return future

    def _fetch_and_store(self, key: tuple[str, str | None, str | None], ttl: float | None) -> PromptResult:
        try:
            result = self._fetch(*key)
            with self._lock:
                self._cache[key] = _Entry(result, time.monotonic() + (self.ttl if ttl is None else ttl))
            return result
        except Exception as exc:
            if key in self._cache:  # a background refresh: keep serving the stale entry
                log.warning("promptops: refreshing %s failed: %s", key[0], exc)
            raise
        finally:
            with self._lock:
                self._inflight.pop(key, None)

    def _fetch(self, name: str, label: str | None, version: str | None) -> PromptResult:
        params = {"version": version} if version else {"label": label or "production"}
        data = self._request("GET", f"/v1/prompts/{name}", params=params)
        prompt = parse_prompt(data["content"], source=f"{name}@{data['version']}")
        return PromptResult(name=data["name"], version=data["version"], label=data.get("label"),
                            model=data.get("model"), params=data.get("params") or {}, content=data["content"],
                            prompt=prompt, commit=data.get("commit"))

    def _fallback_for(self, name: str) -> Fallback | None:
        if isinstance(self.fallback, dict):
            return self.fallback.get(name)
        return self.fallback

    def invalidate(self, name: str | None = None) -> None:
        """Drop cached prompts (all, or one name's)."""
        with self._lock:
            for key in [k for k in self._cache if name is None or k[0] == name]:
                del self._cache[key]

    # ------------------------------------------------------------------ calls

    def render(self, name: str, variables: dict[str, Any], *, label: str | None = None,
               version: str | None = None) -> list[dict[str, str]]:
        """The messages, rendered by the server."""
        body: dict[str, Any] = {"variables": variables}
        if version:
            body["version"] = version
        elif label:
            body["label"] = label
        return self._request("POST", f"/v1/prompts/{name}/render", json=body)["messages"]

    def complete(self, name: str, variables: dict[str, Any], *, label: str = "production") -> CompletionResult:
        """Run the deployed version on its deployed model; the server logs the call."""
        data = self._request("POST", f"/v1/prompts/{name}/complete", json={"variables": variables, "label": label})
        return CompletionResult(**{k: data.get(k) for k in CompletionResult.__dataclass_fields__})

    def feedback(self, call_id: str, *, score: float | None = None, label: str | None = None,
                 correction: str | None = None, comment: str | None = None) -> dict[str, Any]:
        """Judge a logged call: a score, a label, a corrected output and/or a comment."""
        body = {k: v for k, v in (("score", score), ("label", label), ("correction", correction),
                                  ("comment", comment)) if v is not None}
        return self._request("POST", f"/v1/calls/{call_id}/feedback", json=body)

    def log(self, prompt: str, *, model: str, output: str | None = None, error: str | None = None,
            variables: dict[str, Any] | None = None, messages: list[dict[str, Any]] | None = None,
            version: str | None = None, label: str | None = None, latency_ms: float | None = None,
            prompt_tokens: int | None = None, completion_tokens: int | None = None, cost_usd: float | None = None,
            user_id: str | None = None, session_id: str | None = None, tags: list[str] | None = None,
            metadata: dict[str, Any] | None = None, created_at: datetime | str | None = None) -> str:
        """Log a call this application made itself (its prompt and version, or label, default
        production); returns the call id, for :meth:`feedback`. ``messages``: every message sent,
        the rendered prompt first (left out: the prompt rendered from ``variables``)."""
        fields = dict(prompt=prompt, model=model, output=output, error=error, variables=variables,
                      messages=messages, version=version, label=label, latency_ms=latency_ms,
                      prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, cost_usd=cost_usd,
                      user_id=user_id, session_id=session_id, tags=tags, metadata=metadata, created_at=created_at)
        return self.log_many([fields])[0]

    def log_many(self, calls: list[dict[str, Any]]) -> list[str]:
        """Log several calls (the keyword arguments of :meth:`log`, as dicts) in one request, all
        or none; their ids, in order."""
        if not calls:
            return []
        body = {"calls": [{k: v.isoformat() if isinstance(v, datetime) else v for k, v in c.items() if v is not None}
                          for c in calls]}
        return self._request("POST", "/v1/calls", json=body)["ids"]

    def calls(self, **filters: Any) -> list[dict[str, Any]]:
        """Logged calls with their feedback (filters: prompt, version, model, has_feedback, since, ...)."""
        params = {k: v for k, v in filters.items() if v is not None}
        return self._request("GET", "/v1/calls", params=params)["calls"]

    # ------------------------------------------------------------------ plumbing

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except (httpx.TransportError, OSError) as exc:
            raise ServerUnreachable(f"cannot reach the promptops server at {self.url}: {exc}",
                                    hint="is 'promptops serve' running there?") from None
        if response.status_code < 400:
            return response.json()
        try:
            body = response.json()
        except ValueError:
            body = {}
        message = body.get("error") if isinstance(body, dict) else None
        message = message or f"HTTP {response.status_code}"
        where, hint = (body.get("where"), body.get("hint")) if isinstance(body, dict) else (None, None)
        status = response.status_code
        if status in (502, 503, 504) and not path.endswith("/complete"):
            raise ServerUnreachable(f"the promptops server at {self.url} is unavailable: {message}", hint=hint)
        cls = {401: AuthError, 403: AuthError, 404: NotFoundError, 422: RenderError}.get(status, ServerError)
        error = cls(message, where=where, hint=hint)
        error.http_status = status
        if isinstance(body, dict) and body.get("call_id"):
            error.call_id = body["call_id"]  # type: ignore[attr-defined]
        raise error

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._http.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _fallback_result(name: str, label: str | None, fallback: Fallback) -> PromptResult:
    """A PromptResult from a caller's fallback (its template variables are declared as ``any``)."""
    if isinstance(fallback, str) and fallback.lstrip().startswith("---"):
        content = fallback
    else:
        import json

        from jinja2 import Environment, meta

        sections = [{"role": "user", "content": fallback}] if isinstance(fallback, str) else list(fallback)
        env = Environment()
        names = sorted(set().union(*(meta.find_undeclared_variables(env.parse(m["content"])) for m in sections)))
        inputs = json.dumps({n: "any" for n in names})
        body = "\n".join(f"{m['role']}:\n{m['content']}" for m in sections)
        content = f"---\nname: {json.dumps(name)}\ninput: {inputs}\n---\n{body}\n"
    prompt = parse_prompt(content, source=f"{name} (fallback)")
    return PromptResult(name=name, version=None, label=label, model=prompt.model, params=dict(prompt.params),
                        content=content, prompt=prompt, is_fallback=True)
