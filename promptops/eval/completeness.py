"""Whether each score of a report is complete, and if not, by how much: what the reports mark.

A prompt × model score is *partial* when the run was interrupted, when a selection (``--filter``,
``--tag``, ``--max-cases``, ``--sample``, ``--failing``) left cases of the suite out, when fewer
results came back than the cases × repeats the run planned (a resumed run that did not finish), or
when some cases errored (no answer was graded: the accuracy counts them as failures, but it is not
the prompt's score on the whole suite). The counts say which.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Partial:
    prompt: str
    version: str
    model: str
    results: int  # results in the report (cases × repeats)
    planned: int | None  # cases × repeats the run set out to score (None: not known)
    suite_size: int | None  # the whole suite's size when a selection left cases out
    errors: int
    interrupted: bool
    repeat: int = 1

    @property
    def not_run(self) -> int:
        return max((self.planned or 0) - self.results, 0)

    @property
    def reasons(self) -> list[str]:
        """One short phrase per cause, with its counts."""
        out = []
        if self.interrupted:
            out.append("interrupted")
        if self.suite_size is not None:
            out.append(f"a selection of {self.results // max(self.repeat, 1)} of {self.suite_size} cases")
        if self.not_run:
            out.append(f"{self.not_run} of {self.planned} not run")
        if self.errors:
            out.append(f"{self.errors} of {self.results} errored")
        return out

    def describe(self) -> str:
        return "partial: " + ", ".join(self.reasons)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "not_run": self.not_run, "reasons": self.reasons}


def partials(report: Any) -> list[Partial]:
    """The partial scores of an :class:`~promptops.eval.results.EvalReport`, in its order."""
    out = []
    for e in report.evals:
        for s in e.summaries:
            planned = getattr(e, "planned", None)
            p = Partial(prompt=s.prompt, version=s.version, model=s.model, results=s.total, planned=planned,
                        suite_size=e.suite_size, errors=s.errors, interrupted=bool(report.interrupted),
                        repeat=s.repeat)
            if p.reasons:
                out.append(p)
    return out


def by_score(report: Any) -> dict[tuple[str, str, str], Partial]:
    """(prompt, version, model) -> its :class:`Partial`, for the partial scores only."""
    return {(p.prompt, p.version, p.model): p for p in partials(report)}
