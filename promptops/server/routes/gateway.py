"""The OpenAI-compatible gateway: ``POST /v1/chat/completions`` and ``GET /v1/models``.

An application points its OpenAI SDK (or litellm) at ``<server>/v1`` and names a prompt as the
model: ``prompt:NAME`` (label production), ``prompt:NAME@LABEL`` or ``prompt:NAME@VERSION``. The
server renders the deployed version with the request's ``variables``, appends the request's
``messages``, runs it on the deployed model through :func:`..calling.run_and_log` (the path of
``complete``: retries, timeouts, redaction, the call logged) and answers in OpenAI's shape, its
``id`` the call id for feedback. Other model names reach litellm only when
``server.allowed_models`` lists them. Errors are OpenAI's ``{"error": {...}}``.

``stream: true`` is answered as server-sent events in OpenAI's chunk shape; the model call
underneath is not streamed: the events carry the finished answer, cut in pieces.
"""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import ValidationError

from ...errors import NotFoundError, PromptopsError
from ..auth import SECURED, WRITE_SECURED, authorize
from ..calling import CallContext, run_and_log
from ..openai_shape import (
    ChatRequest,
    chunks,
    completion,
    error_body,
    library_error,
    merge_params,
    served_info,
    validation_error,
)
from ..schemas import LABEL_PATTERN
from ..serving import PromptCache, Served

router = APIRouter(prefix="/v1", tags=["gateway"])
PREFIX = "prompt:"
_ERRORS = {code: {"description": desc} for code, desc in (
    (400, "invalid request (OpenAI error shape)"), (401, "no or unknown API key"), (403, "a read key"),
    (404, "no such prompt, label, version or allowed model"), (413, "body over server.max_body_bytes"),
    (422, "missing or mistyped variables, or a parameter the prompt fixes"), (502, "the model failed (logged)"))}


