"""Spread remote model calls over worker processes, handed out as the workers become ready.

litellm costs milliseconds of CPU on every call (about 7 ms on the 2-core machine of
BENCHMARKS.md) and seconds to import, so a one-process runner is CPU-bound long before the network
is. For a large eval the runner starts one worker process per core; the workers make every remote
call, each with its own event loop, and the main process only grades, caches and writes, so it never
imports litellm at all. Where the platform has it, workers are forked from a ``forkserver`` that has
imported and configured litellm once: the import is paid once, not per worker, and the workers share
its memory. When every call of the eval has its compiled plan on disk (:mod:`promptops.providers.plancache`)
the forkserver preloads only that send path and no process imports litellm. Local models (``local/…``) always stay in the main process, where the model is loaded once.
"""

from __future__ import annotations

import asyncio
import collections
import multiprocessing as mp
import os
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import wait
from typing import Any, Callable

from ..providers import setup_litellm
from .calls import call_with_retries, share

MIN_CALLS_PER_WORKER = 100  # fewer calls than this per worker: one process is as fast and simpler
PRELOAD = "promptops.providers.preload"  # litellm imported and configured
PRELOAD_PLANS = "promptops.providers.preload_plans"  # only the plans-on-disk path: no litellm


@dataclass
class CallSpec:
    """What a worker needs for one call (picklable)."""

    index: int
    model: str
    messages: list[dict]
    params: dict


