"""The eval runner: cases × models × repeats, concurrent, cached, resumable.

Every call goes through :func:`promptops.providers.complete` (litellm). Calls run under a global
concurrency limit and a per-model limit, with retries and backoff on rate limits, server errors
and timeouts; a call that still fails becomes an error result. Results are written to the store
as they arrive (a writer thread commits them in groups at most 0.1 s apart), so a killed eval loses
at most its last tenth of a second and a rerun of the same eval completes only what is missing. Successful responses
are cached in the store, keyed by model, rendered messages, parameters and repeat index.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from dataclasses import dataclass

from ..assertions import GradeContext, case_specs, grade
from ..assertions.transforms import with_case_transform
from ..config import Config
from ..errors import PromptopsError
from ..history import History
from ..project import Project
from ..providers import is_local, needs_litellm, setup_litellm
from ..providers.pricing import custom_cost
from ..providers.toolcalls import output_text
from ..store import EvalStore, open_for_eval
from ..suites import Case, check_cases
from .calls import call_with_retries, model_limits, secrets_of
from .locks import eval_locks
from .results import CaseResult, EvalReport, EvalTarget, Progress, PromptEval, ran, summarize
from .workers import Dispatcher, worker_count


def load_target(config: Config | Project, name: str, ref: str | None = None, history=None) -> EvalTarget:
    """The prompt ``name`` (optionally ``name@ref`` or at ``ref``) and its suite at the same ref.

    The history: ``history``, else the project's, else one opened over the config."""
    if history is None:
        history = config.history if isinstance(config, Project) else History(config.root, config.prompts_dir)
    spec = name if "@" in name or ref is None else f"{name}@{ref}"
    resolved = history.resolve(spec)
    prompt = resolved.prompt
    if not prompt.suite:
        raise PromptopsError(f"prompt '{prompt.name}' has no suite", where=resolved.path,
                             hint="add 'suite: datasets/<name>' to its front matter")
    cases = history.suite_at(prompt, resolved.commit)
    check_cases(cases, prompt)
    return EvalTarget(prompt=prompt, cases=cases, ref=resolved.ref, commit=resolved.commit)


def cache_key(config: Config, model: str, messages: list[dict], params: dict, repeat_index: int) -> str:
    """Hash of the canonical request, without secrets (the key's *name* is not in it either)."""
    opts = config.model_options(model)
    payload = {"model": model, "target": opts.model, "api_base": opts.api_base, "extra": opts.params,
               "messages": messages, "params": params, "repeat": repeat_index}
    data = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def cache_keys(config: Config, model: str, params: dict):
    """:func:`cache_key` for one model and parameters, as a function of (messages, repeat index):
    the same text is hashed (a mapping dumped with sorted keys is its values dumped in key order),
    but the parts every case shares are dumped once."""
    opts = config.model_options(model)

    def dump(value) -> str:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)

    head = f'{{"api_base":{dump(opts.api_base)},"extra":{dump(opts.params)},"messages":'
    middle = f',"model":{dump(model)},"params":{dump(params)},"repeat":'
    tail = f',"target":{dump(opts.model)}}}'

    def key(messages: list[dict], repeat_index: int) -> str:
        data = head + dump(messages) + middle + dump(repeat_index) + tail
        return hashlib.sha256(data.encode("utf-8")).hexdigest()

    return key


def suite_json(cases: list[Case]) -> str:
    """The suite as :func:`fingerprint` and :func:`suite_hash` hash it."""
    return json.dumps([c.to_dict() for c in cases], sort_keys=True, default=str)


def fingerprint(target: EvalTarget, models: list[str], repeat: int, suite: str | None = None) -> str:
    """Hash of the prompt, the suite (``suite``: its :func:`suite_json`, when already made), the
    models and the repeat count: a mapping dumped with sorted keys, built from its parts."""
    suite = suite_json(target.cases) if suite is None else suite
    dump = json.dumps
    data = (f'{{"models": {dump(sorted(models), default=str)}, "prompt": {dump(target.prompt.hash, default=str)}, '
            f'"repeat": {dump(repeat, default=str)}, "suite": {suite}}}')
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def suite_hash(cases: list[Case], suite: str | None = None) -> str:
    suite = suite_json(cases) if suite is None else suite
    return hashlib.sha256(suite.encode("utf-8")).hexdigest()[:16]


