"""Which run is a prompt's headline score (the dashboard's "latest eval" per prompt).

Not simply the newest run: a pull request's CI job scores its branch's head (and the base), and
a feature branch's experiments are not the prompt's score. The headline is, in this order:

1. the newest finished run on the main branch (``escalate.branch`` in ``promptops.yaml``, ``main``
   by default), whatever recorded it (``eval`` on main, ``ci --record`` on a push to main);
2. else the newest finished run of the version a label points at (``production`` first, then the
   most recently moved label), since that is what serves traffic;
3. else, for a history recorded before runs carried a branch (no run of the prompt has one), the
   newest finished run that CI did not make.

Runs of ``promptops optimize`` (source ``optimize``) score validation data, never the suite: they
are never a headline. A prompt with none of these has no headline.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

EXCLUDED_SOURCES = ("optimize",)
PREFERRED_LABEL = "production"


@dataclass(frozen=True)
class Headline:
    run: Any
    origin: str  # the branch, "label:<env>", or "unbranched"


def headline_runs(runs: Iterable[Any], labels: Mapping[str, Mapping[str, Any]], *, branch: str = "main"
                  ) -> dict[str, Headline]:
    """prompt -> its headline run. ``runs``: store ``EvalRun`` rows (any order); ``labels``:
    prompt -> env -> current deployment row (with ``version`` and ``created_at``)."""
    by_prompt: dict[str, list[Any]] = {}
    for run in sorted(runs, key=lambda r: r.id, reverse=True):
        by_prompt.setdefault(run.prompt, []).append(run)
    out: dict[str, Headline] = {}
    for prompt, all_runs in by_prompt.items():
        scored = [r for r in all_runs if r.status == "finished" and r.summary and r.source not in EXCLUDED_SOURCES]
        main = next((r for r in scored if r.branch == branch), None)
        if main is not None:
            out[prompt] = Headline(main, branch)
            continue
        found = _deployed(scored, labels.get(prompt, {}))
        if found is not None:
            out[prompt] = found
            continue
        if not any(r.branch for r in all_runs):
            legacy = next((r for r in scored if r.source != "ci"), None)
            if legacy is not None:
                out[prompt] = Headline(legacy, "unbranched")
    return out


def _deployed(scored: list[Any], envs: Mapping[str, Any]) -> Headline | None:
    order = sorted(envs.items(), key=lambda kv: (kv[0] != PREFERRED_LABEL, -_stamp(kv[1])))
    for env, deployment in order:
        run = next((r for r in scored if r.version == deployment.version), None)
        if run is not None:
            return Headline(run, f"label:{env}")
    return None


def _stamp(deployment: Any) -> float:
    created = getattr(deployment, "created_at", None)
    return created.timestamp() if created is not None else 0.0


__all__ = ["Headline", "headline_runs"]