def _openai_error(exc: PromptopsError) -> JSONResponse:
    status, body = library_error(exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


_CHAT_BODY = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": ChatRequest.model_json_schema()}}}}


@router.post("/chat/completions", openapi_extra={**WRITE_SECURED, **_CHAT_BODY}, responses=_ERRORS)
async def chat_completions(request: Request) -> Response:
    """OpenAI's chat completions, for a served prompt (``model: "prompt:NAME[@LABEL|@VERSION]"``,
    ``variables`` in the body) or an allowed passthrough model. The answer's ``id`` is the logged
    call's id; its ``promptops`` field names the prompt, version, label and model that served it."""
    try:
        await authorize(request, "write")
        try:
            body = ChatRequest.model_validate(json.loads(await request.body() or b"null"))
        except (ValueError, TypeError) as exc:
            if isinstance(exc, ValidationError):
                return JSONResponse(validation_error(exc.errors(include_url=False)), status_code=400)
            return JSONResponse(error_body(f"the body is not JSON: {exc}", code="invalid_json"), status_code=400)
        app = request.app
        if body.model.startswith(PREFIX):
            return await _prompt_call(app.state.prompts, app.state.store, body)
        return await _passthrough(app.state.config, app.state.store, body)
    except PromptopsError as exc:
        return _openai_error(exc)


def _context(body: ChatRequest) -> dict[str, Any]:
    return {"user_id": body.user, "session_id": body.session_id, "tags": body.tags, "metadata": body.metadata}


async def _resolve(prompts: PromptCache, spec: str) -> Served:
    """``NAME`` (production), ``NAME@LABEL`` or ``NAME@VERSION`` (a label is tried first)."""
    name, _, ref = spec.partition("@")
    if not name:
        raise NotFoundError("model 'prompt:' names no prompt", hint="use prompt:NAME, prompt:NAME@LABEL or "
                                                                   "prompt:NAME@VERSION")
    if not ref:
        return prompts.fresh(name, "production") or await run_in_threadpool(prompts.by_label, name, "production")
    if re.match(LABEL_PATTERN, ref):
        hit = prompts.fresh(name, ref)
        if hit is not None:
            return hit
        try:
            return await run_in_threadpool(prompts.by_label, name, ref)
        except NotFoundError as missing:
            label_error = missing
    else:
        label_error = None
    try:
        return await run_in_threadpool(prompts.by_version, name, ref)
    except PromptopsError:
        if label_error is not None and "has no label" not in label_error.message:
            raise label_error from None  # the prompt itself is unknown
        raise NotFoundError(f"prompt '{name}' has no label or version '{ref[:80]}'",
                            hint="GET /v1/models lists what is served; promote a version to serve it") from None


async def _prompt_call(prompts: PromptCache, store: Any, body: ChatRequest) -> Response:
    served = (await _resolve(prompts, body.model[len(PREFIX):])).for_user(body.user)
    config = prompts.config
    where = f"{served.name}@{served.label or served.version}"
    rendered = served.prompt.render(body.variables)
    params = merge_params(served.params, body.params(), where)
    model = served.model or config.default_model
    extra = [dict(m) for m in body.messages]
    row, response = await run_and_log(
        config, store, prompt=served.name, version=served.version, env=served.label, model=model,
        messages=[*rendered, *extra], params=params, variables=body.variables, extra_messages=extra,
        context=CallContext(source="gateway", served=served.log_columns(), **_context(body)), where=where)
    info = served_info(row.id, prompt=served.name, version=served.version, label=served.label, model=model,
                       response=response, canary=served.canary)
    return _answer(body, row.id, model, response, info)


async def _passthrough(config: Any, store: Any, body: ChatRequest) -> Response:
    model = body.model
    if model not in config.server.allowed_models:
        raise NotFoundError(f"model '{model[:100]}' is not served here",
                            hint="name a prompt as prompt:NAME, or list the model in promptops.yaml "
                                 "(server.allowed_models)")
    if body.variables:
        raise PromptopsError("variables apply to prompt:NAME models only", where="variables",
                             hint="render the messages yourself for a passthrough model")
    if not body.messages:
        raise PromptopsError("messages: a passthrough model needs at least one message", where="messages")
    messages = [dict(m) for m in body.messages]
    row, response = await run_and_log(
        config, store, prompt="", version="", env=None, model=model, messages=messages, params=body.params(),
        variables={}, context=CallContext(source="passthrough", **_context(body)), where=model)
    info = served_info(row.id, prompt=None, version=None, label=None, model=model, response=response)
    return _answer(body, row.id, model, response, info)


def _answer(body: ChatRequest, call_id: str, model: str, response: dict[str, Any], info: dict[str, Any]) -> Response:
    if not body.stream:
        return JSONResponse(completion(call_id, model, response, info))
    include_usage = bool((body.stream_options or {}).get("include_usage"))
    events = chunks(call_id, model, response, info, include_usage=include_usage)

    async def send() -> Any:
        for event in events:
            yield event

    return StreamingResponse(send(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.get("/models", openapi_extra=SECURED, responses={k: v for k, v in _ERRORS.items() if k in (401, 403)})
async def list_models(request: Request) -> Response:
    """What ``/v1/chat/completions`` serves: ``prompt:NAME`` (its production label),
    ``prompt:NAME@LABEL`` for every current label, and the allowed passthrough models."""
    try:
        await authorize(request, "read")
    except PromptopsError as exc:
        return _openai_error(exc)
    app = request.app
    rows = await run_in_threadpool(app.state.store.deployment_history)
    data, seen = [], set()
    for row in rows:  # newest first: the first row of a label is its current deployment
        if (row.prompt, row.env) in seen:
            continue
        seen.add((row.prompt, row.env))
        info = {"prompt": row.prompt, "label": row.env, "version": row.version, "model": row.model}
        created = int(row.created_at.timestamp())
        ids = [f"{PREFIX}{row.prompt}@{row.env}"] + ([f"{PREFIX}{row.prompt}"] if row.env == "production" else [])
        data += [{"id": i, "object": "model", "created": created, "owned_by": "promptops", "promptops": info}
                 for i in ids]
    data.sort(key=lambda m: m["id"])
    data += [{"id": m, "object": "model", "created": 0, "owned_by": "passthrough", "promptops": None}
             for m in app.state.config.server.allowed_models]
    return JSONResponse({"object": "list", "data": data})
