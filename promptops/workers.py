"""Spread model calls over worker processes.

litellm spends a few milliseconds of CPU on every call, so a one-process runner on a small machine
is CPU-bound long before the network is (DESIGN.md: about 4 ms per call, so 3,000 calls at
concurrency 50 need 12 s of one core against a 3 s physical limit). The runner keeps grading,
caching and writing in its own process and sends a share of the remote calls to worker processes,
each with its own event loop and litellm, and a share of the concurrency limits. Local models
(``local/…``) always stay in the main process, where the model is loaded once.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import time
from dataclasses import dataclass
from typing import Any, Callable

MIN_CALLS_PER_WORKER = 300  # below this, starting a process (and importing litellm) costs more than it saves


@dataclass
class CallSpec:
    """What a worker needs for one call (picklable)."""

    index: int
    model: str
    messages: list[dict]
    params: dict


def worker_count(config, remote_calls: int) -> int:
    """How many processes to use: ``PROMPTOPS_WORKERS``, else ``config.workers``, else one per core
    when there are enough calls to pay for the start-up."""
    setting = os.environ.get("PROMPTOPS_WORKERS") or getattr(config, "workers", None)
    if setting not in (None, "", "auto"):
        return max(1, int(setting))
    cores = os.cpu_count() or 1
    return max(1, min(cores, 8, remote_calls // MIN_CALLS_PER_WORKER))


def _worker_main(config, specs: list[CallSpec], concurrency: int, divide: int, secrets: list[str], out) -> None:
    """Entry point of a worker process: run the calls, send results back in small batches."""
    from .runner import _call_with_retries

    async def run() -> None:
        limit = asyncio.Semaphore(max(1, concurrency))
        model_limits: dict[str, asyncio.Semaphore] = {}
        pending: list[tuple[int, Any, Any]] = []
        last = time.monotonic()

        def flush(force: bool = False) -> None:
            nonlocal pending, last
            if pending and (force or len(pending) >= 64 or time.monotonic() - last > 0.05):
                out.put(pending)
                pending, last = [], time.monotonic()

        async def one(spec: CallSpec) -> None:
            if spec.model not in model_limits:
                opts = config.model_options(spec.model)
                model_limits[spec.model] = asyncio.Semaphore(max(1, (opts.concurrency or concurrency * divide) // divide))
            async with model_limits[spec.model], limit:
                response, error = await _call_with_retries(config, spec, secrets)
            pending.append((spec.index, response, error))
            flush()

        await asyncio.gather(*(one(s) for s in specs))
        flush(force=True)

    try:
        asyncio.run(run())
    finally:
        out.put(None)  # this worker is done


async def run_in_workers(config, shards: list[list[CallSpec]], concurrency: int, secrets: list[str],
                         on_result: Callable[[int, Any, Any], Any]) -> None:
    """Run each shard in its own process; ``on_result(index, response, error)`` (a coroutine
    function) is awaited in this process for every finished call."""
    ctx = mp.get_context("spawn")  # never fork a process that has threads (the writer) running
    out = ctx.Queue()
    divide = len(shards) + 1  # the workers and this process share every limit
    procs = [ctx.Process(target=_worker_main, args=(config, shard, concurrency, divide, secrets, out), daemon=True)
             for shard in shards if shard]
    for p in procs:
        p.start()
    loop = asyncio.get_running_loop()
    remaining = len(procs)
    try:
        while remaining:
            batch = await loop.run_in_executor(None, _get, out, procs)
            if batch is None:
                remaining -= 1
                continue
            for index, response, error in batch:
                await on_result(index, response, error)
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
            p.join(timeout=5)


def _get(out, procs):
    """Block for the next batch; a worker that died without saying so counts as done."""
    import queue

    while True:
        try:
            return out.get(timeout=1.0)
        except queue.Empty:
            if not any(p.is_alive() for p in procs) and out.empty():
                return None
