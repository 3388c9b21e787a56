"""``promptops view``: the dashboard on the local project database, for the person at this machine.

No API key is asked for, so the viewer guards itself instead:

- it listens on a loopback address only (anything else is refused: share results through
  ``promptops serve`` with ``server.require_auth`` and keys);
- every request must carry the viewer's session token, a random value made at start-up and put in
  the URL it prints and opens (``?token=…``; the first request swaps it for an HttpOnly,
  SameSite=Strict cookie and redirects to the clean URL), so other users of a shared machine, and
  web pages in the user's own browser, cannot read it, as with Jupyter's token;
- the Host header must name the loopback address it listens on, which stops a DNS-rebinding page
  from reaching it under a name of its own.

Behind that gate reads need no key (``server.require_auth`` is waived: the token authenticates
the local user); writes (complete, feedback) still need a write key, as on any server.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import socket
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode

from ..errors import PromptopsError
from ..project import Project
from .auth import KeyChecker

COOKIE = "promptops_view"
LOOPBACK_NAMES = ("localhost",)


class ViewerHostError(PromptopsError):
    """``promptops view`` asked to listen where others could reach it without a key."""


def check_loopback(host: str) -> str:
    """``host`` if it is a loopback address (or ``localhost``, taken as 127.0.0.1), else refused."""
    if host in LOOPBACK_NAMES:
        return "127.0.0.1"
    try:
        loopback = ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ViewerHostError(f"promptops view listens on loopback only, not on '{host}'", where="--host",
                              hint="it needs no API key, so it must not be reachable from other machines; to share "
                                   "the dashboard run 'promptops serve' with server.require_auth: true and API keys")
    return host.strip("[]")


class ViewerGate:
    """ASGI middleware: the Host check and the session token (see the module docstring)."""

    def __init__(self, app: Any, *, token: str, hosts: set[str]):
        self.app = app
        self.token = token
        self.hosts = hosts

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", ())}
        if headers.get("host", "").lower() not in self.hosts:
            await _plain(send, 421, "this viewer answers only on its loopback address")
            return
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        offered = next((v for k, v in query if k == "token"), None)
        if scope["method"] in ("GET", "HEAD") and self._same(offered):  # the token never stays in the URL
            rest = urlencode([(k, v) for k, v in query if k != "token"])
            location = scope.get("path", "/") + (f"?{rest}" if rest else "")
            cookie = f"{COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict"
            await _plain(send, 303, "see " + location, [(b"location", location.encode()), (b"set-cookie", cookie.encode())])
            return
        if self._same(_cookie(headers.get("cookie", ""), COOKIE)):
            await self.app(scope, receive, send)
            return
        await _plain(send, 401, "open the link that 'promptops view' printed (it carries this session's token)")

    def _same(self, value: str | None) -> bool:
        return value is not None and hmac.compare_digest(value.encode(), self.token.encode())


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


async def _plain(send: Any, status: int, text: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = (text + "\n").encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


def host_names(host: str, port: int) -> set[str]:
    """The Host header values that reach the viewer on ``host:port``."""
    shown = f"[{host}]" if ":" in host else host
    names = {f"{shown}:{port}"}
    if host in ("127.0.0.1", "::1"):
        names.add(f"localhost:{port}")
    return names


def create_viewer_app(project: Project, *, host: str, port: int, token: str) -> Any:
    """The server app for ``project`` behind :class:`ViewerGate` (reads need no API key)."""
    from .app import create_app

    app = create_app(project)
    app.state.keys = KeyChecker(project.store, require_auth=False)
    app.add_middleware(ViewerGate, token=token, hosts=host_names(host, port))
    return app


def bind(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening socket on a loopback ``host`` (``port`` 0: a free one)."""
    host = check_loopback(host)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ViewerHostError(f"cannot listen on {host}:{port}: {exc.strerror or exc}", where="--port",
                              hint="pick another port, or leave --port out for a free one") from None
    sock.listen(128)
    return sock


def viewer_url(sock: socket.socket, token: str, path: str = "/") -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}{path}{'&' if '?' in path else '?'}token={token}"


def open_browser(url: str) -> bool:
    """Open ``url`` in the user's browser, when this machine has one (in a thread: a console
    browser would take over the terminal). Whether one was found."""
    import webbrowser

    try:
        browser = webbrowser.get()
    except webbrowser.Error:
        return False
    threading.Thread(target=browser.open, args=(url,), name="promptops-browser", daemon=True).start()
    return True


def serve_viewer(project: Project, *, host: str = "127.0.0.1", port: int = 0, path: str = "/",
                 on_ready: Callable[[str], None] | None = None, log_level: str = "warning") -> None:
    """Serve the viewer until interrupted; ``on_ready(url)`` once it listens (URL with token)."""
    import uvicorn

    sock = bind(host, port)
    bound_host, bound_port = sock.getsockname()[:2]
    token = secrets.token_urlsafe(24)
    app = create_viewer_app(project, host=bound_host, port=bound_port, token=token)
    if on_ready is not None:
        on_ready(viewer_url(sock, token, path))
    server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, lifespan="on"))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()


__all__ = ["COOKIE", "ViewerGate", "ViewerHostError", "bind", "check_loopback", "create_viewer_app", "host_names",
           "open_browser", "serve_viewer", "viewer_url"]
