"""A fake OpenAI-compatible chat server on loopback, for tests and benchmarks.

Written on raw asyncio (a ``Protocol`` speaking HTTP/1.1 with keep-alive and Content-Length
bodies) rather than a web framework, so that thousands of requests in flight cost very little
CPU: in benchmarks the runner and this server share two cores.

What it does:

- ``POST /v1/chat/completions`` (and ``/chat/completions``): an OpenAI chat completion with usage.
  ``stream: true`` gets the same answer as one server-sent-event chunk.
- Answers by rules: per model a list of ``(regex on the last user message, answer)``, ``"*"`` for
  every model, then a default (``"echo"`` repeats the last user message). ``rules`` may also be a
  callable ``(model, messages) -> str | None``. An answer may use ``\\1`` / ``\\g<name>`` groups.
  An answer may be a tool call and a pattern may read the whole conversation (``history:...``):
  see :mod:`.fake_answers`. ``last_request`` is the latest chat request's body (tools, response_format).
- Latency: fixed seconds, overridable per model (``model_latency``).
- Error injection: rates for 429, 500 and timeout (the server hangs ``hang`` seconds, longer than
  the client's timeout). Draws are a hash of ``(seed, request, n-th time this request is seen)``, so
  they do not depend on arrival order and a retry gets a fresh draw. ``fail_first=N`` fails the
  first N calls of each distinct request with ``fail_status`` (for retry tests).
- ``api_key``: when set, requests without ``Authorization: Bearer <key>`` get 401.
- ``known_models``: when set, other models get 404 ``model_not_found``.
- Tools: a request whose ``tool_choice`` names a function (or is ``"required"``: its first tool)
  gets a call of it, ``{"input": <the answer>}`` as arguments. ``last_request``: the latest body.
- Counts: ``stats()`` / ``GET /stats`` (total, by model, by last user message, by status);
  ``reset()`` / ``POST /reset``.

In tests::

    with FakeOpenAI(latency=0.01, rules={"*": [(r"capital of France", "Paris")]}) as server:
        base_url = server.base_url          # http://127.0.0.1:<port>/v1

For benchmarks, in its own process::

    python -m promptops.testing.fake_openai --port 8911 --latency 0.05 [--rules rules.json]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from .fake_answers import expand, message, split_pattern, transcript
from .fake_http import HTTP

Answer = str | dict | Callable[..., "str | dict"]
RulesArg = dict[str, Iterable[tuple[str, Answer]]] | Callable[[str, list], "str | None"] | None

_ERROR_TYPES = {400: ("invalid_request_error", None), 401: ("invalid_request_error", "invalid_api_key"),
                404: ("invalid_request_error", "model_not_found"), 429: ("rate_limit_error", "rate_limit_exceeded"),
                500: ("server_error", None), 503: ("server_error", None), 504: ("server_error", "timeout")}


def _text(content: Any) -> str:
    """The text of a message's content (a string, or a list of parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


def _last_user(messages: list) -> str:
    for m in reversed(messages):
        if isinstance(m, dict) and m.get("role") == "user":
            return _text(m.get("content"))
    return ""


def _error_body(status: int, message: str) -> bytes:
    etype, code = _ERROR_TYPES.get(status, ("server_error", None))
    return json.dumps({"error": {"message": message, "type": etype, "param": None, "code": code}}).encode()


