"""The fake server's HTTP/1.1 on raw asyncio: keep-alive, Content-Length bodies, bounded heads and
bodies, and a response sent after a delay without holding the event loop (see :mod:`.fake_openai`)."""

from __future__ import annotations

import asyncio
from typing import Protocol

REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
           405: "Method Not Allowed", 411: "Length Required", 413: "Payload Too Large",
           429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable",
           504: "Gateway Timeout"}
MAX_HEAD = 64 * 1024
MAX_BODY = 32 * 1024 * 1024


class Server(Protocol):
    """What a connection needs of the server it serves (:class:`.fake_openai.FakeOpenAI`)."""

    _conns: set

    def _handle(self, method: str, path: str, headers: dict[str, str], body: bytes
                ) -> tuple[int, bytes, str, float]: ...

    def error_body(self, status: int, message: str) -> bytes: ...


class HTTP(asyncio.Protocol):
    """One connection: parse requests, answer them in order (a pending answer holds the next)."""

    __slots__ = ("srv", "buf", "busy", "transport", "timer", "keep")

    def __init__(self, srv: Server):
        self.srv = srv
        self.buf = bytearray()
        self.busy = False
        self.transport: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.keep = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.srv._conns.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.transport = None
        self.srv._conns.discard(self)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.busy:
            self._process()

    def _process(self) -> None:
        buf = self.buf
        while not self.busy and self.transport is not None:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > MAX_HEAD:
                    self._send_close(413, self.srv.error_body(413, "headers too large"))
                return
            lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
            try:
                method, target, version = lines[0].split(" ", 2)
            except ValueError:
                self._send_close(400, self.srv.error_body(400, "bad request line"))
                return
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            if "chunked" in headers.get("transfer-encoding", "").lower():
                self._send_close(411, self.srv.error_body(411, "send a Content-Length body"))
                return
            try:
                length = int(headers.get("content-length", "0"))
            except ValueError:
                length = -1
            if not 0 <= length <= MAX_BODY:
                self._send_close(413, self.srv.error_body(413, "bad Content-Length"))
                return
            total = end + 4 + length
            if len(buf) < total:
                return
            body = bytes(buf[end + 4:total])
            del buf[:total]
            conn = headers.get("connection", "").lower()
            self.keep = conn != "close" if version == "HTTP/1.1" else conn == "keep-alive"
            try:
                status, payload, ctype, delay = self.srv._handle(method, target, headers, body)
            except Exception as exc:  # noqa: BLE001 - a rule callable failed: answer 500, keep serving
                status, payload, ctype, delay = 500, self.srv.error_body(500, f"fake server error: {exc!r}"), \
                    "application/json", 0.0
            if delay > 0:
                self.busy = True
                self.timer = asyncio.get_running_loop().call_later(
                    delay, self._delayed, status, payload, ctype)
                return
            self._write(status, payload, ctype)

    def _delayed(self, status: int, payload: bytes, ctype: str) -> None:
        self.timer = None
        self.busy = False
        if self.transport is None:
            return
        self._write(status, payload, ctype)
        if self.buf and self.transport is not None:
            self._process()

    def _write(self, status: int, payload: bytes, ctype: str) -> None:
        head = (f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(payload)}\r\n"
                f"Connection: {'keep-alive' if self.keep else 'close'}\r\n\r\n").encode()
        assert self.transport is not None
        self.transport.write(head + payload)
        if not self.keep:
            self.transport.close()
            self.transport = None

    def _send_close(self, status: int, payload: bytes) -> None:
        self.keep = False
        self._write(status, payload, "application/json")
