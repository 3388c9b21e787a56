"""The fake server with Anthropic's Messages API beside the OpenAI routes, request recording, tool
calls and ``Retry-After``: for the fast path's parity tests (tests/test_fastpath.py).

:class:`FakeAnthropic` is a :class:`~promptops.testing.fake_openai.FakeOpenAI` (same rules, latency,
``api_key``, ``known_models``, ``fail_first`` / ``fail_status``), plus:

- ``POST /v1/messages``: an Anthropic Messages API answer (``content`` blocks, ``stop_reason``,
  ``usage.input_tokens`` / ``output_tokens``); the key is checked against ``x-api-key``, errors come
  in Anthropic's shape (``{"type": "error", "error": {"type": ..., "message": ...}}``);
- ``requests``: every request received, as ``{"method", "path", "headers", "body"}`` (the body
  parsed from JSON), for comparing what two clients sent;
- ``tool_calls``: when set (a list of ``{"name", "arguments"}``), chat answers on both wires call
  these tools instead of answering in text;
- ``retry_after``: when set, error answers carry a ``retry-after`` header with this value.

::

    with FakeAnthropic(latency=0.01, api_key="k") as server:
        openai_base = server.base_url        # http://127.0.0.1:<port>/v1
        anthropic_base = server.root_url     # http://127.0.0.1:<port>
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from .fake_http import HTTP
from .fake_openai import FakeOpenAI, _last_user, _text

__all__ = ["FakeAnthropic"]

_ANTHROPIC_ERRORS = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                     404: "not_found_error", 429: "rate_limit_error", 500: "api_error", 529: "overloaded_error"}


class _Typed(str):
    """A content type that carries extra response headers to :class:`_HTTP`."""

    headers: dict[str, str] = {}


class _HTTP(HTTP):
    """The fake's connection, writing the extra headers a :class:`_Typed` content type carries."""

    def _write(self, status: int, payload: bytes, ctype: str) -> None:
        extra = getattr(ctype, "headers", None)
        if not extra or self.transport is None:
            super()._write(status, payload, ctype)
            return
        lines = "".join(f"{k}: {v}\r\n" for k, v in extra.items())
        head = (f"HTTP/1.1 {status} Error\r\nContent-Type: {str(ctype)}\r\n{lines}"
                f"Content-Length: {len(payload)}\r\nConnection: {'keep-alive' if self.keep else 'close'}\r\n\r\n")
        self.transport.write(head.encode() + payload)
        if not self.keep:
            self.transport.close()
            self.transport = None


class FakeAnthropic(FakeOpenAI):
    """The fake OpenAI server, plus Anthropic's route, request recording, tool calls, Retry-After."""

    def __init__(self, *args: Any, tool_calls: list[dict] | None = None, retry_after: str | None = None,
                 **kwargs: Any):
        self.tool_calls: list[dict] | None = None
        self.retry_after: str | None = None
        self.requests: list[dict[str, Any]] = []
        super().__init__(*args, **kwargs)
        self.configure(tool_calls=tool_calls, retry_after=retry_after)

    @property
    def root_url(self) -> str:
        """The server's root (Anthropic clients add ``/v1/messages`` themselves)."""
        return f"http://{self.host}:{self.port}"

    async def start_async(self) -> str:
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._server = await loop.create_server(lambda: _HTTP(self), self.host, self.port, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.base_url

    def _handle(self, method: str, path: str, headers: dict[str, str], body: bytes
                ) -> tuple[int, bytes, str, float]:
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        self.requests.append({"method": method, "path": path, "headers": dict(headers), "body": parsed})
        route = path.split("?", 1)[0]
        if route == "/v1/messages" and method == "POST":
            status, payload, ctype, delay = self._messages(headers, parsed)
        else:
            status, payload, ctype, delay = super()._handle(method, path, headers, body)
            if status == 200 and self.tool_calls and route.endswith("/chat/completions"):
                payload = self._with_tool_calls(payload)
        if status >= 400 and self.retry_after is not None:
            typed = _Typed(ctype)
            typed.headers = {"retry-after": str(self.retry_after)}
            ctype = typed
        return status, payload, ctype, delay

    def _with_tool_calls(self, payload: bytes) -> bytes:
        answer = json.loads(payload)
        calls = [{"id": f"call_{i}", "type": "function",
                  "function": {"name": t["name"], "arguments": json.dumps(t.get("arguments", {}))}}
                 for i, t in enumerate(self.tool_calls or [])]
        answer["choices"][0]["message"] = {"role": "assistant", "content": None, "tool_calls": calls}
        answer["choices"][0]["finish_reason"] = "tool_calls"
        return json.dumps(answer).encode()

    def _anthropic_fail(self, status: int, message: str, delay: float = 0.0) -> tuple[int, bytes, str, float]:
        self._by_status[str(status)] = self._by_status.get(str(status), 0) + 1
        body = {"type": "error", "error": {"type": _ANTHROPIC_ERRORS.get(status, "api_error"), "message": message}}
        return status, json.dumps(body).encode(), "application/json", delay

    def _messages(self, headers: dict[str, str], req: Any) -> tuple[int, bytes, str, float]:
        if self.api_key is not None and headers.get("x-api-key") != self.api_key:
            return self._anthropic_fail(401, "invalid x-api-key (fake server)")
        if not isinstance(req, dict) or not isinstance(req.get("model"), str) \
                or not isinstance(req.get("messages"), list):
            return self._anthropic_fail(400, "body must be JSON with 'model' and 'messages'")
        model, messages = req["model"], req["messages"]
        last = _last_user(messages)
        self._total += 1
        self._by_model[model] = self._by_model.get(model, 0) + 1
        self._by_content[last] = self._by_content.get(last, 0) + 1
        if self.known_models is not None and model not in self.known_models:
            return self._anthropic_fail(404, f"model: {model} (fake server)")
        delay = self.model_latency.get(model, self.latency)
        key = model.encode() + b"\0" + json.dumps(messages, sort_keys=True).encode()
        nth = self._seen.get(key, 0)
        self._seen[key] = nth + 1
        if nth < self.fail_first:
            return self._anthropic_fail(self.fail_status, f"injected failure {nth + 1} of {self.fail_first}", delay)
        text = self.answer(model, messages)
        words = text.split()
        limit = req.get("max_tokens")
        stop = "end_turn"
        if isinstance(limit, int) and 0 < limit < len(words):
            words, stop = words[:limit], "max_tokens"
            text = " ".join(words)
        system = req.get("system")
        prompt = sum(len(_text(m.get("content")).split()) + 1 for m in messages if isinstance(m, dict))
        prompt += len(_text(system).split()) if system else 0
        if self.tool_calls:
            content = [{"type": "tool_use", "id": f"toolu_{i}", "name": t["name"], "input": t.get("arguments", {})}
                       for i, t in enumerate(self.tool_calls)]
            stop = "tool_use"
        else:
            content = [{"type": "text", "text": text}]
        self._seq += 1
        self._by_status["200"] = self._by_status.get("200", 0) + 1
        answer = {"id": f"msg_fake{self._seq}", "type": "message", "role": "assistant", "model": model,
                  "content": content, "stop_reason": stop, "stop_sequence": None,
                  "usage": {"input_tokens": prompt, "output_tokens": max(1, len(words))}}
        return 200, json.dumps(answer).encode(), "application/json", delay