def worker_count(config, remote_calls: int) -> int:
    """How many worker processes make the remote calls; 0 means this process makes them itself.

    ``config.workers`` (``workers:`` in promptops.yaml, ``PROMPTOPS_WORKERS``) is the number of
    processes making calls: 1 keeps them here, N ≥ 2 starts N workers. By default, one worker per
    core (at most 8) when there are at least ``MIN_CALLS_PER_WORKER`` calls for each of two or more workers."""
    setting = getattr(config, "workers", None)
    if setting is not None:
        n = max(1, int(setting))
    else:
        n = min(os.cpu_count() or 1, 8, remote_calls // MIN_CALLS_PER_WORKER)
    return n if n >= 2 and remote_calls > 0 else 0


def _context(litellm_needed: bool = True):
    """On Linux, a forkserver context with litellm (and the main module) preloaded; elsewhere spawn.

    macOS lists forkserver too, but forking a process that has imported litellm (its HTTP clients
    ask the system for proxy settings) is not fork-safe there, which is why Python spawns by default."""
    if sys.platform.startswith("linux") and "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        # children skip re-importing the CLI; the preload only applies to a forkserver not yet started
        # (a later eval of this process that needs litellm imports it in each worker on first use)
        ctx.set_forkserver_preload(["__main__", PRELOAD if litellm_needed else PRELOAD_PLANS])
        return ctx
    return mp.get_context("spawn")


def _watch_main(lifeline) -> None:
    """End this worker at once when the main process is gone, however it ended (``kill -9``,
    SIGTERM, a crash): the main holds the only other end of ``lifeline`` and never writes to it,
    so reading it returns only at EOF, when the kernel closes that end with the main process."""
    def watch() -> None:
        try:
            lifeline.recv()
        except (EOFError, OSError):
            pass
        os._exit(3)  # no cleanup: calls in flight must not go on costing money

    threading.Thread(target=watch, name="promptops-lifeline", daemon=True).start()


def _worker_main(wid: int, config, tasks, conn, lifeline, n: int, limit: int, secrets: list[str],
                 environ: dict[str, str], cwd: str, litellm_needed: bool = True) -> None:
    """A worker process: watch the main process (:func:`_watch_main`), take this eval's
    environment, say ready, run whatever calls arrive, send answers back in small batches on its
    own pipe. Every call it takes gets an answer: an unexpected exception becomes an error result,
    never a lost call."""
    _watch_main(lifeline)
    # a forkserver child has the environment the server started with, not this eval's
    os.environ.clear()
    os.environ.update(environ)
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.chdir(cwd)

    if litellm_needed:  # else every call has its plan on disk; a miss imports litellm then
        setup_litellm(config)

    async def run() -> None:
        loop = asyncio.get_running_loop()
        model_limits: dict[str, asyncio.Semaphore] = {}
        my_limit = asyncio.Semaphore(share(limit, n, wid))  # this worker's part of the global limit
        pending: list[tuple[int, Any, Any]] = []
        in_flight: set[asyncio.Task] = set()

        async def one(spec: CallSpec) -> None:
            pending.append(await answer(config, spec, secrets, model_limits, my_limit, n, wid))

        async def flusher() -> None:
            while True:
                await asyncio.sleep(0.02)
                if pending:
                    batch = pending[:]
                    pending.clear()
                    conn.send(("res", batch))

        flush_task = asyncio.create_task(flusher())
        conn.send(("ready", None))
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
            conn.send(("res", pending[:]))

    asyncio.run(run())
    conn.close()


async def answer(config, spec: CallSpec, secrets: list[str], model_limits: dict[str, asyncio.Semaphore],
                 my_limit: asyncio.Semaphore, n: int, wid: int) -> tuple[int, Any, str | None]:
    """One call in a worker, under its limits: (index, response, error). Never raises: an
    unexpected exception becomes the call's error, so the main process never waits for it."""
    try:
        if spec.model not in model_limits:
            opts = config.model_options(spec.model)
            # the runner starts no more workers than the smallest model limit: every part is ≥ 1
            most = share(opts.concurrency, n, wid) if opts.concurrency else 1_000_000
            model_limits[spec.model] = asyncio.Semaphore(most)
        async with model_limits[spec.model], my_limit:
            response, error = await call_with_retries(config, spec, secrets)
    except Exception as exc:  # noqa: BLE001 - a bug must not swallow the call
        response, error = None, f"worker: {type(exc).__name__}: {exc}"
    return spec.index, response, error


class Dispatcher:
    """Runs ``jobs`` in ``n`` worker processes with at most ``limit`` calls in flight in all.

    The global limit, and each model's own limit, are split over the workers (:func:`share`); each
    worker holds three times its part more in its queue (per model too, so a slow, tightly limited
    model cannot crowd the others out of a worker's queue), topped up as answers come back, so it
    never waits for the main process between calls. Each worker answers on its own pipe; a worker
    that ends, however it ends, turns the calls it still held into error results: nothing waits
    forever and nothing is counted twice. ``n`` must not exceed any model's limit (the runner sees
    to it)."""

    def __init__(self, config, jobs: list, limit: int, n: int, secrets: list[str],
                 finish: Callable[[Any, Any, Any], Any], *, litellm_needed: bool = True):
        self.config, self.limit, self.n, self.secrets = config, limit, n, secrets
        self.litellm_needed = litellm_needed
        self.finish = finish
        self.jobs = dict(enumerate(jobs))
        self.todo: dict[str, collections.deque] = {}          # model -> indices not handed out yet
        for index, job in self.jobs.items():
            self.todo.setdefault(job.model, collections.deque()).append(index)
        self.total = len(jobs)
        self.done = 0
        self.out: dict[int, set[int]] = {w: set() for w in range(n)}  # worker -> indices it holds
        self.held: dict[int, collections.Counter] = {w: collections.Counter() for w in range(n)}
        self.hold = [4 * share(limit, n, w) for w in range(n)]  # calls a worker holds: in flight + queued
        self.model_hold: dict[tuple[int, str], int] = {}
        for model in self.todo:
            cap = config.model_options(model).concurrency
            for w in range(n):
                self.model_hold[w, model] = 4 * share(cap, n, w) if cap else self.hold[w]
        self.ready: set[int] = set()
        self.alive: dict[int, bool] = {w: True for w in range(n)}
        self.finished = asyncio.Event()
        self.task_queues: dict[int, Any] = {}
        self.first_ready: float | None = None       # when calls could first go out
        self.last_answer: float | None = None

    def calls_s(self) -> float:
        """Seconds from the first worker ready to the last answer: call time, start-up excluded."""
        if self.first_ready is None or self.last_answer is None:
            return 0.0
        return self.last_answer - self.first_ready

    def _take(self, wid: int) -> list[int]:
        """Calls for worker ``wid``: round-robin over the models, each within its per-model hold."""
        room = self.hold[wid] - len(self.out[wid])
        taken: list[int] = []
        while room > 0:
            progress = False
            for model, queue_ in self.todo.items():
                if room > 0 and queue_ and self.held[wid][model] < self.model_hold[wid, model]:
                    taken.append(queue_.popleft())
                    self.held[wid][model] += 1
                    room -= 1
                    progress = True
            if not progress:
                break
        return taken

    def pump(self) -> None:
        for wid in sorted(self.ready):
            batch = self._take(wid)
            if batch:
                self.out[wid].update(batch)
                self.task_queues[wid].put([CallSpec(i, self.jobs[i].model, self.jobs[i].messages,
                                                    self.jobs[i].params) for i in batch])
        if not self.ready and not any(self.alive.values()):
            # every worker is gone: what is left becomes error results
            loop = asyncio.get_running_loop()
            for queue_ in self.todo.values():
                while queue_:
                    loop.create_task(self._finish(queue_.popleft(), None, "worker: no worker process could start"))

    async def _finish(self, index: int, response, error) -> None:
        await self.finish(self.jobs[index], response, error)
        self.done += 1
        if self.done == self.total:
            self.finished.set()
        self.pump()

    def _release(self, wid: int, index: int) -> bool:
        """Forget that worker ``wid`` holds ``index``; False when it did not (already settled)."""
        if index not in self.out[wid]:
            return False
        self.out[wid].discard(index)
        self.held[wid][self.jobs[index].model] -= 1
        return True

    def _on_message(self, kind: str, wid: int, payload) -> None:
        loop = asyncio.get_running_loop()
        if kind == "ready":
            if self.alive[wid]:
                self.ready.add(wid)
            if self.first_ready is None:
                self.first_ready = time.perf_counter()
        elif kind == "res":
            self.last_answer = time.perf_counter()
            for index, response, error in payload:
                if self._release(wid, index):
                    loop.create_task(self._finish(index, response, error))
        elif kind == "exit" and self.alive[wid]:  # what it still held becomes error results
            self.ready.discard(wid)
            self.alive[wid] = False
            for index in sorted(self.out[wid]):
                self._release(wid, index)
                loop.create_task(self._finish(index, None, "worker: the worker process ended before answering"))
        self.pump()

    async def run(self) -> None:
        if not self.total:
            return
        ctx = _context(self.litellm_needed)
        self.task_queues = {w: ctx.Queue() for w in range(self.n)}
        pipes = [ctx.Pipe(duplex=False) for _ in range(self.n)]
        lifelines = [ctx.Pipe(duplex=False) for _ in range(self.n)]  # (worker's end, ours): see _watch_main
        environ, cwd = dict(os.environ), os.getcwd()
        procs = [ctx.Process(target=_worker_main, daemon=True,
                             args=(w, self.config, self.task_queues[w], pipes[w][1], lifelines[w][0], self.n,
                                   self.limit, self.secrets, environ, cwd, self.litellm_needed))
                 for w in range(self.n)]
        for p, (_, send_end), (life_end, _) in zip(procs, pipes, lifelines):
            p.start()
            send_end.close()  # the worker's end: once the worker is gone, reading gives EOF
            life_end.close()  # the worker's end: ours stays open while this process lives
        loop = asyncio.get_running_loop()
        stop = threading.Event()

        def reader() -> None:
            """Read every worker's pipe; a pipe at EOF (or unreadable) means its worker ended."""
            open_ = {pipes[w][0]: w for w in range(self.n)}
            while open_ and not stop.is_set():
                for conn in wait(list(open_), timeout=0.2):
                    wid = open_[conn]
                    try:
                        kind, payload = conn.recv()
                    except Exception:  # noqa: BLE001 - EOF, a cut-off message: the worker is gone
                        del open_[conn]
                        loop.call_soon_threadsafe(self._on_message, "exit", wid, None)
                        continue
                    loop.call_soon_threadsafe(self._on_message, kind, wid, payload)

        thread = threading.Thread(target=reader, name="promptops-workers", daemon=True)
        thread.start()
        completed = False
        try:
            self.pump()
            await self.finished.wait()
            completed = True
        finally:
            for q in self.task_queues.values():
                q.put(None)
            if not completed:  # interrupted: queued calls must not go on costing money
                for p in procs:
                    p.terminate()
            stop.set()
            await asyncio.to_thread(self._reap, procs, thread)
            for conn, _ in pipes:
                conn.close()
            for _, ours in lifelines:
                ours.close()

    @staticmethod
    def _reap(procs, thread: threading.Thread) -> None:
        thread.join(timeout=2)
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)
