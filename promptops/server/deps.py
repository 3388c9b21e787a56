"""What routes receive through ``Depends``: the app's project, its store and prompt cache, and the
bounded query parameters (API keys: :data:`.auth.ReadKey` / :data:`.auth.WriteKey`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from ..project import Project
from ..store import Store
from .schemas import LABEL_PATTERN, TEXT_PATTERN
from .serving import PromptCache


async def _project(request: Request) -> Project:
    return request.app.state.project


async def _store(request: Request) -> Store:
    return request.app.state.store


async def _prompts(request: Request) -> PromptCache:
    return request.app.state.prompts


ProjectDep = Annotated[Project, Depends(_project)]
StoreDep = Annotated[Store, Depends(_store)]
PromptsDep = Annotated[PromptCache, Depends(_prompts)]
# Free-text filters: bounded, and without NUL (PostgreSQL refuses it in text).
Filter = Annotated[str | None, Query(max_length=200, pattern=TEXT_PATTERN)]
LabelQuery = Annotated[str | None, Query(pattern=LABEL_PATTERN, description="environment label")]
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=1_000_000_000)]
