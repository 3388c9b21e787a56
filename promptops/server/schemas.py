"""Request and response shapes of the HTTP API.

Responses are built from these classes only (never from table rows), so a column such as an API
key's hash cannot leave the server by accident. Request bodies reject unknown fields, NUL
characters (PostgreSQL cannot store them), lone UTF-16 surrogates (no UTF-8 store can) and
non-finite numbers (JSON cannot carry them back).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from .._util.text import lone_surrogate_at

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
LABEL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
# Query filters are free text, but PostgreSQL rejects NUL characters in text.
TEXT_PATTERN = r"^[^\x00]*$"


def _no_nul(value: Any) -> Any:
    """Reject NUL characters and lone UTF-16 surrogates anywhere in a JSON value (keys included):
    neither can be stored as UTF-8, and a stored one would break every later listing of it."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("text must not contain NUL characters")
        if lone_surrogate_at(value):
            raise ValueError("text must not contain a lone UTF-16 surrogate (a string cut inside a character)")
    elif isinstance(value, dict):
        for k, v in value.items():
            _no_nul(k)
            _no_nul(v)
    elif isinstance(value, list):
        for v in value:
            _no_nul(v)
    return value


Text = Annotated[str, AfterValidator(_no_nul)]
Variables = Annotated[dict[str, Any], AfterValidator(_no_nul)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class _Response(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ErrorBody(BaseModel):
    """Every error: a one-line cause, where it came from, and how to fix it."""

    error: str
    where: str | None = None
    hint: str | None = None
    field: str | None = Field(None, description="the request field at fault, when one is")


# --- prompts ---


class LabelInfo(_Response):
    version: str
    model: str
    deployment_id: int
    deployed_at: datetime


class PromptSummary(_Response):
    name: str
    description: str = ""
    version: str | None = Field(None, description="the working-tree version")
    model: str | None = None
    inputs: list[str] = Field(default_factory=list)
    labels: dict[str, LabelInfo] = Field(default_factory=dict)
    error: str | None = Field(None, description="why the working-tree file does not parse")


class PromptList(_Response):
    prompts: list[PromptSummary]


class MessageTemplate(_Response):
    role: str
    content: str


class PromptDetail(_Response):
    name: str
    version: str
    hash: str
    commit: str | None = None
    label: str | None = Field(None, description="the label asked for (None when fetched by version)")
    model: str | None = Field(None, description="the deployed model for a label, else the prompt's model")
    params: dict[str, Any] = Field(default_factory=dict)
    inputs: dict[str, dict[str, Any]] = Field(default_factory=dict)
    content: str = Field(description="the prompt file (front matter + body)")
    messages: list[MessageTemplate] = Field(description="the role sections, unrendered")
    deployment_id: int | None = None


class RenderRequest(_Request):
    variables: Variables = Field(default_factory=dict)
    label: str | None = Field(None, pattern=LABEL_PATTERN)
    version: str | None = Field(None, min_length=1, max_length=200, pattern=r"^[^\x00\s]+$")

    @model_validator(mode="after")
    def _one_selector(self) -> "RenderRequest":
        if self.label is not None and self.version is not None:
            raise ValueError("give label or version, not both")
        return self


class Message(_Response):
    role: str
    content: str


class RenderResponse(_Response):
    name: str
    version: str
    label: str | None = None
    model: str | None = None
    messages: list[Message]


Tag = Annotated[str, AfterValidator(_no_nul), Field(min_length=1, max_length=100)]
ContextId = Annotated[str, AfterValidator(_no_nul), Field(min_length=1, max_length=200)]
Metadata = Annotated[dict[str, Any], AfterValidator(_no_nul)]


class CallContextFields(_Request):
    """Context a call is logged with, filterable in GET /v1/calls."""

    user_id: ContextId | None = None
    session_id: ContextId | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    metadata: Metadata = Field(default_factory=dict)


class CompleteRequest(CallContextFields):
    variables: Variables = Field(default_factory=dict)
    label: str = Field("production", pattern=LABEL_PATTERN)


class CompleteResponse(_Response):
    call_id: str
    output: str
    name: str
    version: str
    label: str
    model: str
    latency_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    queue_ms: float | None = Field(None, description="embedded (batched) models: the part of latency_ms this "
                                   "request waited for its batch to start; latency_ms minus it is its generation")
    canary: bool | None = Field(None, description="while the label runs a canary: whether it served this call")


# --- calls and feedback ---


class FeedbackRequest(_Request):
    score: float | None = None
    label: Text | None = Field(None, min_length=1, max_length=200)
    correction: Text | None = Field(None, max_length=100_000)
    comment: Text | None = Field(None, max_length=100_000)

    @model_validator(mode="after")
    def _something(self) -> "FeedbackRequest":
        if self.score is None and self.label is None and self.correction is None and self.comment is None:
            raise ValueError("give at least one of score, label, correction, comment")
        return self


class FeedbackPublic(_Response):
    id: int
    call_id: str
    score: float | None = None
    label: str | None = None
    correction: str | None = None
    comment: str | None = None
    created_at: datetime


class CallPublic(_Response):
    id: str
    prompt: str
    version: str
    model: str
    env: str | None = None
    variables: dict[str, Any] = Field(default_factory=dict)
    messages: list[dict[str, Any]] = Field(default_factory=list)
    output: str | None = None
    error: str | None = None
    latency_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    created_at: datetime
    source: str | None = None
    extra_messages: list[dict[str, Any]] = Field(default_factory=list)
    user_id: str | None = None
    session_id: str | None = None
    tags: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    deployment_id: int | None = Field(None, description="the deployment that served the call")
    canary: bool | None = Field(None, description="while a canary ran: whether its canary side served the call")
    feedback: list[FeedbackPublic] = Field(default_factory=list)

    @classmethod
    def of(cls, row: Any) -> "CallPublic":
        """From a ``CallLog`` row (its ``meta`` column is the API's ``metadata``; NULLs are empty)."""
        fields = {name: getattr(row, name) for name in cls.model_fields if name not in ("metadata", "feedback")}
        fields.update(extra_messages=row.extra_messages or [], tags=row.tags or [], metadata=row.meta or {})
        return cls(**fields)


class CallList(_Response):
    calls: list[CallPublic]
    limit: int
    offset: int


Messages = Annotated[list[dict[str, Any]], AfterValidator(_no_nul), Field(max_length=1000)]


class IngestCall(CallContextFields):
    """A call an application made itself, reported to be logged (POST /v1/calls)."""

    prompt: str = Field(pattern=NAME_PATTERN, description="the prompt it ran")
    version: str | None = Field(None, min_length=1, max_length=200, pattern=r"^[^\x00\s]+$",
                                description="a version prefix or git ref (else the label's current version)")
    label: str | None = Field(None, pattern=LABEL_PATTERN, description="default production when no version")
    model: Text = Field(min_length=1, max_length=300)
    variables: Variables = Field(default_factory=dict)
    messages: Messages = Field(default_factory=list, description="every message sent, the rendered prompt first")
    output: Text | None = Field(None, max_length=1_000_000)
    error: Text | None = Field(None, max_length=100_000)
    latency_ms: float | None = Field(None, ge=0)
    prompt_tokens: int | None = Field(None, ge=0, le=2_000_000_000)
    completion_tokens: int | None = Field(None, ge=0, le=2_000_000_000)
    cost_usd: float | None = Field(None, ge=0)
    created_at: datetime | None = Field(None, description="when the call was made (default: now)")

    @model_validator(mode="after")
    def _consistent(self) -> "IngestCall":
        if self.label is not None and self.version is not None:
            raise ValueError("give label or version, not both")
        if self.output is None and self.error is None:
            raise ValueError("give the call's output, or its error")
        return self


class IngestBatch(_Request):
    calls: list[IngestCall] = Field(min_length=1, max_length=1000)


class IngestResult(_Response):
    ids: list[str] = Field(description="the logged calls' ids, in the order sent (for feedback)")


# --- evals ---


class RunPublic(_Response):
    id: int
    prompt: str
    version: str
    ref: str | None = None
    commit: str | None = None
    branch: str | None = None
    models: list[str] = Field(default_factory=list)
    repeat: int = 1
    status: str
    source: str
    started_at: datetime
    finished_at: datetime | None = None
    summary: dict[str, Any] | None = Field(None, description="per model: accuracy, CI, counts, latency, cost")


class RunList(_Response):
    runs: list[RunPublic]


class ResultPublic(_Response):
    model: str
    case_id: str
    repeat_index: int = 0
    vars: dict[str, Any] = Field(default_factory=dict)
    expected: Any | None = None
    output: str | None = None
    passed: bool | None = None
    score: float | None = None
    reason: str = ""
    error: str | None = None
    cached: bool = False
    latency_ms: float | None = None
    cost_usd: float | None = None


class RunDetail(RunPublic):
    results: list[ResultPublic]


# --- deployments and jobs ---


class DeploymentPublic(_Response):
    id: int
    prompt: str
    env: str
    version: str
    hash: str
    commit: str | None = None
    model: str
    score: float | None = None
    threshold: float | None = None
    reason: str = ""
    forced: bool = False
    rollback_of: int | None = None
    actor: str = ""
    created_at: datetime
    canary_percent: float | None = Field(None, description="a canary: its share of the label's traffic")
    canary_base: int | None = Field(None, description="a canary: the deployment serving the rest")
    canary_end: int | None = Field(None, description="the canary deployment this move finished")


class DeploymentState(_Response):
    """A label now: its stable deployment and, while one runs, the canary with its share."""

    prompt: str
    env: str
    stable: DeploymentPublic
    canary: DeploymentPublic | None = None
    canary_percent: float = Field(0.0, description="percent of requests the canary serves (0: none running)")
    comparison: dict[str, Any] | None = Field(None, description="the canary against the stable side on feedback "
                                                                 "(as 'promptops canary' prints it)")


class DeploymentList(_Response):
    current: list[DeploymentPublic] = Field(description="the newest deployment of each prompt and environment")
    history: list[DeploymentPublic] = Field(description="every label move, newest first")


class JobPublic(_Response):
    id: str
    prompt: str
    base_model: str
    dataset: str
    status: str
    progress: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    adapter_path: str | None = None
    error: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    heartbeat_at: datetime | None = None


class JobList(_Response):
    jobs: list[JobPublic]


class Health(_Response):
    status: str
    version: str
    database: str
    model_path: str = Field("cold", description="'warm' once the model client (litellm) is loaded: until then "
                                                "the first complete waits for its import (see /ready)")