def run_eval(config: Config, targets: list[EvalTarget], **kwargs) -> EvalReport:
    """Synchronous wrapper around :func:`run_eval_async`."""
    return asyncio.run(run_eval_async(config, targets, **kwargs))


@dataclass
class _Job:
    target: EvalTarget
    run_id: int
    model: str
    case: Case
    repeat_index: int
    messages: list[dict]
    params: dict
    key: str


async def run_eval_async(config: Config, targets: list[EvalTarget], *, models: list[str] | None = None,
                         repeat: int = 1, concurrency: int | None = None, use_cache: bool = True,
                         progress: Progress | None = None, store: EvalStore | None = None, source: str = "cli",
                         branch: str | None = None) -> EvalReport:
    """Score every target on its models (or ``models``), ``repeat`` times per case."""
    started = time.perf_counter()
    own = store is None
    store = store or open_for_eval(config)
    suites = [suite_json(t.cases) for t in targets]  # dumped once, hashed twice
    fps = [fingerprint(t, models or t.prompt.models_or(config.default_model), repeat, suite)
           for t, suite in zip(targets, suites)]
    try:
        async with eval_locks(config.state_path, fps):  # a second eval of the same runs waits, then reuses
            return await _run_eval(config, targets, store, started, models=models, repeat=repeat,
                                   concurrency=concurrency, use_cache=use_cache, progress=progress,
                                   source=source, branch=branch, fps=fps, suites=suites)
    finally:
        if own:
            store.close()


async def _run_eval(config: Config, targets: list[EvalTarget], store: EvalStore, started: float, *, models, repeat: int,
                    concurrency, use_cache: bool, progress, source: str, branch, fps: list[str],
                    suites: list[str]) -> EvalReport:
    progress = progress or Progress()
    secrets = secrets_of(config)
    runs: list[tuple[EvalTarget, int, list[str]]] = []
    jobs: list[_Job] = []
    done_results: dict[int, list[CaseResult]] = {}
    for target, fp, suite in zip(targets, fps, suites):
        prompt = target.prompt
        target_models = models or prompt.models_or(config.default_model)
        run = store.find_unfinished_run(fp)
        if run is None:
            if target.content is not None:
                store.record_prompt_version(name=prompt.name, version=prompt.version, hash=prompt.hash,
                                            content=target.content, path=prompt.source)
            run = store.create_run(prompt=prompt.name, version=prompt.version, hash=prompt.hash, ref=target.ref,
                                   commit=target.commit, branch=branch, models=target_models, repeat=repeat,
                                   fingerprint=fp, suite_hash=suite_hash(target.cases, suite), status="running",
                                   source=source)
        done = store.done_keys(run.id)
        done_results[run.id] = [_from_row(r) for r in store.results(run.id)
                                if (r.model, r.case_id, r.repeat_index) in done]
        runs.append((target, run.id, target_models))
        rendered = [(case, prompt.render(case.vars, strict=False)) for case in target.cases]
        for model in target_models:
            key_of = cache_keys(config, model, prompt.params)
            for case, messages in rendered:
                for i in range(repeat):
                    if (model, case.id, i) in done:
                        continue
                    key = key_of(messages, i)
                    jobs.append(_Job(target, run.id, model, case, i, messages, prompt.params, key))

    writer = _Writer(store)
    writer.start()
    already = sum(len(v) for v in done_results.values())
    progress.start(already + len(jobs), already)
    new_results: dict[int, list[CaseResult]] = {}
    calls = cached = 0
    calls_s: float | None = None
    interrupted = False
    try:
        hits = store.cache_get_many([j.key for j in jobs]) if use_cache and jobs else {}
        pending = []
        for job in jobs:
            hit = hits.get(job.key)
            if hit is not None:
                cached += 1
                result = await _grade(config, job, hit, cached=True, error=None)
                _emit(result, job, writer, progress, new_results, cache=None)
            else:
                pending.append(job)
        calls = len(pending)
        if pending:
            calls_s = await _run_calls(config, pending, concurrency or config.concurrency, secrets, writer, progress,
                             new_results, use_cache)
    except (asyncio.CancelledError, KeyboardInterrupt):
        interrupted = True
        raise
    finally:
        writer.close()
        if interrupted:
            for _, run_id, _ in runs:
                store.finish_run(run_id=run_id, status="interrupted", summary=None)
        progress.finish()

    report = EvalReport(evals=[], duration_s=time.perf_counter() - started, calls=calls, cached=cached,
                        calls_s=calls_s)
    for target, run_id, target_models in runs:
        prompt = target.prompt
        all_results = done_results[run_id] + new_results.get(run_id, [])
        pe = PromptEval(prompt=prompt.name, version=prompt.version, run_id=run_id, ref=target.ref,
                        suite_size=target.suite_size, planned=len(target.cases) * repeat)
        for model in target_models:
            mine = sorted((r for r in all_results if r.model == model), key=lambda r: (r.case_id, r.repeat_index))
            summary = summarize(mine, prompt=prompt.name, version=prompt.version, model=model,
                                duration_s=report.duration_s, labels=prompt.labels or None, repeat=repeat)
            summary.run_id, summary.ref = run_id, target.ref
            pe.summaries.append(summary)
        # a selection of the suite is never the version's score: readers of scores take "finished" only
        store.finish_run(run_id=run_id, status="finished" if target.suite_size is None else "partial",
                         summary={s.model: s.metrics() for s in pe.summaries})
        report.evals.append(pe)
    return report


