"""The eval gate of a promotion: the version's best finished score on the model, against the
environment's threshold (its ``min_score`` in ``promptops.yaml``, else the prompt's ``target``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._util.fmt import pct
from ..errors import GateError
from ..store import open_store

if TYPE_CHECKING:  # pragma: no cover
    from ..config import Config
    from ..prompts import Prompt
    from ..store import Store


def gate_score(config: Config, prompt: Prompt, model: str, *, store: Store | None = None) -> float | None:
    """The best accuracy of a finished eval of exactly this version (content hash) on ``model``."""
    store = store if store is not None else open_store(config)
    best: float | None = None
    for run in store.list_runs(prompt=prompt.name, model=model, limit=10_000):
        if run.status != "finished" or run.hash != prompt.hash:
            continue
        accuracy = ((run.summary or {}).get(model) or {}).get("accuracy")
        if isinstance(accuracy, (int, float)) and (best is None or accuracy > best):
            best = float(accuracy)
    return best


def threshold_for(config: Config, prompt: Prompt, env: str) -> float | None:
    """The gate of an environment: its ``min_score`` in promptops.yaml, else the prompt's target."""
    options = config.environments.get(env)
    if options is not None and options.min_score is not None:
        return options.min_score
    return prompt.target


def check_gate(name: str, version: str, env: str, model: str, score: float | None, threshold: float | None) -> None:
    """:class:`GateError`, saying which eval to run, when ``score`` is missing or below ``threshold``."""
    command = f"promptops eval {name}@{version} --models {model}"
    if score is None:
        shown = "none" if threshold is None else pct(threshold)
        raise GateError(f"{name}@{version} has no eval on {model}, so it cannot be promoted to {env} "
                        f"(threshold {shown})", hint=f"run '{command}', or pass --force")
    if threshold is not None and score < threshold:
        raise GateError(f"{name}@{version} scores {pct(score)} on {model}, below the {env} threshold "
                        f"{pct(threshold)}", hint=f"improve it and run '{command}', or pass --force")
