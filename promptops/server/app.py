"""The FastAPI application: ``create_app(project)``.

A thin layer: routes parse the request, call the library (store, deploy, providers) and return a
public shape from :mod:`.schemas`. Library errors (:class:`PromptopsError`) become their
``http_status`` with ``{"error", "where", "hint"}`` in one handler here; request validation
errors get the same shape, with the field at fault.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import __version__
from ..config import Config
from ..errors import AuthError, PromptopsError, RenderError
from ..project import Project
from ..providers import setup_litellm
from ..store import Store
from .auth import KeyChecker
from .openai_shape import GATEWAY_PATHS
from .openai_shape import error_body as openai_error
from .serving import DEFAULT_TTL, PromptCache

log = logging.getLogger("promptops.server")

DESCRIPTION = """Serve prompts by label, render them, run them on their deployed model and log the
calls; take feedback; read eval runs, deployments and fine-tune jobs.

Authentication: `Authorization: Bearer <key>` (or `X-API-Key: <key>`), keys from
`promptops keys create --scope read|write|admin`. Writes (complete, feedback) need a write key;
reads need a read key when `server.require_auth` is on. Errors are `{"error", "where", "hint"}`.
"""


WORKER_ROOT_ENV = "PROMPTOPS_SERVE_ROOT"


def worker_app() -> FastAPI:
    """The app of one uvicorn worker process (``promptops serve --workers N``): the project at
    ``$PROMPTOPS_SERVE_ROOT``, opened in this process (its own store engine and prompt cache)."""
    import os
    from pathlib import Path

    return create_app(Project.load(Path(os.environ[WORKER_ROOT_ENV])), warm_providers=True)


def create_app(project: Project | Config, *, store: Store | None = None, cache_ttl: float = DEFAULT_TTL,
               dashboard: bool = True, warm_providers: bool = False) -> FastAPI:
    """The promptops server for one project (its prompts, git history and database).

    ``project``: a :class:`~promptops.project.Project` (left open: its owner closes it), or a
    config, for which the app builds a project and closes it at shutdown; ``store`` overrides
    the project's store.
    ``cache_ttl``: seconds a resolved ``name@label`` is served without asking the store again.
    ``warm_providers``: import litellm in the background at start-up (it takes seconds), so the
    first ``complete`` does not wait for it.
    """
    from .docs import add_docs
    from .routes import calls, gateway, health, prompts, records

    owned = not (isinstance(project, Project) and store is None)
    if owned:  # closed at shutdown; it closes only what it opened, never the given store
        project = Project(project.config if isinstance(project, Project) else project, store=store)
    config, store = project.config, project.store  # opened now: a bad database fails at start-up

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if warm_providers:
            threading.Thread(target=setup_litellm, kwargs={"config": config}, name="promptops-warm",
                             daemon=True).start()
        yield
        app.state.prompts.close()
        if owned:
            project.close()

    app = FastAPI(title="promptops", version=__version__, description=DESCRIPTION, lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url="/openapi.json")
    app.state.project = project
    app.state.config = config
    app.state.store = store
    app.state.prompts = PromptCache(config, store, ttl=cache_ttl)
    app.state.keys = KeyChecker(store, require_auth=config.server.require_auth, ttl=config.server.key_ttl)

    app.add_exception_handler(PromptopsError, _library_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
    app.add_middleware(BodyLimit, max_bytes=config.server.max_body_bytes)

    for module in (prompts, calls, records, gateway, health):
        app.include_router(module.router)
    add_docs(app)
    _document_security(app)
    if dashboard:
        from .dashboard import router as dashboard_router

        app.include_router(dashboard_router)
    return app


def _document_security(app: FastAPI) -> None:
    """Add the API-key schemes to the OpenAPI components (routes name them in ``security``)."""
    from .auth import SECURITY_SCHEMES

    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


# --- errors, mapped once ---


def _body(message: str, where: str | None = None, hint: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"error": message, "where": where, "hint": hint, **extra}


_VARIABLE = re.compile(r"variable(?:\(s\))?:? '?([A-Za-z_]\w*)")


def _library_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PromptopsError)
    extra: dict[str, Any] = dict(getattr(exc, "extra", None) or {})
    if isinstance(exc, RenderError):
        match = _VARIABLE.search(exc.message)
        extra["field"] = f"variables.{match.group(1)}" if match else "variables"
    headers = {"WWW-Authenticate": "Bearer"} if type(exc) is AuthError else None
    return JSONResponse(_body(exc.message, exc.where, exc.hint, **extra), status_code=exc.http_status,
                        headers=headers)


def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in exc.errors()]
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    loc = tuple(first.get("loc", ()))
    if first.get("type") == "json_invalid":  # loc is ("body", <character offset>): the field is the body
        first = {**first, "msg": f"not valid JSON (at character {loc[1]})" if len(loc) > 1 else "not valid JSON"}
        loc = loc[:1]
    field = ".".join(str(p) for p in loc)
    message = f"{field}: {first['msg']}" if field else str(first["msg"])
    return JSONResponse(jsonable_encoder(_body(message, field or None, "see /docs for the request schema",
                                               field=field or None, detail=errors)), status_code=422)


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return JSONResponse(_body(str(exc.detail)), status_code=exc.status_code, headers=exc.headers)


def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return JSONResponse(_body("internal server error", hint="see the server log"), status_code=500)


# --- body size limit ---


class BodyLimit:
    """Refuse bodies over ``max_bytes`` with 413: by Content-Length up front, and by counting the
    bytes that actually arrive (a chunked or lying client). The body is read before the app runs,
    so the app never sees a partial body."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > self.max_bytes:
                    await self._refuse(send, scope)
                    return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break  # the client went away; let the app see it
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(send, scope)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send, scope: Scope) -> None:
        message, hint = f"request body larger than {self.max_bytes} bytes", "send less, or raise server.max_body_bytes in promptops.yaml"
        body = (openai_error(f"{message} ({hint})", code="request_too_large") if scope.get("path") in GATEWAY_PATHS
                else _body(message, hint=hint))  # the gateway answers in OpenAI's error shape
        response = JSONResponse(body, status_code=413, headers={"Connection": "close"})
        await response({"type": "http"}, _never_receive, send)


async def _never_receive() -> Message:  # pragma: no cover - a JSONResponse does not read
    return {"type": "http.disconnect"}
