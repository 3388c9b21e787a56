"""Spread model calls over worker processes, handed out as the workers become ready.

litellm spends milliseconds of CPU on every call (about 11 ms on the 2-core machine of
BENCHMARKS.md), so a one-process runner is CPU-bound long before the network is. The main process
keeps grading, caching and writing, starts calling at once with the full concurrency, and hands
calls to worker processes (each with its own event loop and litellm) as each one reports ready,
lowering its own share to keep the total in flight within the global limit. Local models
(``local/…``) always stay in the main process, where the model is loaded once.
"""

from __future__ import annotations

import asyncio
import collections
import multiprocessing as mp
import os
import queue
import threading
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

MIN_CALLS_PER_WORKER = 300  # below this, starting a process (and importing litellm) costs more than it saves


@dataclass
class CallSpec:
    """What a worker needs for one call (picklable)."""

    index: int
    model: str
    messages: list[dict]
    params: dict


def worker_count(config, remote_calls: int) -> int:
    """How many worker processes: ``PROMPTOPS_WORKERS`` (total processes, this one included), else
    ``config.workers``, else one per core when there are enough calls to pay for the start-up."""
    setting = os.environ.get("PROMPTOPS_WORKERS") or getattr(config, "workers", None)
    if setting not in (None, "", "auto"):
        return max(1, int(setting)) - 1
    cores = os.cpu_count() or 1
    return max(0, min(cores, 8, remote_calls // MIN_CALLS_PER_WORKER) - 1)


def _worker_main(wid: int, config, tasks, results, model_share: int, secrets: list[str]) -> None:
    """A worker process: import litellm, say ready, run whatever calls arrive, send results back."""
    from .providers import setup_litellm
    from .runner import _call_with_retries

    setup_litellm()

    async def run() -> None:
        loop = asyncio.get_running_loop()
        model_limits: dict[str, asyncio.Semaphore] = {}
        pending: list[tuple[int, Any, Any]] = []
        in_flight: set[asyncio.Task] = set()

        async def one(spec: CallSpec) -> None:
            if spec.model not in model_limits:
                opts = config.model_options(spec.model)
                limit = max(1, opts.concurrency // model_share) if opts.concurrency else 1_000_000
                model_limits[spec.model] = asyncio.Semaphore(limit)
            async with model_limits[spec.model]:
                response, error = await _call_with_retries(config, spec, secrets)
            pending.append((spec.index, response, error))

        async def flusher() -> None:
            while True:
                await asyncio.sleep(0.02)
                if pending:
                    batch = pending[:]
                    pending.clear()
                    results.put(("res", wid, batch))

        flush_task = asyncio.create_task(flusher())
        results.put(("ready", wid, None))
        while True:
            batch = await loop.run_in_executor(None, tasks.get)
            if batch is None:
                break
            for spec in batch:
                task = asyncio.create_task(one(spec))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
        if in_flight:
            await asyncio.gather(*in_flight)
        flush_task.cancel()
        if pending:
            results.put(("res", wid, pending[:]))

    try:
        asyncio.run(run())
    finally:
        results.put(("exit", wid, None))


class Dispatcher:
    """Runs ``jobs`` here and in ``n`` worker processes with at most ``limit`` calls in flight in all."""

    def __init__(self, config, jobs: list, limit: int, n: int, secrets: list[str],
                 call_here: Callable[[Any], Awaitable[tuple[Any, Any]]],
                 finish: Callable[[Any, Any, Any], Awaitable[None]]):
        self.config, self.limit, self.n, self.secrets = config, limit, n, secrets
        self.call_here, self.finish = call_here, finish
        self.todo = collections.deque(enumerate(jobs))
        self.jobs = dict(enumerate(jobs))
        self.total = len(jobs)
        self.done = 0
        self.here = 0                                   # calls in flight in this process
        self.out: dict[int, set[int]] = {}              # worker -> indices it holds
        self.share = max(1, limit // (n + 1))           # a ready worker's share of the limit
        self.ready: set[int] = set()
        self.finished = asyncio.Event()

    def in_flight(self) -> int:
        return self.here + sum(len(v) for v in self.out.values())

    def pump(self) -> None:
        for wid in sorted(self.ready):
            room = min(self.share - len(self.out[wid]), self.limit - self.in_flight(), len(self.todo))
            if room > 0:
                batch = [self.todo.popleft() for _ in range(room)]
                self.out[wid].update(i for i, _ in batch)
                self.task_queues[wid].put([CallSpec(i, j.model, j.messages, j.params) for i, j in batch])
        my_cap = self.limit - self.share * len(self.ready)
        while self.todo and self.here < my_cap and self.in_flight() < self.limit:
            index, job = self.todo.popleft()
            self.here += 1
            asyncio.get_running_loop().create_task(self._here(index, job))

    async def _here(self, index: int, job) -> None:
        try:
            response, error = await self.call_here(job)
        finally:
            self.here -= 1
        await self._finish(index, response, error)

    async def _finish(self, index: int, response, error) -> None:
        await self.finish(self.jobs[index], response, error)
        self.done += 1
        if self.done == self.total:
            self.finished.set()
        self.pump()

    def _on_message(self, kind: str, wid: int, payload) -> None:
        loop = asyncio.get_running_loop()
        if kind == "ready":
            self.ready.add(wid)
        elif kind == "res":
            for index, response, error in payload:
                self.out[wid].discard(index)
                loop.create_task(self._finish(index, response, error))
        elif kind == "exit":  # a worker that ends while holding calls: they become error results
            self.ready.discard(wid)
            for index in sorted(self.out.pop(wid, set())):
                loop.create_task(self._finish(index, None, "worker: the worker process ended before answering"))
            self.out[wid] = set()
        self.pump()

    async def run(self) -> None:
        if not self.total:
            return
        ctx = mp.get_context("spawn")  # never fork a process that has threads (the writer) running
        results = ctx.Queue()
        self.task_queues = {w: ctx.Queue() for w in range(self.n)}
        self.out = {w: set() for w in range(self.n)}
        procs = [ctx.Process(target=_worker_main, daemon=True,
                             args=(w, self.config, self.task_queues[w], results, self.n + 1, self.secrets))
                 for w in range(self.n)]
        for p in procs:
            p.start()
        loop = asyncio.get_running_loop()
        stop = threading.Event()

        def reader() -> None:
            while not stop.is_set():
                try:
                    msg = results.get(timeout=0.2)
                except queue.Empty:
                    for w, p in enumerate(procs):  # killed without a word: report it once
                        if not p.is_alive() and p.exitcode not in (None, 0) and w in self.out:
                            loop.call_soon_threadsafe(self._on_message, "exit", w, None)
                    continue
                loop.call_soon_threadsafe(self._on_message, *msg)

        thread = threading.Thread(target=reader, name="promptops-workers", daemon=True)
        thread.start()
        try:
            self.pump()
            await self.finished.wait()
        finally:
            for q in self.task_queues.values():
                q.put(None)
            stop.set()
            thread.join(timeout=2)
            for p in procs:
                p.join(timeout=5)
                if p.is_alive():
                    p.terminate()
