"""Routes by domain: prompts (serve, render, complete), calls (log, feedback), records (evals,
deployments, jobs, health)."""

from __future__ import annotations

from ..deps import Filter, LabelQuery, Limit, Offset, ProjectDep, PromptsDep, StoreDep
from ..schemas import ErrorBody

__all__ = ["Filter", "LabelQuery", "Limit", "Offset", "ProjectDep", "PromptsDep", "StoreDep", "errors"]


def errors(*codes: int) -> dict[int | str, dict]:
    """OpenAPI entries for the error statuses a route can answer."""
    return {code: {"model": ErrorBody} for code in codes}
