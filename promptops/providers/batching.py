"""Batching of local generation requests that arrive together (no torch, no litellm here).

A :class:`Batcher` collects requests for one model on one event loop for ``collect_s`` seconds
(or until ``max_batch`` are waiting), groups them by :class:`GenSettings` and hands each group to a
synchronous ``run(batch, settings)`` in a worker thread, one batch at a time. Requests that arrive
while a batch is generating form the next batch.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace

MAX_BATCH = 32
COLLECT_S = 0.005
DEFAULT_MAX_TOKENS = 64


@dataclass(frozen=True)
class GenSettings:
    """Settings that must be equal for requests to share one ``generate`` call."""

    temperature: float = 0.0
    max_tokens: int = DEFAULT_MAX_TOKENS
    top_p: float | None = None
    seed: int | None = None


@dataclass
class GenResult:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str = "stop"
    queue_ms: float | None = None  # set by the Batcher: from submit to the start of the batch that held it


@dataclass
class _Pending:
    messages: list[dict]
    settings: GenSettings
    stop: tuple[str, ...]
    future: asyncio.Future = field(repr=False)
    started: asyncio.Event = field(default_factory=asyncio.Event, repr=False)  # its batch began
    submitted_at: float = field(default_factory=time.perf_counter, repr=False)
    started_at: float | None = field(default=None, repr=False)


class Batcher:
    """Collects requests for one model on one event loop and runs them in batches.

    ``run(batch, settings)`` is synchronous and runs in a worker thread, one batch at a time;
    requests arriving meanwhile wait in the queue and form the next batch."""

    def __init__(self, run: Callable[[list[list[dict]], GenSettings], list[GenResult]], *,
                 max_batch: int | None = None, collect_s: float | None = None):
        self.run = run
        self.max_batch = max_batch or MAX_BATCH
        self.collect_s = COLLECT_S if collect_s is None else collect_s
        self.queue: deque[_Pending] = deque()
        self.batch_sizes: deque[int] = deque(maxlen=1000)
        self._task: asyncio.Task | None = None

    async def submit(self, messages: list[dict], settings: GenSettings, stop: tuple[str, ...] = (),
                     timeout: float | None = None) -> GenResult:
        """The answer to one request. It waits its turn in the queue however long that takes;
        ``timeout`` (seconds) bounds only the generation of the batch that holds it, from the
        moment that batch starts (:class:`asyncio.TimeoutError` after it)."""
        loop = asyncio.get_running_loop()
        item = _Pending(messages, settings, stop, loop.create_future())
        self.queue.append(item)
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._work())
        try:
            if timeout:
                await item.started.wait()
                result: GenResult = await asyncio.wait_for(asyncio.shield(item.future), timeout)
            else:
                result = await item.future
        except BaseException:
            item.future.cancel()  # a caller that gave up is skipped when its batch is formed
            raise
        queued = None if item.started_at is None else (item.started_at - item.submitted_at) * 1000
        return replace(_apply_stop(result, stop), queue_ms=queued)

    async def _work(self) -> None:
        while self.queue:
            if self.collect_s > 0 and len(self.queue) < self.max_batch:
                await asyncio.sleep(self.collect_s)  # let requests that arrive together gather
            taken = [p for p in self.queue if not p.future.done()]  # skip cancelled callers
            self.queue.clear()
            groups: dict[GenSettings, list[_Pending]] = {}
            for p in taken:
                groups.setdefault(p.settings, []).append(p)
            for settings, items in groups.items():
                for i in range(0, len(items), self.max_batch):
                    chunk = items[i:i + self.max_batch]
                    self.batch_sizes.append(len(chunk))
                    now = time.perf_counter()
                    for p in chunk:
                        p.started_at = now
                        p.started.set()
                    try:
                        results = await asyncio.to_thread(self.run, [p.messages for p in chunk], settings)
                        if len(results) != len(chunk):
                            raise RuntimeError(f"backend returned {len(results)} results for {len(chunk)}")
                    except asyncio.CancelledError:
                        for p in taken:
                            p.future.cancel()
                        raise
                    except Exception as exc:  # noqa: BLE001 - handed to every waiting caller
                        for p in chunk:
                            if not p.future.done():
                                p.future.set_exception(exc)
                        continue
                    for p, r in zip(chunk, results):
                        if not p.future.done():
                            p.future.set_result(r)


def _apply_stop(result: GenResult, stop: tuple[str, ...]) -> GenResult:
    cut = min((i for i in (result.text.find(s) for s in stop if s) if i >= 0), default=-1)
    if cut < 0:
        return result
    return replace(result, text=result.text[:cut], finish_reason="stop")


def settings_from_params(params: dict) -> tuple[GenSettings, tuple[str, ...]]:
    """GenSettings and stop strings from litellm's optional params (OpenAI names)."""
    temperature = float(params.get("temperature") or 0.0)
    max_tokens = params.get("max_tokens") or params.get("max_completion_tokens") or DEFAULT_MAX_TOKENS
    top_p = params.get("top_p")
    seed = params.get("seed")
    stop = params.get("stop") or ()
    if isinstance(stop, str):
        stop = (stop,)
    return (GenSettings(temperature=temperature, max_tokens=int(max_tokens),
                        top_p=float(top_p) if top_p is not None and temperature > 0 else None,
                        seed=int(seed) if seed is not None and temperature > 0 else None),
            tuple(stop))
