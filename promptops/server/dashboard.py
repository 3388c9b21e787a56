"""The dashboard: server-rendered pages over the same store and history as the API.

Pages: prompts (versions, labels, headline scores: :mod:`promptops.reports.headline`), one prompt
(its score history chart, versions, runs, label history), eval runs, one run's grid of cases x
(version, model) and two runs compared (:mod:`promptops.reports.grid`), logged calls with
feedback, deployments.
Jinja2 templates in ``templates/``; no JavaScript, no external assets.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse

from .._util.fmt import pct
from ..errors import NotFoundError, PromptopsError
from ..finetune.jobs import loss_curve
from .auth import ReadKey
from .chart import Point, loss_curve_svg, score_history_svg
from ..reports.grid import MAX_PER_PAGE, STATUSES, build_grid
from ..reports.headline import headline_runs
from .routes import Filter, StoreDep
from .serving import check_name

router = APIRouter(include_in_schema=False)
RunId = Annotated[int, PathParam(ge=1, le=2_147_483_647)]
TEMPLATES = Path(__file__).parent / "templates"


@lru_cache(maxsize=1)
def _env() -> Any:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["pct"] = pct
    env.filters["when"] = lambda d: "" if d is None else d.strftime("%Y-%m-%d %H:%M")
    env.filters["short"] = lambda s, n=60: "" if s is None else (s if len(s) <= n else s[: n - 1] + "…")
    env.filters["clip"] = _clip
    env.filters["text"] = lambda v: "" if v is None else (v if isinstance(v, str) else json.dumps(v, ensure_ascii=False))
    return env


def _clip(text: str | None, n: int = 2000) -> str:
    """Long outputs cut for the grid (a page of 100 cases x 3 models stays small), saying so."""
    if not text:
        return ""
    return text if len(text) <= n else f"{text[:n]}… ({len(text) - n:,} more characters)"


def page(template: str, **context: Any) -> HTMLResponse:
    return HTMLResponse(_env().get_template(template).render(**context))


def _labels(store: Any, prompt: str | None = None) -> dict[str, dict[str, Any]]:
    """prompt -> env -> current deployment row."""
    out: dict[str, dict[str, Any]] = {}
    for row in store.deployment_history(prompt=prompt):
        out.setdefault(row.prompt, {}).setdefault(row.env, row)
    return out


def _best(summary: dict[str, Any] | None) -> tuple[str | None, float | None]:
    if not summary:
        return None, None
    model, metrics = max(summary.items(), key=lambda kv: kv[1].get("accuracy") or 0)
    return model, metrics.get("accuracy")


@router.get("/", response_class=HTMLResponse)
def index(request: Request, _: ReadKey, store: StoreDep) -> HTMLResponse:
    """Prompts with their versions, labels and headline score (main branch, else the deployed version)."""
    prompts = request.app.state.prompts
    labels = _labels(store)
    main = request.app.state.config.escalate.branch
    runs = {r.id: r for r in (*store.list_runs(limit=1000), *store.list_runs(branch=main, limit=1000))
            if r.status != "partial"}  # a selection of cases is no score
    latest = headline_runs(runs.values(), labels, branch=main)
    rows = []
    for name, prompt, error in prompts.working_prompts():
        try:
            with prompts._git_lock:
                count = len(prompts.history().versions(name))
        except PromptopsError:
            count = None
        head = latest.get(name)
        model, accuracy = _best(head.run.summary if head else None)
        rows.append({"name": name, "prompt": prompt, "error": error, "versions": count,
                     "labels": labels.pop(name, {}), "head": head, "model": model, "accuracy": accuracy})
    for name, per in sorted(labels.items()):
        head = latest.get(name)
        model, accuracy = _best(head.run.summary if head else None)
        rows.append({"name": name, "prompt": None, "error": None, "versions": None, "labels": per,
                     "head": head, "model": model, "accuracy": accuracy})
    return page("index.html", title="Prompts", rows=rows, main=main)


@router.get("/prompts/{name}", response_class=HTMLResponse)
def prompt_page(name: Annotated[str, PathParam(max_length=128)], request: Request, _: ReadKey,
                store: StoreDep) -> HTMLResponse:
    """One prompt: score history across versions and models, versions, runs, label history."""
    check_name(name)
    prompts = request.app.state.prompts
    try:
        with prompts._git_lock:
            versions = prompts.history().versions(name)
    except NotFoundError:
        versions = []
    runs = store.list_runs(prompt=name, limit=1000)
    deployments = store.deployment_history(prompt=name)
    if not versions and not runs and not deployments:
        raise NotFoundError(f"prompt '{name}' not found", hint="the prompts page lists them")
    order = [v.version for v in reversed(versions)]
    for run in reversed(runs):  # versions only known from runs (history rewritten, say) go last
        if run.version not in order and run.summary:
            order.append(run.version)
    points, seen = [], set()
    for run in runs:  # newest first: the newest run of a (version, model) is the one plotted
        if run.status == "partial":  # a selection of the suite is not the version's score
            continue
        for model, m in (run.summary or {}).items():
            if (run.version, model) in seen or m.get("accuracy") is None:
                continue
            seen.add((run.version, model))
            points.append(Point(version=run.version, model=model, accuracy=m["accuracy"], ci_low=m.get("ci_low"),
                                ci_high=m.get("ci_high"), run_id=run.id, total=m.get("total")))
    current: dict[str, list[str]] = {}
    for env, row in _labels(store, name).get(name, {}).items():
        current.setdefault(row.version, []).append(env)
    target = None
    prompt = next((v.prompt for v in versions if v.prompt is not None), None)
    if prompt is not None:
        target = prompt.target
    chart = score_history_svg(order, points, target=target, labels=current)
    return page("prompt.html", title=name, name=name, prompt=prompt, versions=versions, runs=runs,
                deployments=deployments, chart=chart, labels=current, points=points)


@router.get("/evals", response_class=HTMLResponse)
def evals_page(_: ReadKey, store: StoreDep, prompt: Filter = None) -> HTMLResponse:
    """Eval runs, newest first."""
    runs = store.list_runs(prompt=prompt, limit=500)
    previous: dict[int, int] = {}  # run -> the next older run of its prompt (to compare with)
    newer: dict[str, Any] = {}
    for run in reversed(runs):
        if run.prompt in newer:
            previous[run.id] = newer[run.prompt].id
        newer[run.prompt] = run
    return page("evals.html", title="Eval runs", runs=runs, prompt=prompt, previous=previous)


@router.get("/evals/{run_id}", response_class=HTMLResponse)
def eval_page(run_id: RunId, _: ReadKey, store: StoreDep, base: Annotated[int | None, Query(ge=1, le=2_147_483_647)] = None,
              status: Annotated[str, Query(pattern="^(" + "|".join(STATUSES) + ")$")] = "all",
              q: Filter = None, page_no: Annotated[int, Query(alias="page", ge=1, le=1_000_000)] = 1,
              per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE)] = 100) -> HTMLResponse:
    """One eval run: per-model summary and its grid of cases x (version, model), filtered, searched,
    paginated; with ``base``, compared to that run (cases whose verdict changed first)."""
    run = store.get_run(run_id)
    if base == run_id:
        raise PromptopsError("a run compared with itself", where="base", hint="pick another run")
    runs = [(store.get_run(base), store.result_rows(base))] if base is not None else []
    runs.append((run, store.result_rows(run_id)))
    grid = build_grid(runs, status=status, query=q or "", page=page_no, per_page=per_page)
    others = [r for r in store.list_runs(prompt=run.prompt, limit=50) if r.id != run_id]
    return page("eval.html", title=f"Run {run_id}", run=run, base_run=runs[0][0] if base else None, grid=grid,
                others=others, link=_linker(base=base, status=status, q=q or "", per_page=per_page))


def _linker(**current: Any) -> Any:
    """``link(page=2)``: this page's query string with some parameters changed (defaults dropped)."""
    defaults = {"base": None, "status": "all", "q": "", "per_page": 100, "page": 1}

    def link(**changes: Any) -> str:
        params = {**current, "page": 1, **changes}
        kept = {k: v for k, v in params.items() if v != defaults.get(k)}
        return "?" + urlencode(kept) if kept else "?"

    return link


