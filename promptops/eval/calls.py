"""One model call with timeout, retries and backoff: shared by the runner and its worker processes.

Neither :mod:`.runner` nor :mod:`.workers` owns this, so the worker processes import it without
importing the runner (and the runner imports the workers without a cycle)."""

from __future__ import annotations

import asyncio
import random
from typing import Protocol

from .._util.secrets import redact, secrets_of  # noqa: F401 - secrets_of re-exported: the runner imports it here
from ..config import Config
from ..errors import PromptopsError
from ..providers import ProviderError, complete, spec_for
from ..providers.errors import RETRYABLE


#: the longest Retry-After honoured (seconds): a provider asking for more is retried after this
MAX_RETRY_AFTER = 60.0


class CallSpec(Protocol):
    """What a call needs: the runner's jobs and the workers' specs both have these."""

    model: str
    messages: list[dict]
    params: dict


def model_limits(config, jobs, concurrency: int) -> dict[str, asyncio.Semaphore]:
    limits: dict[str, asyncio.Semaphore] = {}
    for job in jobs:
        if job.model not in limits:
            opts = config.model_options(job.model)
            limit = opts.concurrency or spec_for(job.model).default_concurrency or concurrency
            limits[job.model] = asyncio.Semaphore(limit)
    return limits


def share(total: int, n: int, wid: int) -> int:
    """Worker ``wid``'s part of a limit split over ``n`` workers: the parts add up to ``total``."""
    return total // n + (1 if wid < total % n else 0)


async def call_with_retries(config: Config, job: CallSpec, secrets: list[str]) -> tuple[dict | None, str | None]:
    opts = config.model_options(job.model)
    timeout = opts.timeout or config.timeout
    queued = spec_for(job.model).queues
    retries = config.max_retries if opts.max_retries is None else opts.max_retries
    backoff = config.retry_backoff
    attempt = 0
    while True:
        asked: float | None = None  # the provider's Retry-After, when it sent one
        try:
            call = complete(job.model, job.messages, job.params, config=config)
            # A queueing provider (local batching) times the generation, not the wait in its queue:
            # under load a wait_for here expired queued calls, whose retries queued again behind.
            done = await (call if queued else asyncio.wait_for(call, timeout))
            response = {"text": done.text, "prompt_tokens": done.prompt_tokens,
                        "completion_tokens": done.completion_tokens, "cost_usd": done.cost_usd,
                        "latency_ms": done.latency_ms, "finish_reason": done.finish_reason}
            if done.tool_calls:
                response["tool_calls"] = done.tool_calls
            if done.queue_ms is not None:
                response["queue_ms"] = done.queue_ms
            return response, None
        except asyncio.TimeoutError:
            kind, message, retryable = "timeout", f"no answer within {timeout:g} s", True
        except ProviderError as exc:
            kind, message, retryable = exc.kind, str(exc), exc.retryable or exc.kind in RETRYABLE
            asked = exc.retry_after
        except PromptopsError as exc:
            kind, message, retryable = "config", exc.one_line(), False
        if not retryable or attempt >= retries:
            suffix = f" after {attempt + 1} attempts" if attempt else ""
            return None, redact(f"{kind}: {message}{suffix}", secrets)
        await asyncio.sleep(retry_delay(backoff, attempt, asked))
        attempt += 1


def retry_delay(backoff: float, attempt: int, retry_after: float | None) -> float:
    """Seconds before retry ``attempt + 1``: exponential backoff with jitter (at most 8 s), or the
    provider's ``Retry-After`` when it asks for longer, capped at :data:`MAX_RETRY_AFTER`."""
    delay = min(8.0, backoff * 2 ** attempt) * (0.5 + random.random() / 2)
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    return delay
