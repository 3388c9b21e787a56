"""API keys: ``Authorization: Bearer <key>`` (or ``X-API-Key``), scopes read < write < admin.

Write endpoints always need a write (or admin) key. Reads need a read key only when
``server.require_auth`` is on; a key that is sent must be valid either way. Keys are checked
against their sha256 in the store; a verified key is remembered for a few seconds so that a
busy client does not cost a query per request (a revoked key stops working within that time).
The dashboard also takes the key from the ``promptops_key`` cookie, since a browser cannot set
headers on a link.
"""

from __future__ import annotations

import threading
import time
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool

from ..errors import AuthError
from ..store import Store

RANK = {"read": 0, "write": 1, "admin": 2}
KEY_TTL = 5.0
COOKIE = "promptops_key"

class ForbiddenError(AuthError):
    """A valid key whose scope is too low for this endpoint."""

    http_status = 403


class KeyChecker:
    """Verified keys (by plain value) -> scope, kept ``ttl`` seconds (``server.key_ttl``, default
    ``KEY_TTL``): a key revoked elsewhere keeps working on this server for up to ``ttl`` seconds
    (0: never cached, so a revocation counts from the next request)."""

    def __init__(self, store: Store, *, require_auth: bool, ttl: float = KEY_TTL):
        self.store = store
        self.require_auth = require_auth
        self.ttl = ttl
        self._seen: dict[str, tuple[float, str | None]] = {}
        self._lock = threading.Lock()

    def known(self, key: str) -> bool:
        """Whether the key's scope is remembered (so :meth:`scope_of` needs no query)."""
        hit = self._seen.get(key)
        return hit is not None and hit[0] > time.monotonic()

    def scope_of(self, key: str) -> str | None:
        now = time.monotonic()
        hit = self._seen.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        row = self.store.verify_api_key(key) if len(key) <= 200 and "\x00" not in key else None
        scope = row.scope if row is not None else None
        with self._lock:
            if len(self._seen) > 10_000:
                self._seen.clear()
            if self.ttl > 0:
                self._seen[key] = (now + self.ttl, scope)
        return scope

    def check(self, key: str | None, needed: str) -> str | None:
        """The key's scope, or raise AuthError (401) / ForbiddenError (403)."""
        if not key:
            if needed == "read" and not self.require_auth:
                return None
            raise AuthError(f"this endpoint needs a {needed} API key",
                            hint="send 'Authorization: Bearer <key>'; create one with "
                                 f"'promptops keys create --scope {needed}'")
        scope = self.scope_of(key)
        if scope is None:
            raise AuthError("unknown or revoked API key", hint="create one with 'promptops keys create'")
        if RANK[scope] < RANK[needed]:
            raise ForbiddenError(f"a {scope} key cannot use this endpoint; it needs a {needed} key",
                                 hint=f"create one with 'promptops keys create --scope {needed}'")
        return scope


def key_from(request: Request) -> str | None:
    """The key a request carries: Authorization Bearer, then X-API-Key, then the dashboard cookie."""
    headers = request.headers
    value = headers.get("authorization")
    if value:
        scheme, _, token = value.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    value = headers.get("x-api-key")
    if value and value.strip():
        return value.strip()
    return request.cookies.get(COOKIE) or None


async def authorize(request: Request, needed: str) -> str | None:
    """The scope of the request's key, or AuthError / ForbiddenError. A request that needs no
    query (no key, or a remembered one) never leaves the event loop."""
    keys: KeyChecker = request.app.state.keys
    key = key_from(request)
    if key and not keys.known(key):
        await run_in_threadpool(keys.scope_of, key)
    return keys.check(key, needed)


def _dependency(needed: str):
    # One flat dependency that reads the headers itself: FastAPI's security sub-dependencies cost
    # more per request than serving a kept prompt does.
    async def check(request: Request) -> str | None:
        return await authorize(request, needed)

    check.__name__ = f"require_{needed}"
    return check


require_read = _dependency("read")
require_write = _dependency("write")

ReadKey = Annotated[str | None, Depends(require_read)]
WriteKey = Annotated[str | None, Depends(require_write)]

# OpenAPI: the schemes (added to components by create_app) and the marker each route carries.
SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "an API key from `promptops keys create`"},
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "the same key, in a header"},
}
SECURED = {"security": [{"bearer": []}, {"apiKey": []}, {}]}
WRITE_SECURED = {"security": [{"bearer": []}, {"apiKey": []}]}