@router.get("/calls", response_class=HTMLResponse)
def calls_page(_: ReadKey, store: StoreDep, prompt: Filter = None, has_feedback: bool | None = None,
               source: Filter = None, user_id: Filter = None, session_id: Filter = None,
               tag: Filter = None) -> HTMLResponse:
    """Logged calls, newest first, with their context, tokens, cost and feedback."""
    filters = {k: v for k, v in (("prompt", prompt), ("source", source), ("user_id", user_id),
                                 ("session_id", session_id), ("tag", tag)) if v is not None}
    calls = store.list_calls(has_feedback=has_feedback, limit=200, **filters)
    feedback = store.feedback_for(c.id for c in calls)
    return page("calls.html", title="Logged calls", calls=calls, feedback=feedback, prompt=prompt, filters=filters)


@router.get("/deployments", response_class=HTMLResponse)
def deployments_page(_: ReadKey, store: StoreDep) -> HTMLResponse:
    """Current labels and the full label history."""
    history = store.deployment_history()
    current = [row for per in _labels(store).values() for row in per.values()]
    return page("deployments.html", title="Deployments", current=current, history=history)


@router.get("/jobs", response_class=HTMLResponse)
def jobs_page(_: ReadKey, store: StoreDep, prompt: Filter = None) -> HTMLResponse:
    """Fine-tune jobs, newest first, with status and progress."""
    return page("jobs.html", title="Fine-tune jobs", jobs=store.list_jobs(prompt=prompt), prompt=prompt)


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(job_id: Annotated[str, PathParam(max_length=64)], _: ReadKey, store: StoreDep) -> HTMLResponse:
    """One job: its config, progress, metrics and loss curve."""

    job = store.get_job(job_id)
    evals = [(e["step"], e["val_loss"]) for e in (job.metrics or {}).get("evals") or []
             if e.get("val_loss") is not None]
    chart = loss_curve_svg(loss_curve(job), val=evals)
    metrics = {k: v for k, v in (job.metrics or {}).items() if not isinstance(v, (list, dict))}
    return page("job.html", title=f"Job {job.id}", job=job, chart=chart, metrics=metrics)
