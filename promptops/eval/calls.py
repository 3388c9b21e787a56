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
    retries = config.max_retries if opts.max_retries is None else opts.max_retries
    backoff = config.retry_backoff
    attempt = 0
    while True:
        try:
            done = await asyncio.wait_for(complete(job.model, job.messages, job.params, config=config), timeout)
            out = {"text": done.text, "prompt_tokens": done.prompt_tokens, "completion_tokens": done.completion_tokens,
                   "cost_usd": done.cost_usd, "latency_ms": done.latency_ms}
            if done.tool_calls:  # only a call that offered tools gets them (the gateway)
                out["tool_calls"] = done.tool_calls
            if done.finish_reason not in (None, "stop"):
                out["finish_reason"] = done.finish_reason
            return out, None
        except asyncio.TimeoutError:
            kind, message, retryable = "timeout", f"no answer within {timeout:g} s", True
        except ProviderError as exc:
            kind, message, retryable = exc.kind, str(exc), exc.retryable or exc.kind in RETRYABLE
        except PromptopsError as exc:
            kind, message, retryable = "config", exc.one_line(), False
        if not retryable or attempt >= retries:
            suffix = f" after {attempt + 1} attempts" if attempt else ""
            return None, redact(f"{kind}: {message}{suffix}", secrets)
        await asyncio.sleep(min(8.0, backoff * 2 ** attempt) * (0.5 + random.random() / 2))
        attempt += 1
