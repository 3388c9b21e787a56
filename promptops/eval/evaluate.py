"""The library entry point behind ``promptops eval``: pick prompts, load targets, run."""

from __future__ import annotations

import json

from ..config import Config
from ..errors import NotFoundError
from ..history import History
from ..project import Project, using
from .results import EvalReport, Progress
from .runner import load_target, run_eval
from .select import Selection, failing_case_ids


def evaluate(config: Config | Project, names: list[str] | None = None, *, models: list[str] | None = None,
             ref: str | None = None, repeat: int = 1, concurrency: int | None = None, use_cache: bool = True,
             progress: Progress | None = None, source: str = "cli", branch: str | None = None,
             history: History | None = None, selection: Selection | None = None) -> EvalReport:
    """Evaluate the named prompts (all prompts with a suite when ``names`` is empty).

    ``config``: a :class:`~promptops.project.Project` (its history is used and left open) or a
    config (a history is opened for the call). ``selection``: which cases to run (see
    :mod:`.select`); a run that leaves cases out is stored as partial."""
    with using(config, history=history) as project:
        history = project.history
        if not names:
            names = [p.name for p in history.list_prompts() if p.suite]
            if not names:
                raise NotFoundError("no prompt with a suite to evaluate", where=str(project.config.prompts_path),
                                    hint="add prompts/<name>.prompt with 'suite: datasets/<name>'")
        targets = [load_target(project.config, name, ref, history=history) for name in names]
        if selection is not None and not selection.empty:
            targets = _select(project, targets, selection, models)
        if branch is None:
            branch = history.current_branch()
        report = run_eval(project.config, targets, models=models, repeat=repeat, concurrency=concurrency,
                          use_cache=use_cache, progress=progress, source=source, branch=branch)
    if selection is not None and not selection.empty:
        report.selection = selection.describe()
    return report


def _select(project: Project, targets: list, selection: Selection, models: list[str] | None) -> list:
    """The targets cut to their selected cases; those left with none are dropped (an error if all are)."""
    kept = []
    for target in targets:
        failing = None
        if selection.failing:
            prompt = target.prompt
            failing = failing_case_ids(project.store, prompt.name, prompt.hash,
                                       models or prompt.models_or(project.config.default_model))
        cases = selection.apply(target.cases, failing)
        if not cases:
            continue
        if len(cases) < len(target.cases):
            target.suite_size = len(target.cases)
            target.cases = cases
        kept.append(target)
    if not kept:
        raise NotFoundError("no case matches the selection " + json.dumps(selection.describe()),
                            where="command line", hint="loosen --filter/--tag, or drop --failing")
    return kept