async def _run_calls(config, jobs, concurrency, secrets, writer, progress, new_results, use_cache) -> float:
    """Run the calls: remote ones in worker processes when there are many, the rest here.
    Returns the seconds from the first call sent to the last answer, start-up (imports) excluded."""
    async def finish(job: _Job, response, error) -> None:
        result = await _grade(config, job, response, cached=False, error=error)
        _emit(result, job, writer, progress, new_results, cache=response if use_cache and error is None else None)

    remote = [j for j in jobs if not is_local(j.model)]
    local = [j for j in jobs if is_local(j.model)]
    model_caps = [c for c in (config.model_options(m).concurrency for m in {j.model for j in remote}) if c]
    n = min(worker_count(config, len(remote)), concurrency, *model_caps)  # every worker gets ≥ 1 of each limit
    if n <= 1:
        if remote and needs_litellm(config, remote):
            setup_litellm()  # the import is start-up, not call time (none at all when plans are on disk)
        start = time.perf_counter()
        await _run_here(config, jobs, concurrency, secrets, finish)
        return time.perf_counter() - start
    # with every plan on disk the workers (and their forkserver) never import litellm either
    dispatcher = Dispatcher(config, remote, concurrency, n, secrets, finish,
                            litellm_needed=needs_litellm(config, remote))
    await asyncio.gather(_run_here(config, local, concurrency, secrets, finish), dispatcher.run())
    return dispatcher.calls_s()


async def _run_here(config, jobs, concurrency, secrets, finish) -> None:
    """Run calls in this process: remote ones under their model's limit and the global one,
    local ones under their model's limit only (the provider batches them)."""
    global_limit = asyncio.Semaphore(concurrency)
    limits = model_limits(config, jobs, concurrency)

    async def one(job: _Job) -> None:
        async with limits[job.model]:
            if is_local(job.model):
                response, error = await call_with_retries(config, job, secrets)
            else:
                async with global_limit:
                    response, error = await call_with_retries(config, job, secrets)
        await finish(job, response, error)

    await asyncio.gather(*(one(j) for j in jobs))


async def _grade(config: Config, job: _Job, response: dict | None, *, cached: bool, error: str | None) -> CaseResult:
    case, prompt = job.case, job.target.prompt
    result = CaseResult(prompt=prompt.name, version=prompt.version, model=job.model, case_id=case.id,
                        repeat_index=job.repeat_index, vars=case.vars, expected=case.expected, error=error,
                        cached=cached, tags=case.tags)
    if response is None:
        result.reason = "provider error"
        return result
    tool_calls = response.get("tool_calls")
    result.output = output_text(response.get("text"), tool_calls)
    # like an API call's, timed from when it left promptops' own queue (a batched local model's wait excluded)
    queued, latency = response.get("queue_ms"), response.get("latency_ms")
    result.latency_ms = latency - queued if queued is not None and latency is not None else latency
    result.prompt_tokens = response.get("prompt_tokens")
    result.completion_tokens = response.get("completion_tokens")
    priced = custom_cost(config, job.model, result.prompt_tokens, result.completion_tokens)  # cached answers too
    result.cost_usd = response.get("cost_usd") if priced is None else priced
    specs = case_specs(prompt.asserts, case.asserts, case.expected)
    try:
        schema = ((prompt.params.get("response_format") or {}).get("json_schema") or {}).get("schema")
        specs = with_case_transform(specs, (getattr(case, "options", None) or {}).get("transform"), schema)
        graded = await grade(specs, result.output, expected=case.expected, vars=case.vars,
                             latency_ms=result.latency_ms, cost_usd=result.cost_usd,
                             ctx=GradeContext(root=config.root, config=config, tool_calls=tool_calls,
                                              finish_reason=response.get("finish_reason"),
                                              tools=prompt.params.get("tools")),
                             case_threshold=getattr(case, "threshold", None))
        result.passed, result.score, result.reason = graded.passed, graded.score, graded.reason
        result.assertions = ran(graded.components)
    except Exception as exc:  # an assertion bug must not end the eval
        result.passed, result.score, result.reason = False, 0.0, f"grading failed: {type(exc).__name__}: {exc}"
    return result


