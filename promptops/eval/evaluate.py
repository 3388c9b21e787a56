"""The library entry point behind ``promptops eval``: pick prompts, load targets, run."""

from __future__ import annotations

from ..config import Config
from ..errors import NotFoundError
from ..history import History
from ..project import Project, using
from .results import EvalReport, Progress
from .runner import load_target, run_eval


def evaluate(config: Config | Project, names: list[str] | None = None, *, models: list[str] | None = None,
             ref: str | None = None, repeat: int = 1, concurrency: int | None = None, use_cache: bool = True,
             progress: Progress | None = None, source: str = "cli", branch: str | None = None,
             history: History | None = None) -> EvalReport:
    """Evaluate the named prompts (all prompts with a suite when ``names`` is empty).

    ``config``: a :class:`~promptops.project.Project` (its history is used and left open) or a
    config (a history is opened for the call)."""
    with using(config, history=history) as project:
        history = project.history
        if not names:
            names = [p.name for p in history.list_prompts() if p.suite]
            if not names:
                raise NotFoundError("no prompt with a suite to evaluate", where=str(project.config.prompts_path),
                                    hint="add prompts/<name>.prompt with 'suite: datasets/<name>'")
        targets = [load_target(project.config, name, ref, history=history) for name in names]
        if branch is None:
            branch = history.current_branch()
    return run_eval(project.config, targets, models=models, repeat=repeat, concurrency=concurrency,
                    use_cache=use_cache, progress=progress, source=source, branch=branch)
