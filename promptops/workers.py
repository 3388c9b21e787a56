"""Spread remote model calls over worker processes, handed out as the workers become ready.

litellm costs milliseconds of CPU on every call (about 7 ms on the 2-core machine of
BENCHMARKS.md) and seconds to import, so a one-process runner is CPU-bound long before the network
is. For a large eval the runner starts one worker process per core; the workers make every remote
call, each with its own event loop, and the main process only grades, caches and writes, so it never
imports litellm at all. Where the platform has it, workers are forked from a ``forkserver`` that has
imported and configured litellm once: the import is paid once, not per worker, and the workers share
its memory. Local models (``local/…``) always stay in the main process, where the model is loaded once.
"""

from __future__ import annotations

import asyncio
import collections
import multiprocessing as mp
import os
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

MIN_CALLS_PER_WORKER = 100  # fewer calls than this per worker: one process is as fast and simpler
PRELOAD = "promptops.providers.preload"


@dataclass
class CallSpec:
    """What a worker needs for one call (picklable)."""

    index: int
    model: str
    messages: list[dict]
    params: dict


def worker_count(config, remote_calls: int) -> int:
    """How many worker processes make the remote calls; 0 means this process makes them itself.

    ``PROMPTOPS_WORKERS`` (or ``workers:`` in promptops.yaml) is the number of processes making calls:
    1 keeps them here, N ≥ 2 starts N workers. By default, one worker per core (at most 8) when there
    are at least ``MIN_CALLS_PER_WORKER`` calls for each of two or more workers."""
    setting = os.environ.get("PROMPTOPS_WORKERS") or getattr(config, "workers", None)
    if setting not in (None, "", "auto"):
        n = max(1, int(setting))
    else:
        n = min(os.cpu_count() or 1, 8, remote_calls // MIN_CALLS_PER_WORKER)
    return n if n >= 2 and remote_calls > 0 else 0


def share(total: int, n: int, wid: int) -> int:
    """Worker ``wid``'s part of a limit split over ``n`` workers: the parts add up to ``total``."""
    return total // n + (1 if wid < total % n else 0)


def _context():
    """A forkserver context with litellm preloaded where the platform has one, else spawn."""
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload([PRELOAD])
        return ctx
    return mp.get_context("spawn")


def _worker_main(wid: int, config, tasks, results, n: int, limit: int, secrets: list[str],
                 environ: dict[str, str], cwd: str) -> None:
    """A worker process: take this eval's environment, say ready, run whatever calls arrive,
    send results back in small batches."""
    # a forkserver child has the environment the server started with, not this eval's
    os.environ.clear()
    os.environ.update(environ)
    os.chdir(cwd)
    from .providers import setup_litellm
    from .runner import _call_with_retries

    setup_litellm()

    async def run() -> None:
        loop = asyncio.get_running_loop()
        model_limits: dict[str, asyncio.Semaphore] = {}
        my_limit = asyncio.Semaphore(share(limit, n, wid))  # this worker's part of the global limit
        pending: list[tuple[int, Any, Any]] = []
        in_flight: set[asyncio.Task] = set()

        async def one(spec: CallSpec) -> None:
            if spec.model not in model_limits:
                opts = config.model_options(spec.model)
                # the runner starts no more workers than the smallest model limit: every part is ≥ 1
                most = share(opts.concurrency, n, wid) if opts.concurrency else 1_000_000
                model_limits[spec.model] = asyncio.Semaphore(most)
            async with model_limits[spec.model], my_limit:
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
    """Runs ``jobs`` in ``n`` worker processes with at most ``limit`` calls in flight in all.

    The global limit, and each model's own limit, are split over the workers (:func:`share`); each
    worker holds three times its part more in its queue, topped up as answers come back, so it never
    waits for the main process between calls. A worker that dies holding calls turns them into error
    results: nothing waits forever and nothing is counted twice. ``n`` must not exceed any model's
    limit (the runner sees to it)."""

    def __init__(self, config, jobs: list, limit: int, n: int, secrets: list[str],
                 finish: Callable[[Any, Any, Any], Any]):
        self.config, self.limit, self.n, self.secrets = config, limit, n, secrets
        self.finish = finish
        self.todo = collections.deque(enumerate(jobs))
        self.jobs = dict(enumerate(jobs))
        self.total = len(jobs)
        self.done = 0
        self.out: dict[int, set[int]] = {w: set() for w in range(n)}  # worker -> indices it holds
        self.hold = [4 * share(limit, n, w) for w in range(n)]  # calls a worker holds: in flight + queued
        self.ready: set[int] = set()
        self.finished = asyncio.Event()
        self.task_queues: dict[int, Any] = {}
        self.first_ready: float | None = None       # when calls could first go out
        self.last_answer: float | None = None

    def calls_s(self) -> float:
        """Seconds from the first worker ready to the last answer: call time, start-up excluded."""
        if self.first_ready is None or self.last_answer is None:
            return 0.0
        return self.last_answer - self.first_ready

    def pump(self) -> None:
        for wid in sorted(self.ready):
            room = min(self.hold[wid] - len(self.out[wid]), len(self.todo))
            if room > 0:
                batch = [self.todo.popleft() for _ in range(room)]
                self.out[wid].update(i for i, _ in batch)
                self.task_queues[wid].put([CallSpec(i, j.model, j.messages, j.params) for i, j in batch])
        if not self.ready and self.todo and not any(self.alive.values()):
            # every worker is gone before answering: what is left becomes error results
            while self.todo:
                index, _ = self.todo.popleft()
                asyncio.get_running_loop().create_task(
                    self._finish(index, None, "worker: no worker process could start"))

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
            if self.first_ready is None:
                self.first_ready = time.perf_counter()
        elif kind == "res":
            self.last_answer = time.perf_counter()
            for index, response, error in payload:
                self.out[wid].discard(index)
                loop.create_task(self._finish(index, response, error))
        elif kind == "exit":  # a worker that ends while holding calls: they become error results
            self.ready.discard(wid)
            self.alive[wid] = False
            for index in sorted(self.out.get(wid, set())):
                loop.create_task(self._finish(index, None, "worker: the worker process ended before answering"))
            self.out[wid] = set()
        self.pump()

    async def run(self) -> None:
        if not self.total:
            return
        ctx = _context()
        results = ctx.Queue()
        self.task_queues = {w: ctx.Queue() for w in range(self.n)}
        self.alive = {w: True for w in range(self.n)}
        environ, cwd = dict(os.environ), os.getcwd()
        procs = [ctx.Process(target=_worker_main, daemon=True,
                             args=(w, self.config, self.task_queues[w], results, self.n, self.limit,
                                   self.secrets, environ, cwd))
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
                        if not p.is_alive() and p.exitcode not in (None, 0) and self.alive.get(w):
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
