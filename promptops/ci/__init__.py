"""Pull-request prompt review: what a change touches, base vs head on the same cases, gates, comment.

Library entry point: :func:`run_ci` returns a :class:`CIResult`; ``result.comment()`` is the
Markdown for the pull request and :func:`post_comment` puts it there. The CLI command
``promptops ci`` is a thin layer over these.
"""

from __future__ import annotations

from .comment import MARKER, render_comment, render_error
from .compare import GATES, ModelComparison, parse_fail_on
from .github import PostOutcome, post_comment
from .review import current_branch, run_ci
from .types import CIResult, PromptReview

__all__ = ["CIResult", "GATES", "MARKER", "ModelComparison", "PostOutcome", "PromptReview", "current_branch",
           "parse_fail_on", "post_comment", "render_comment", "render_error", "run_ci"]
