"""Read-only records: eval runs (with per-case results), deployments, fine-tune jobs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request

from ...deploy import canary
from ..auth import SECURED, ReadKey
from ..schemas import (
    LABEL_PATTERN,
    NAME_PATTERN,
    DeploymentList,
    DeploymentPublic,
    DeploymentState,
    JobList,
    JobPublic,
    ResultPublic,
    RunDetail,
    RunList,
    RunPublic,
)
from . import Filter, LabelQuery, Limit, StoreDep, errors

router = APIRouter()
RunId = Annotated[int, Path(ge=1, le=2_147_483_647)]  # an INTEGER column on PostgreSQL
PromptName = Annotated[str, Path(max_length=128, pattern=NAME_PATTERN)]
EnvName = Annotated[str, Path(max_length=64, pattern=LABEL_PATTERN)]


@router.get("/v1/evals", openapi_extra=SECURED, response_model=RunList, tags=["evals"], responses=errors(401, 403, 422))
def list_evals(_: ReadKey, store: StoreDep, prompt: Filter = None, model: Filter = None, branch: Filter = None,
               limit: Limit = 100) -> RunList:
    """Eval runs, newest first, each with its per-model summary."""
    rows = store.list_runs(prompt=prompt, model=model, branch=branch, limit=limit)
    return RunList(runs=[RunPublic.model_validate(r) for r in rows])


@router.get("/v1/evals/{run_id}", openapi_extra=SECURED, response_model=RunDetail, tags=["evals"], responses=errors(401, 403, 404, 422))
def get_eval(run_id: RunId, _: ReadKey, store: StoreDep) -> RunDetail:
    """One eval run with every per-case result."""
    run = store.get_run(run_id)
    results = [ResultPublic.model_validate(r) for r in store.results(run_id)]
    return RunDetail(**RunPublic.model_validate(run).model_dump(), results=results)


@router.get("/v1/deployments", openapi_extra=SECURED, response_model=DeploymentList, tags=["deployments"],
            responses=errors(401, 403, 422))
def list_deployments(_: ReadKey, store: StoreDep, prompt: Filter = None, env: LabelQuery = None,
                     limit: Limit = 1000) -> DeploymentList:
    """The current label of every prompt and environment, and the label history (newest first)."""
    rows = store.deployment_history(prompt=prompt, env=env)
    current, seen = [], set()
    for row in rows:
        if (row.prompt, row.env) not in seen:
            seen.add((row.prompt, row.env))
            current.append(DeploymentPublic.model_validate(row))
    return DeploymentList(current=current, history=[DeploymentPublic.model_validate(r) for r in rows[:limit]])


@router.get("/v1/deployments/{name}/{env}", openapi_extra=SECURED, response_model=DeploymentState,
            tags=["deployments"], responses=errors(401, 403, 404, 422))
def get_deployment(name: PromptName, env: EnvName, _: ReadKey, store: StoreDep, request: Request) -> DeploymentState:
    """A label now: the stable deployment, the canary and its share while one runs, and the
    canary's comparison with the stable side on feedback (the library's ``deploy.canary``)."""
    config = request.app.state.config
    now = canary.split(config, name, env, store=store)
    comparison = canary.compare(config, name, env, store=store).to_dict() if now.canary is not None else None
    return DeploymentState(prompt=name, env=env, stable=DeploymentPublic.model_validate(now.stable),
                           canary=DeploymentPublic.model_validate(now.canary) if now.canary else None,
                           canary_percent=now.percent, comparison=comparison)


@router.get("/v1/jobs", openapi_extra=SECURED, response_model=JobList, tags=["jobs"], responses=errors(401, 403, 422))
def list_jobs(_: ReadKey, store: StoreDep, prompt: Filter = None) -> JobList:
    """Fine-tune jobs, newest first, with status, progress and metrics."""
    return JobList(jobs=[JobPublic.model_validate(j) for j in store.list_jobs(prompt=prompt)])