def _emit(result: CaseResult, job: _Job, writer: "_Writer", progress: Progress,
          new_results: dict[int, list[CaseResult]], *, cache: dict | None) -> None:
    """Queue the result row, and ``cache`` (the provider's response: text, tokens, cost, latency,
    finish reason, tool calls) under the job's key when given."""
    new_results.setdefault(job.run_id, []).append(result)
    row = result.to_dict()
    row.pop("tags")
    row["run_id"] = job.run_id
    writer.put(row, None if cache is None else (job.key, job.model, cache))
    progress.advance(result)


def _from_row(row) -> CaseResult:
    return CaseResult(prompt=row.prompt, version=row.version, model=row.model, case_id=row.case_id,
                      repeat_index=row.repeat_index, vars=row.vars or {}, expected=row.expected, output=row.output,
                      passed=row.passed, score=row.score, reason=row.reason or "", error=row.error, cached=row.cached,
                      latency_ms=row.latency_ms, prompt_tokens=row.prompt_tokens,
                      completion_tokens=row.completion_tokens, cost_usd=row.cost_usd,
                      assertions=getattr(row, "assertions", None))


class _Writer:
    """Commits results (and cache entries) from a thread, in groups.

    A group is committed when ``GROUP_ITEMS`` results are waiting or ``GROUP_S`` seconds after the
    first of them arrived, whichever comes first: one transaction per result cost about 2 ms of
    CPU each (SQLAlchemy and SQLite's commit), a third of a fast call's own cost. A kill -9 loses
    at most the last ``GROUP_S`` seconds of answers, which a rerun asks for again. The thread is
    woken by a group's first result and by a full group, not by every result: a fully cached
    eval queues 1,000 results in a few milliseconds, and a wake per result cost more than them."""

    GROUP_ITEMS = 500
    GROUP_S = 0.1

    def __init__(self, store: EvalStore):
        self.store = store
        self._items: list = []
        self._stop = False
        self._ready = threading.Condition(threading.Lock())
        self.thread = threading.Thread(target=self._loop, name="promptops-writer", daemon=True)
        self.error: BaseException | None = None

    def start(self) -> None:
        self.thread.start()

    def put(self, row: dict, cache_entry) -> None:
        with self._ready:
            self._items.append((row, cache_entry))
            if len(self._items) == 1 or len(self._items) >= self.GROUP_ITEMS:
                self._ready.notify()

    def close(self) -> None:
        with self._ready:
            self._stop = True
            self._ready.notify()
        self.thread.join()
        if self.error is not None:
            raise PromptopsError(f"could not write results: {self.error}",
                                 hint="check the database (promptops.yaml database_url)")

    def _group(self) -> tuple[list, bool]:
        """The next group of items (every waiting one), and whether the writer was told to stop."""
        with self._ready:
            while not self._items and not self._stop:
                self._ready.wait()
            deadline = time.monotonic() + self.GROUP_S
            while not self._stop and len(self._items) < self.GROUP_ITEMS:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._ready.wait(left)
            items, self._items = self._items, []
            return items, self._stop

    def _loop(self) -> None:
        stop = False
        while not stop:
            items, stop = self._group()
            if not items or self.error is not None:
                continue
            try:
                self.store.add_results([row for row, _ in items])
                entries = {c[0]: (c[1], c[2]) for _, c in items if c is not None}
                if entries:
                    self.store.cache_put_many(entries)
            except Exception as exc:  # reported when the writer closes
                self.error = exc
