"""The dashboard: server-rendered pages over the same store and history as the API.

Pages: prompts (versions, labels, latest scores), one prompt (its score history chart, versions,
runs, label history), eval runs and one run's cases, logged calls with feedback, deployments.
Jinja2 templates in ``templates/``; no JavaScript, no external assets.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse

from .._util.fmt import pct
from ..errors import NotFoundError, PromptopsError
from ..finetune.jobs import loss_curve
from .auth import ReadKey
from .chart import Point, loss_curve_svg, score_history_svg
from .routes import Filter, StoreDep
from .serving import check_name

router = APIRouter(include_in_schema=False)
TEMPLATES = Path(__file__).parent / "templates"


@lru_cache(maxsize=1)
def _env() -> Any:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["pct"] = pct
    env.filters["when"] = lambda d: "" if d is None else d.strftime("%Y-%m-%d %H:%M")
    env.filters["short"] = lambda s, n=60: "" if s is None else (s if len(s) <= n else s[: n - 1] + "…")
    return env


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
    """Prompts with their versions, labels and latest score."""
    prompts = request.app.state.prompts
    labels = _labels(store)
    latest: dict[str, Any] = {}
    for run in store.list_runs(limit=1000):
        if run.summary and run.prompt not in latest and run.status != "partial":  # a selection is no score
            latest[run.prompt] = run
    rows = []
    for name, prompt, error in prompts.working_prompts():
        try:
            with prompts._git_lock:
                count = len(prompts.history().versions(name))
        except PromptopsError:
            count = None
        run = latest.get(name)
        model, accuracy = _best(run.summary if run else None)
        rows.append({"name": name, "prompt": prompt, "error": error, "versions": count,
                     "labels": labels.pop(name, {}), "run": run, "model": model, "accuracy": accuracy})
    for name, per in sorted(labels.items()):
        rows.append({"name": name, "prompt": None, "error": None, "versions": None, "labels": per,
                     "run": latest.get(name), "model": None, "accuracy": None})
    return page("index.html", title="Prompts", rows=rows)


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
    return page("evals.html", title="Eval runs", runs=store.list_runs(prompt=prompt, limit=500), prompt=prompt)


@router.get("/evals/{run_id}", response_class=HTMLResponse)
def eval_page(run_id: Annotated[int, PathParam(ge=1, le=2_147_483_647)], _: ReadKey, store: StoreDep,
              status: Annotated[str | None, Query(pattern="^(pass|fail|error)$")] = None) -> HTMLResponse:
    """One eval run: per-model summary and every case, failures first."""
    run = store.get_run(run_id)
    results = store.results(run_id)

    def state(r: Any) -> str:
        return "error" if r.error is not None else ("pass" if r.passed else "fail")

    results.sort(key=lambda r: ({"error": 0, "fail": 1, "pass": 2}[state(r)], r.model, r.case_id))
    if status:
        results = [r for r in results if state(r) == status]
    return page("eval.html", title=f"Run {run_id}", run=run, results=results, state=state, status=status)


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
