"""The library entry point behind ``promptops eval``: pick prompts, load targets, run."""

from __future__ import annotations

from ..config import Config
from ..errors import NotFoundError
from .results import EvalReport, Progress
from .runner import load_target, run_eval


def evaluate(config: Config, names: list[str] | None = None, *, models: list[str] | None = None,
             ref: str | None = None, repeat: int = 1, concurrency: int | None = None, use_cache: bool = True,
             progress: Progress | None = None, source: str = "cli", branch: str | None = None) -> EvalReport:
    """Evaluate the named prompts (all prompts with a suite when ``names`` is empty)."""
    from ..history import History

    history = History(config.root, config.prompts_dir)
    if not names:
        names = [p.name for p in history.list_prompts() if p.suite]
        if not names:
            raise NotFoundError("no prompt with a suite to evaluate", where=str(config.prompts_path),
                                hint="add prompts/<name>.prompt with 'suite: datasets/<name>'")
    targets = [load_target(config, name, ref, history=history) for name in names]
    if branch is None:
        branch = history.current_branch()
    return run_eval(config, targets, models=models, repeat=repeat, concurrency=concurrency, use_cache=use_cache,
                    progress=progress, source=source, branch=branch)