class FakeOpenAI:
    """The fake server. Settings are plain attributes; change them between requests with
    :meth:`configure` (the rules are compiled there)."""

    error_body = staticmethod(_error_body)  # the OpenAI error shape, for the connections' own errors

    def __init__(self, latency: float = 0.0, *, model_latency: dict[str, float] | None = None,
                 rules: RulesArg = None, default: Answer = "echo",
                 rate_429: float = 0.0, rate_500: float = 0.0, rate_timeout: float = 0.0, seed: int = 0,
                 fail_first: int = 0, fail_status: int = 500, hang: float = 30.0,
                 api_key: str | None = None, known_models: Iterable[str] | None = None,
                 host: str = "127.0.0.1", port: int = 0):
        self.host = host
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._conns: set[HTTP] = set()
        self._seq = 0
        self.latency = latency
        self.model_latency: dict[str, float] = {}
        self.default: Answer = default
        self.rate_429 = self.rate_500 = self.rate_timeout = 0.0
        self.seed = seed
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.hang = hang
        self.api_key = api_key
        self.known_models: set[str] | None = None
        self._rules_fn: Callable | None = None
        self._rules: dict[str, list[tuple[re.Pattern, Answer, bool]]] = {}
        self.last_request: dict[str, Any] | None = None
        self.configure(model_latency=model_latency or {}, rules=rules, rate_429=rate_429,
                       rate_500=rate_500, rate_timeout=rate_timeout,
                       known_models=known_models)
        self.reset()

    # ----------------------------------------------------------------- settings and counts

    def configure(self, **settings: Any) -> None:
        """Change settings (any ``__init__`` keyword except host/port)."""
        for key, value in settings.items():
            if key == "rules":
                self._set_rules(value)
            elif key == "known_models":
                self.known_models = set(value) if value is not None else None
            elif key in ("host", "port") or not hasattr(self, key):
                raise TypeError(f"unknown setting {key!r}")
            else:
                setattr(self, key, value)
        if self.rate_429 + self.rate_500 + self.rate_timeout > 1.0:
            raise ValueError("error rates add up to more than 1")

    def _set_rules(self, rules: RulesArg) -> None:
        self._rules_fn = None
        self._rules = {}
        if rules is None:
            return
        if callable(rules):
            self._rules_fn = rules
            return
        if isinstance(rules, (list, tuple)):  # one list for every model
            rules = {"*": rules}
        for model, pairs in rules.items():
            if model == "default":
                self.default = pairs  # type: ignore[assignment]
                continue
            self._rules[model] = [(re.compile(regex, re.I | re.S), a, history)
                                  for p, a in pairs for regex, history in [split_pattern(p)]]

    def reset(self) -> None:
        """Zero the counts and forget which requests were seen (for ``fail_first`` and draws)."""
        self._total = 0
        self._by_model: dict[str, int] = {}
        self._by_content: dict[str, int] = {}
        self._by_status: dict[str, int] = {}
        self._seen: dict[bytes, int] = {}
        self._open: dict[str, int] = {}   # chat requests not yet answered, per model ("" = all)
        self._peak: dict[str, int] = {}
        self.last_request: dict[str, Any] | None = None

    def stats(self) -> dict[str, Any]:
        """Counts of chat requests since start or the last reset."""
        return {"total": self._total, "by_model": dict(self._by_model),
                "by_content": dict(self._by_content), "by_status": dict(self._by_status)}

    def peak_in_flight(self, model: str | None = None) -> int:
        """The most chat requests (for one model, or in all) waiting for their answer at once."""
        return self._peak.get("" if model is None else model, 0)

    def _opened(self, model: str, delay: float) -> None:
        for key in ("", model):
            self._open[key] = self._open.get(key, 0) + 1
            self._peak[key] = max(self._peak.get(key, 0), self._open[key])
        asyncio.get_running_loop().call_later(delay, self._closed, model)  # answered after ``delay``

    def _closed(self, model: str) -> None:
        for key in ("", model):
            self._open[key] = self._open.get(key, 0) - 1

    def count(self, *, model: str | None = None, content: str | None = None) -> int:
        """Chat requests for one model or one last-user-message."""
        if model is not None:
            return self._by_model.get(model, 0)
        if content is not None:
            return self._by_content.get(content, 0)
        return self._total

    # ----------------------------------------------------------------- request handling

    def answer(self, model: str, messages: list) -> str | dict:
        """The answer the rules give for a request: text, or a tool-call mapping (:mod:`.fake_answers`)."""
        if self._rules_fn is not None:
            got = self._rules_fn(model, messages)
            if got is not None:
                return got
        last = _last_user(messages)
        whole = None
        for key in (model, "*"):
            for pattern, ans, history in self._rules.get(key, ()):
                if history and whole is None:
                    whole = transcript(messages)
                m = pattern.search(whole if history else last)
                if m:
                    if callable(ans):
                        return ans(m, model, messages)
                    return expand(ans, m)
        if callable(self.default):
            return self.default(model, messages)
        return last if self.default == "echo" else self.default

    def _draw(self, key: bytes, nth: int) -> float:
        digest = hashlib.blake2b(b"%d:%d:" % (self.seed, nth) + key, digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2.0 ** 64

    def _handle(self, method: str, path: str, headers: dict[str, str], body: bytes
                ) -> tuple[int, bytes, str, float]:
        """(status, payload, content type, delay in seconds) for one request."""
        path = path.split("?", 1)[0]
        if path in ("/v1/chat/completions", "/chat/completions"):
            if method != "POST":
                return 405, _error_body(405, "use POST"), "application/json", 0.0
            return self._chat(headers, body)
        if path == "/stats" and method == "GET":
            return 200, json.dumps(self.stats()).encode(), "application/json", 0.0
        if path == "/reset" and method == "POST":
            self.reset()
            return 200, b'{"ok":true}', "application/json", 0.0
        if path in ("/v1/models", "/models") and method == "GET":
            names = sorted(self.known_models or self._by_model)
            data = [{"id": n, "object": "model", "created": 0, "owned_by": "fake"} for n in names]
            return 200, json.dumps({"object": "list", "data": data}).encode(), "application/json", 0.0
        if path == "/health":
            return 200, b'{"ok":true}', "application/json", 0.0
        return 404, _error_body(404, f"no route {method} {path}"), "application/json", 0.0

    def _fail(self, status: int, message: str, delay: float = 0.0) -> tuple[int, bytes, str, float]:
        key = str(status)
        self._by_status[key] = self._by_status.get(key, 0) + 1
        return status, _error_body(status, message), "application/json", delay

    def _chat(self, headers: dict[str, str], body: bytes) -> tuple[int, bytes, str, float]:
        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            return self._fail(401, "Incorrect API key provided (fake server).")
        try:
            req = json.loads(body)
            model = req["model"]
            messages = req["messages"]
            if not isinstance(messages, list) or not isinstance(model, str):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            return self._fail(400, "body must be JSON with 'model' (string) and 'messages' (list)")
        last = _last_user(messages)
        self.last_request = req
        self._total += 1
        self._by_model[model] = self._by_model.get(model, 0) + 1
        self._by_content[last] = self._by_content.get(last, 0) + 1
        if self.known_models is not None and model not in self.known_models:
            return self._fail(404, f"The model `{model}` does not exist (fake server).")
        delay = self.model_latency.get(model, self.latency)
        self._opened(model, delay)

        key = model.encode() + b"\0" + json.dumps(messages, sort_keys=True).encode()
        nth = self._seen.get(key, 0)
        self._seen[key] = nth + 1
        if nth < self.fail_first:
            return self._fail(self.fail_status, f"injected failure {nth + 1} of {self.fail_first}", delay)
        if self.rate_429 or self.rate_500 or self.rate_timeout:
            r = self._draw(key, nth)
            if r < self.rate_429:
                return self._fail(429, "Rate limit reached (fake server).", delay)
            if r < self.rate_429 + self.rate_500:
                return self._fail(500, "The server had an error (fake server).", delay)
            if r < self.rate_429 + self.rate_500 + self.rate_timeout:
                return self._fail(504, "injected timeout (fake server)", self.hang)

        self.last_request = req
        self._seq += 1
        text, tool_calls = message(self.answer(model, messages), self._seq)
        finish = "tool_calls" if tool_calls else "stop"
        stop = req.get("stop")
        for s in ([stop] if isinstance(stop, str) else stop or ()):
            cut = text.find(s) if s and text else -1
            if cut >= 0:
                text = text[:cut]
        limit = req.get("max_completion_tokens") or req.get("max_tokens")
        words = (text or "").split()
        if isinstance(limit, int) and 0 < limit < len(words):
            text = " ".join(words[:limit])
            words = words[:limit]
            finish = "length"
        usage = {"prompt_tokens": sum(len(_text(m.get("content")).split()) + 1 for m in messages
                                      if isinstance(m, dict)),
                 "completion_tokens": max(1, len(words))}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        cid = f"chatcmpl-fake{self._seq}"
        created = int(time.time())
        self._by_status["200"] = self._by_status.get("200", 0) + 1
        if req.get("stream"):
            return 200, self._sse(cid, created, model, text, finish, usage, req, tool_calls), "text/event-stream", delay
        msg: dict[str, Any] = {"role": "assistant", "content": text}
        if not tool_calls and (tool := self._tool_choice(req)):  # a forced tool_choice gets a call of it
            tool_calls = [{"id": f"call_fake{self._seq}", "type": "function",
                           "function": {"name": tool, "arguments": json.dumps({"input": text})}}]
            msg["content"], finish = None, "tool_calls"
        if tool_calls:
            msg["tool_calls"] = tool_calls
        payload = {"id": cid, "object": "chat.completion", "created": created, "model": model,
                   "system_fingerprint": "fp_fake",
                   "choices": [{"index": 0, "message": msg,
                                "logprobs": None, "finish_reason": finish}],
                   "usage": usage}
        return 200, json.dumps(payload).encode(), "application/json", delay

    @staticmethod
    def _tool_choice(req: dict) -> str | None:
        tools, choice = req.get("tools") or [], req.get("tool_choice")
        if isinstance(choice, dict):
            return (choice.get("function") or {}).get("name")
        if choice == "required" and tools and isinstance(tools[0], dict):
            return (tools[0].get("function") or {}).get("name")
        return None

    @staticmethod
    def _sse(cid: str, created: int, model: str, text: str | None, finish: str, usage: dict, req: dict,
             tool_calls: list | None = None) -> bytes:
        base = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model}
        delta: dict[str, Any] = {"role": "assistant", "content": text}
        if tool_calls:
            delta["tool_calls"] = [dict(c, index=i) for i, c in enumerate(tool_calls)]
        chunks = [dict(base, choices=[{"index": 0, "delta": delta, "finish_reason": None}]),
                  dict(base, choices=[{"index": 0, "delta": {}, "finish_reason": finish}])]
        if (req.get("stream_options") or {}).get("include_usage"):
            chunks.append(dict(base, choices=[], usage=usage))
        return b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"

    # ----------------------------------------------------------------- life cycle

    async def start_async(self) -> str:
        """Listen on the running event loop; returns the base URL."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._server = await loop.create_server(lambda: HTTP(self), self.host, self.port, backlog=4096)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.base_url

    async def stop_async(self) -> None:
        if self._server is not None:
            self._server.close()
            for conn in list(self._conns):
                conn.abort()
            self._server = None

    def start(self) -> str:
        """Serve from a background thread (its own event loop); returns the base URL."""
        if self._thread is not None:
            return self.base_url
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            try:
                loop.run_until_complete(self.start_async())
            except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self.stop_async())
                loop.close()

        self._thread = threading.Thread(target=run, name="fake-openai", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            self._thread = None
            raise failure[0]
        return self.base_url

    def stop(self) -> None:
        """Stop the background thread started by :meth:`start`."""
        if self._thread is None:
            return
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._thread = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def __enter__(self) -> FakeOpenAI:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _load_rules(path: str) -> Any:
    """rules.json: ``{"<model>|*": [[regex, answer], ...], "default": "echo"}`` or a bare list."""
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    if isinstance(data, list):
        return {"*": [tuple(p) for p in data]}
    return {k: (v if k == "default" else [tuple(p) for p in v]) for k, v in data.items()}


def main(argv: list[str] | None = None) -> None:
    """Run the fake server in the foreground (for benchmarks, as a separate process)."""
    ap = argparse.ArgumentParser(prog="python -m promptops.testing.fake_openai", description=main.__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8911)
    ap.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    ap.add_argument("--rules", help="rules.json: {model or '*': [[regex, answer], ...], 'default': 'echo'}")
    ap.add_argument("--rate-429", type=float, default=0.0)
    ap.add_argument("--rate-500", type=float, default=0.0)
    ap.add_argument("--rate-timeout", type=float, default=0.0)
    ap.add_argument("--hang", type=float, default=30.0, help="seconds an injected timeout hangs")
    ap.add_argument("--fail-first", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--api-key", default=None, help="require this bearer key")
    args = ap.parse_args(argv)
    server = FakeOpenAI(latency=args.latency, rules=_load_rules(args.rules) if args.rules else None,
                        rate_429=args.rate_429, rate_500=args.rate_500, rate_timeout=args.rate_timeout,
                        hang=args.hang, fail_first=args.fail_first, seed=args.seed, api_key=args.api_key,
                        host=args.host, port=args.port)

    async def serve() -> None:
        url = await server.start_async()
        print(f"fake OpenAI server on {url}", flush=True)
        await asyncio.Event().wait()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
