"""The data of a prompt review: what ``run_ci`` finds and ``promptops ci --json`` writes.

Apart from :mod:`.review` (which computes it) so the renderer in :mod:`.comment` reads it without
importing the review; :meth:`CIResult.comment` is the one convenience that reaches the renderer.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from . import compare as cmp
from .comment import MAX_CHARS, render_comment


@dataclass
class PromptReview:
    """One touched prompt: what changed, the diff, and one comparison per model."""

    name: str
    old_name: str | None
    status: str  # added, modified, renamed, removed
    prompt_changed: bool
    suite_changed: bool
    base_version: str | None = None
    head_version: str | None = None
    diff: str = ""
    note: str = ""  # why it was not scored or not compared, when it was not
    suite_note: str = ""  # cases added/removed in the head suite
    models: list[str] = field(default_factory=list)
    comparisons: list[cmp.ModelComparison] = field(default_factory=list)
    min: float | None = None
    target: float | None = None

    @property
    def what(self) -> str:
        """A short description of the change: 'renamed from x, prompt and suite changed'."""
        parts = []
        if self.status == "renamed":
            parts.append(f"renamed from {self.old_name}")
        elif self.status in ("added", "removed"):
            parts.append(self.status)
        touched = [w for w, on in (("prompt", self.prompt_changed), ("suite", self.suite_changed)) if on]
        if self.status in ("modified", "renamed"):
            parts.append(f"{' and '.join(touched)} changed" if touched else "formatting only")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in dataclasses.asdict(self).items() if k != "comparisons"}
        out["comparisons"] = [c.to_dict() for c in self.comparisons]
        return out


@dataclass
class CIResult:
    """Everything ``promptops ci`` found; :meth:`comment` renders it for a pull request."""

    base: str
    head: str
    base_sha: str  # the commit compared against (the merge base)
    head_sha: str
    base_ref_sha: str  # the commit ``base`` itself points at
    reviews: list[PromptReview] = field(default_factory=list)
    fail_on: list[str] = field(default_factory=list)
    alpha: float = 0.05
    max_drop: float = 0.05
    max_failing_cases: int = 10
    calls: int = 0
    cached: int = 0
    duration_s: float = 0.0
    recorded_branch: str | None = None

    @property
    def gates_failed(self) -> list[str]:
        return [reason for r in self.reviews for c in r.comparisons for reason in c.gates_failed]

    @property
    def passed(self) -> bool:
        return not self.gates_failed

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1

    @property
    def comparisons(self) -> list[cmp.ModelComparison]:
        return [c for r in self.reviews for c in r.comparisons]

    def comment(self, limit: int | None = None) -> str:
        """The pull-request comment: :func:`promptops.ci.comment.render_comment` of this result."""
        return render_comment(self, limit=limit or MAX_CHARS)

    def to_dict(self) -> dict[str, Any]:
        return {"base": self.base, "head": self.head, "base_sha": self.base_sha, "head_sha": self.head_sha,
                "base_ref_sha": self.base_ref_sha, "fail_on": self.fail_on, "alpha": self.alpha,
                "max_drop": self.max_drop, "passed": self.passed, "gates_failed": self.gates_failed,
                "calls": self.calls, "cached": self.cached, "duration_s": round(self.duration_s, 3),
                "recorded_branch": self.recorded_branch, "prompts": [r.to_dict() for r in self.reviews]}


__all__ = ["CIResult", "PromptReview"]
