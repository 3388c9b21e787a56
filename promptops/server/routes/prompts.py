"""Prompts: list, fetch by label or version, render, and complete (run on the deployed model)."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from fastapi.concurrency import run_in_threadpool

from ...errors import PromptopsError
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
from ..calling import CallContext, run_and_log
from ..serving import PromptCache, Served
from . import PromptsDep, StoreDep, errors

router = APIRouter(prefix="/v1/prompts", tags=["prompts"])
NamePath = Annotated[str, Path(max_length=128, description="the prompt's name (its file name without .prompt)")]
VERSION_PATTERN = r"^[^\x00\s]+$"


class InvalidRequest(PromptopsError):
    """A request parameter checked by hand is invalid (the same 422 shape as FastAPI's own)."""

    http_status = 422

    def __init__(self, message: str, *, field: str):
        super().__init__(message, where=field, hint="see /docs for the request schema")
        self.extra = {"field": field}


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
    served = (await _serve(request.app.state.prompts, name, label, version)).for_user(None, random_without_user=False)
    return Response(detail_body(served), media_type="application/json")


@router.post("/{name}/render", openapi_extra=SECURED, response_model=RenderResponse, responses=errors(401, 403, 404, 413, 422))
async def render_prompt(name: NamePath, body: RenderRequest, _: ReadKey, prompts: PromptsDep) -> RenderResponse:
    """Render a prompt's messages from variables, validated against its declared inputs."""
    served = (await _serve(prompts, name, body.label, body.version)).for_user(None, random_without_user=False)
    messages = served.prompt.render(body.variables)
    return RenderResponse(name=served.name, version=served.version, label=served.label, model=served.model,
                          messages=messages)


@router.post("/{name}/complete", openapi_extra=WRITE_SECURED, response_model=CompleteResponse,
             responses=errors(401, 403, 404, 413, 422, 502))
async def complete_prompt(name: NamePath, body: CompleteRequest, _: WriteKey, prompts: PromptsDep,
                          store: StoreDep) -> CompleteResponse:
    """Run the deployed version on the deployed model, log the call, return the output and call id."""

    served = (await _serve(prompts, name, body.label, None)).for_user(body.user_id)
    messages = served.prompt.render(body.variables)
    config = prompts.config
    model = served.model or config.default_model
    context = CallContext(source="served", user_id=body.user_id, session_id=body.session_id, tags=body.tags,
                          metadata=body.metadata, served=served.log_columns())
    row, done = await run_and_log(config, store, prompt=served.name, version=served.version, env=served.label,
                                  model=model, messages=messages, params=served.params, variables=body.variables,
                                  context=context, where=f"{served.name}@{served.label}")
    return CompleteResponse(call_id=row.id, output=done["text"], name=served.name, version=served.version,
                            label=served.label or "", model=model, latency_ms=done["latency_ms"],
                            prompt_tokens=done["prompt_tokens"], completion_tokens=done["completion_tokens"],
                            cost_usd=done["cost_usd"], queue_ms=done.get("queue_ms"), canary=served.canary)
