"""What the escalation flow reports as it goes: one small event per step, for a front end to render.

The flow (:mod:`.flow`) never prints; it calls ``on_event(event)`` with one of these, and the CLI
(``promptops escalate``) and the demo each render them in their own words. Events are emitted in
the order the steps happen: Exported, Measuring, Estimated, JobStarted, JobProgress…, JobEnded,
Compared, then Promoted or NotPromoted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Union

if TYPE_CHECKING:  # the job and deployment rows are SQLModel tables: not imported on the fast path
    from ..store.models import Deployment, FinetuneJob
    from .estimate import Estimate
    from .export import ExportResult


@dataclass(frozen=True)
class Exported:
    """The fine-tuning set was written from the prompt's logged calls."""

    prompt: str
    export: ExportResult


@dataclass(frozen=True)
class Measuring:
    """A few real training steps are about to be timed on this machine, for the estimate."""

    prompt: str
    steps: int


@dataclass(frozen=True)
class Estimated:
    """The cost-benefit estimate, made just before the job is started."""

    prompt: str
    estimate: Estimate


@dataclass(frozen=True)
class JobStarted:
    """The LoRA job was created and its worker process launched."""

    prompt: str
    job: FinetuneJob


@dataclass(frozen=True)
class JobProgress:
    """The job as read at one poll while waiting for it (status, step, loss in ``job.progress``)."""

    prompt: str
    job: FinetuneJob


@dataclass(frozen=True)
class JobEnded:
    """The job is final: ``job.status`` is succeeded, failed or cancelled."""

    prompt: str
    job: FinetuneJob


@dataclass(frozen=True)
class Compared:
    """The adapter was scored on the suite and set beside the best prompt (``flow.compare``'s dict)."""

    prompt: str
    comparison: dict[str, Any]


@dataclass(frozen=True)
class Promoted:
    """The fine-tuned model now serves ``env``."""

    prompt: str
    env: str
    deployment: Deployment


@dataclass(frozen=True)
class NotPromoted:
    """The fine-tuned model was not promoted to ``env``; ``reason`` says why in one line."""

    prompt: str
    env: str
    reason: str


Event = Union[Exported, Measuring, Estimated, JobStarted, JobProgress, JobEnded, Compared, Promoted, NotPromoted]
OnEvent = Callable[[Event], None]


def ignore(event: Event) -> None:
    """The default ``on_event``: a library caller that does not listen gets no output."""
