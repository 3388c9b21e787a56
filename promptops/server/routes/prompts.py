"""Prompts: list, fetch by label or version, render, and complete (run on the deployed model)."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.concurrency import run_in_threadpool

from ..._util.secrets import redact, secrets_of
from ...errors import PromptopsError
from ...providers import ProviderError, complete, setup_litellm
from ..auth import SECURED, WRITE_SECURED, ReadKey, WriteKey, authorize
from ..schemas import (
    LABEL_PATTERN,
    CompleteRequest,
    CompleteResponse,
    LabelInfo,
    PromptDetail,
    PromptList,
    PromptSummary,
    RenderRequest,
    RenderResponse,
)
from ..serving import PromptCache, Served
from . import PromptsDep, StoreDep, errors

router = APIRouter(prefix="/v1/prompts", tags=["prompts"])
NamePath = Annotated[str, Path(max_length=128, description="the prompt's name (its file name without .prompt)")]
VERSION_PATTERN = r"^[^\x00\s]+$"


_providers_ready = False


class InvalidRequest(PromptopsError):
    """A request parameter checked by hand is invalid (the same 422 shape as FastAPI's own)."""

    http_status = 422

    def __init__(self, message: str, *, field: str):
        super().__init__(message, where=field, hint="see /docs for the request schema")
        self.extra = {"field": field}


class ModelCallError(PromptopsError):
    """The deployed model failed (the call is logged with its error)."""

    http_status = 502


@router.get("", openapi_extra=SECURED, response_model=PromptList, responses=errors(401, 403))
def list_prompts(_: ReadKey, prompts: PromptsDep, store: StoreDep) -> PromptList:
    """Every prompt in the working tree and every deployed one, with its current labels."""
    labels: dict[str, dict[str, LabelInfo]] = {}
    for row in store.deployment_history():  # newest first: the first row of a label is current
        per = labels.setdefault(row.prompt, {})
        if row.env not in per:
            per[row.env] = LabelInfo(version=row.version, model=row.model, deployment_id=row.id,
                                     deployed_at=row.created_at)
    out = []
    for name, prompt, error in prompts.working_prompts():
        if prompt is None:
            out.append(PromptSummary(name=name, error=error, labels=labels.pop(name, {})))
        else:
            out.append(PromptSummary(name=name, description=prompt.description, version=prompt.version,
                                     model=prompt.model, inputs=list(prompt.inputs), labels=labels.pop(name, {})))
    out += [PromptSummary(name=name, labels=per) for name, per in sorted(labels.items())]
    return PromptList(prompts=out)


async def _serve(prompts: PromptCache, name: str, label: str | None, version: str | None) -> Served:
    if version is not None:
        return await run_in_threadpool(prompts.by_version, name, version)
    label = label or "production"
    # the hot path: a prompt kept in memory needs no thread, no query and no git
    return prompts.fresh(name, label) or await run_in_threadpool(prompts.by_label, name, label)


def detail_body(served: Served) -> bytes:
    """The JSON of GET /v1/prompts/{name}, built once per served prompt."""
    body = served.extra.get("body")
    if body is None:
        p = served.prompt
        detail = PromptDetail(
            name=served.name, version=p.version, hash=p.hash, commit=served.commit, label=served.label,
            model=served.model, params=p.params,
            inputs={k: {"type": s.type, "required": s.required, "default": s.default,
                        "description": s.description} for k, s in p.inputs.items()},
            content=p.to_text(), messages=[{"role": s.role, "content": s.template.strip()} for s in p.sections],
            deployment_id=served.deployment_id)
        body = served.extra["body"] = detail.model_dump_json().encode()
    return body


_GET_PARAMETERS = [
    {"name": "name", "in": "path", "required": True, "description": "the prompt's name",
     "schema": {"type": "string", "maxLength": 128}},
    {"name": "label", "in": "query", "required": False, "description": "environment label (default production)",
     "schema": {"type": "string", "pattern": LABEL_PATTERN}},
    {"name": "version", "in": "query", "required": False,
     "description": "a version prefix or a git ref (instead of a label)",
     "schema": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": VERSION_PATTERN}},
]
_LABEL_RE = re.compile(LABEL_PATTERN)
_VERSION_RE = re.compile(VERSION_PATTERN)


@router.get("/{name}", response_model=PromptDetail, responses=errors(401, 403, 404, 422),
            openapi_extra={**SECURED, "parameters": _GET_PARAMETERS})
async def get_prompt(request: Request) -> Response:
    """A prompt by label (default production) or by version: content, version, model, params."""
    # The hot path of every client, so FastAPI's per-parameter validation and dependency solving
    # are done by hand here (documented above, checked the same way): with them this endpoint
    # served half the requests per second of a bare one; a kept prompt costs microseconds.
    await authorize(request, "read")
    name = request.path_params["name"]
    query = request.query_params
    label, version = query.get("label"), query.get("version")
    if len(name) > 128:
        raise InvalidRequest("path.name: at most 128 characters", field="path.name")
    if label is not None and not _LABEL_RE.match(label):
        raise InvalidRequest(f"query.label: must match {LABEL_PATTERN}", field="query.label")
    if version is not None and (not 1 <= len(version) <= 200 or not _VERSION_RE.match(version)):
        raise InvalidRequest("query.version: a version prefix or git ref, 1 to 200 characters, no spaces",
                             field="query.version")
    if label is not None and version is not None:
        raise InvalidRequest("give label or version, not both", field="query")
    served = await _serve(request.app.state.prompts, name, label, version)
    return Response(detail_body(served), media_type="application/json")


@router.post("/{name}/render", openapi_extra=SECURED, response_model=RenderResponse, responses=errors(401, 403, 404, 413, 422))
async def render_prompt(name: NamePath, body: RenderRequest, _: ReadKey, prompts: PromptsDep) -> RenderResponse:
    """Render a prompt's messages from variables, validated against its declared inputs."""
    served = await _serve(prompts, name, body.label, body.version)
    messages = served.prompt.render(body.variables)
    return RenderResponse(name=served.name, version=served.version, label=served.label, model=served.model,
                          messages=messages)


@router.post("/{name}/complete", openapi_extra=WRITE_SECURED, response_model=CompleteResponse,
             responses=errors(401, 403, 404, 413, 422, 502))
async def complete_prompt(name: NamePath, body: CompleteRequest, _: WriteKey, prompts: PromptsDep,
                          store: StoreDep) -> CompleteResponse:
    """Run the deployed version on the deployed model, log the call, return the output and call id."""

    served = await _serve(prompts, name, body.label, None)
    messages = served.prompt.render(body.variables)
    global _providers_ready
    if not _providers_ready:  # importing litellm takes seconds: not on the event loop, not in the timeout
        await run_in_threadpool(setup_litellm)
        _providers_ready = True
    config = prompts.config
    model = served.model or config.default_model
    timeout = config.model_options(model).timeout or config.timeout
    logged: dict[str, Any] = {"prompt": served.name, "version": served.version, "model": model,
                              "env": served.label, "variables": body.variables, "messages": messages}
    start = time.perf_counter()
    try:
        done = await asyncio.wait_for(complete(model, messages, served.params, config=config), timeout)
    except (ProviderError, PromptopsError, asyncio.TimeoutError) as exc:
        if isinstance(exc, asyncio.TimeoutError):
            cause = f"timeout: no answer within {timeout:g} s"
        else:
            cause = str(exc)
        cause = redact(cause, secrets_of(config))
        row = await run_in_threadpool(lambda: store.log_call(
            **logged, error=cause, latency_ms=(time.perf_counter() - start) * 1000.0))
        error = ModelCallError(f"model {model} failed: {cause}", where=f"{served.name}@{served.label}",
                               hint="the call is logged with its error; try again or check the model")
        error.extra = {"call_id": row.id}  # type: ignore[attr-defined]
        raise error from None
    row = await run_in_threadpool(lambda: store.log_call(
        **logged, output=done.text, latency_ms=done.latency_ms, prompt_tokens=done.prompt_tokens,
        completion_tokens=done.completion_tokens, cost_usd=done.cost_usd))
    return CompleteResponse(call_id=row.id, output=done.text, name=served.name, version=served.version,
                            label=served.label or "", model=model, latency_ms=done.latency_ms,
                            prompt_tokens=done.prompt_tokens, completion_tokens=done.completion_tokens,
                            cost_usd=done.cost_usd)

