"""Case selection for ``promptops eval``: ``--filter``, ``--tag``, ``--failing``, ``--sample`` and
``--max-cases``, applied in that order to each prompt's suite.

A run over a selection that leaves out any case of the suite is *partial*: the runner stores it
with status ``partial`` (see :data:`promptops.store.schema.RUN_STATUSES`), and everything that
takes a run as a version's score (the promote gate, escalation, the dashboard's scores) reads
``finished`` runs only. A selection that happens to keep every case is the full suite: a normal run.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import NotFoundError, PromptopsError
from ..suites import Case

#: statuses of the runs ``--failing`` reads a case's latest outcome from
SCORED_STATUSES = ("finished", "partial")


@dataclass
class Selection:
    """Which cases of each suite to run. Empty: all of them."""

    filter: str | None = None  # a regular expression, searched in the case id, description and vars
    tags: list[str] = field(default_factory=list)  # a case with any of them (its tags or metadata values)
    failing: bool = False  # only cases whose latest stored result (this version, these models) failed or errored
    sample: int | None = None  # a random sample of this many (seeded by ``seed``)
    seed: int = 0
    max_cases: int | None = None  # the first N of what is left

    def __post_init__(self) -> None:
        if self.filter is not None:
            try:
                self._regex = re.compile(self.filter)
            except re.error as exc:
                raise PromptopsError(f"--filter: not a regular expression: {exc}", where="command line",
                                     hint="escape special characters, e.g. 'capital\\.'") from None
        for name in ("sample", "max_cases"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise PromptopsError(f"--{name.replace('_', '-')} must be at least 1 (got {value})",
                                     where="command line")

    @property
    def empty(self) -> bool:
        return (self.filter is None and not self.tags and not self.failing and self.sample is None
                and self.max_cases is None)

    def describe(self) -> dict[str, Any]:
        """The selection as the report and the terminal show it (only what was asked for)."""
        out: dict[str, Any] = {}
        if self.filter is not None:
            out["filter"] = self.filter
        if self.tags:
            out["tags"] = list(self.tags)
        if self.failing:
            out["failing"] = True
        if self.sample is not None:
            out["sample"], out["seed"] = self.sample, self.seed
        if self.max_cases is not None:
            out["max_cases"] = self.max_cases
        return out

    def apply(self, cases: list[Case], failing_ids: set[str] | None = None) -> list[Case]:
        """The selected cases, in suite order. ``failing_ids``: required with ``failing``."""
        kept = list(cases)
        if self.filter is not None:
            kept = [c for c in kept if any(self._regex.search(f) for f in _fields(c))]
        if self.tags:
            wanted = set(self.tags)
            kept = [c for c in kept if wanted & case_tags(c)]
        if self.failing:
            kept = [c for c in kept if c.id in (failing_ids or set())]
        if self.sample is not None and self.sample < len(kept):
            picked = set(random.Random(self.seed).sample(range(len(kept)), self.sample))
            kept = [c for i, c in enumerate(kept) if i in picked]
        if self.max_cases is not None:
            kept = kept[:self.max_cases]
        return kept


def case_tags(case: Case) -> set[str]:
    """A case's tags, plus its metadata as ``key`` and ``key=value`` (promptfoo's ``__metadata:*``)."""
    tags = {str(t) for t in case.tags or ()}
    for key, value in (getattr(case, "metadata", None) or {}).items():
        tags.add(str(key))
        tags.add(f"{key}={value}")
    return tags


def _fields(case: Case) -> list[str]:
    """What ``--filter`` searches, each on its own (so ``^`` and ``$`` anchor to one field): the id,
    the description, every variable's value (text as it is, else JSON) and all the vars as JSON."""
    def text(value: Any) -> str:
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)

    return [case.id, case.description or "", *(text(v) for v in case.vars.values()), text(case.vars)]


def failing_case_ids(store: Any, prompt: str, hash: str, models: list[str]) -> set[str]:
    """Cases whose latest stored result for this prompt version (content ``hash``) on any of
    ``models`` failed or errored, over its finished and partial runs, newest first. A
    :class:`NotFoundError` when no run of this version has results for any of the models."""
    latest: dict[tuple[str, str], bool] = {}  # (model, case) -> failed in its latest run
    found = False
    wanted = set(models)
    for run in store.list_runs(prompt=prompt, limit=100_000):  # newest first
        if run.hash != hash or run.status not in SCORED_STATUSES or not wanted & set(run.models or ()):
            continue
        found = True
        bad: dict[tuple[str, str], bool] = {}
        for r in store.results(run.id):
            if r.model not in wanted:
                continue
            key = (r.model, r.case_id)
            bad[key] = bad.get(key, False) or r.error is not None or not r.passed
        for key, failed in bad.items():
            latest.setdefault(key, failed)
    if not found:
        raise NotFoundError(f"--failing: no stored eval of {prompt} at this version on {', '.join(models)}",
                            hint=f"run 'promptops eval {prompt}' first")
    return {case for (_, case), failed in latest.items() if failed}
