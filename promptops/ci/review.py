"""``run_ci``: what a change touches between two refs, base and head scored on the same cases, verdicts.

The base is the merge base of ``base`` and ``head`` (what GitHub compares a pull request against:
commits that landed on the base branch after the branch point are not the PR's doing). When the
two refs share no history the base ref itself is used.

For each touched prompt (its file changed, it was renamed, or a file of its suite changed), the
head version runs on its head suite and the base version (at the merge base, under its old name
when renamed) runs on the head cases that already existed in the base suite, with the head's
models. Both versions go through one runner call, so the response cache makes every request that
did not change free: a PR that edits one prompt costs that prompt's calls. When the prompt content
did not change (a suite-only edit), the base results are the head results: nothing runs twice.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from typing import Any

from ..config import Config
from ..diff import prompt_diff
from ..errors import PromptFileError, PromptopsError, RenderError
from ..eval.results import EvalTarget, Progress
from ..eval.runner import run_eval
from ..history import History
from ..suites import check_cases
from . import compare as cmp
from .types import CIResult, PromptReview


@dataclass
class _Plan:
    review: PromptReview
    head: EvalTarget | None = None
    base: EvalTarget | None = None
    base_is_head: bool = False  # same content: the head results stand for the base
    paired_ids: set[str] | None = None


def run_ci(config: Config, base: str, head: str | None = None, *, models: list[str] | None = None,
           fail_on: str | list[str] | None = None, max_drop: float | None = None, alpha: float | None = None,
           record: bool = False, branch: str | None = None, use_cache: bool = True,
           concurrency: int | None = None, progress: Progress | None = None, history=None) -> CIResult:
    """Review the prompts a change touches: base vs head on the same cases, verdicts and gates.

    ``head`` defaults to ``HEAD``. ``fail_on``, ``max_drop`` and ``alpha`` default to
    ``config.ci``. ``record`` stores the head runs as history of ``branch`` (default: the current
    branch, else ``main``); without it the runs are kept with no branch (the cache still fills).
    """
    started = time.perf_counter()
    gates = cmp.parse_fail_on(fail_on, config.ci.fail_on)
    alpha = config.ci.alpha if alpha is None else alpha
    max_drop = config.ci.max_drop if max_drop is None else max_drop
    if not 0 < alpha < 1:
        raise PromptopsError(f"alpha must be between 0 and 1, got {alpha}")
    if not 0 <= max_drop <= 1:
        raise PromptopsError(f"max drop must be between 0 and 1, got {max_drop}",
                             hint="write it as a fraction: 0.05 is five points")
    history = history or History(config.root, config.prompts_dir)
    head = head or "HEAD"
    head_sha = history.rev_parse(head)
    base_ref_sha = history.rev_parse(base)
    base_sha = history.merge_base(base_ref_sha, head_sha) or base_ref_sha
    result = CIResult(base=base, head=head, base_sha=base_sha, head_sha=head_sha, base_ref_sha=base_ref_sha,
                      fail_on=gates, alpha=alpha, max_drop=max_drop,
                      max_failing_cases=config.ci.max_failing_cases)
    plans = [_plan(config, history, change, base_sha, head_sha, head, base, models)
             for change in history.changed(base_sha, head_sha)]
    result.reviews = [p.review for p in plans]
    heads = [p.head for p in plans if p.head is not None]
    bases = [p.base for p in plans if p.base is not None]
    if heads:
        if record:  # the head runs become the branch's history; the base runs stay unattached
            result.recorded_branch = branch or current_branch(history)
            batches = [(bases, None), (heads, result.recorded_branch)]
        else:
            batches = [(bases + heads, None)]
        by_target: dict[int, Any] = {}
        for targets, run_branch in batches:
            if not targets:
                continue
            report = run_eval(config, targets, models=models, use_cache=use_cache, concurrency=concurrency,
                              progress=progress, source="ci", branch=run_branch)
            result.calls += report.calls
            result.cached += report.cached
            for target, pe in zip(targets, report.evals):
                by_target[id(target)] = {s.model: s.results for s in pe.summaries}
        for plan in plans:
            _compare(plan, by_target, alpha)
    for review in result.reviews:
        for c in review.comparisons:
            cmp.gate(c, fail_on=gates, max_drop=max_drop, alpha=alpha, min_score=review.min, target=review.target)
    result.duration_s = time.perf_counter() - started
    return result


def _plan(config: Config, history, change, base_sha: str, head_sha: str, head_label: str, base_label: str,
          models: list[str] | None) -> _Plan:
    review = PromptReview(name=change.name, old_name=change.old_name, status=change.status,
                          prompt_changed=change.prompt_changed, suite_changed=change.suite_changed)
    plan = _Plan(review=review)
    if change.status == "removed":
        try:
            old = history.resolve(f"{change.old_name}@{base_sha}").prompt
            review.base_version = old.version
            review.models = models or old.models_or(config.default_model)
        except PromptopsError:
            review.models = models or []
        review.comparisons = [cmp.removed(change.name, m) for m in review.models or ["–"]]
        review.note = "removed in head: nothing to score"
        return plan
    head_res = history.resolve(f"{change.name}@{head_sha}")  # a head file that does not parse is an error
    head_prompt = head_res.prompt
    review.head_version, review.min, review.target = head_prompt.version, head_prompt.min, head_prompt.target
    review.models = list(models or head_prompt.models_or(config.default_model))
    base_res = None
    if change.status != "added":
        try:
            base_res = history.resolve(f"{change.old_name or change.name}@{base_sha}")
            review.base_version = base_res.prompt.version
            review.diff = prompt_diff(base_res, head_res)
        except PromptFileError as exc:
            review.note = f"the base version does not parse ({exc.message}); scored as a new prompt"
    if not change.needs_eval:
        review.note = "formatting only: the parsed content is the same, not re-scored"
        return plan
    if not head_prompt.suite:
        review.note = "no suite: not scored (add 'suite:' to its front matter)"
        return plan
    head_cases = history.suite_at(head_prompt, head_sha)
    check_cases(head_cases, head_prompt)
    plan.head = EvalTarget(prompt=head_prompt, cases=head_cases, ref=head_label, commit=head_sha)
    if base_res is None:
        return plan
    base_prompt = base_res.prompt
    head_ids = {c.id for c in head_cases}
    base_ids: set[str] | None = None
    if base_prompt.suite:
        try:
            base_ids = {c.id for c in history.suite_at(base_prompt, base_sha)}
        except PromptopsError:  # no suite at base: compare on every head case
            review.suite_note = "the suite does not exist at base: every head case is compared"
    if base_ids is not None:
        added, dropped = len(head_ids - base_ids), len(base_ids - head_ids)
        notes = [f"{added} new case{'s' * (added != 1)} (head only)" if added else "",
                 f"{dropped} case{'s' * (dropped != 1)} removed" if dropped else ""]
        review.suite_note = ", ".join(n for n in notes if n)
    paired = [c for c in head_cases if base_ids is None or c.id in base_ids]
    plan.paired_ids = {c.id for c in paired}
    if base_prompt.hash == head_prompt.hash:
        plan.base_is_head = True
        return plan
    try:
        for case in paired:
            base_prompt.render(case.vars, strict=False)
    except RenderError as exc:
        review.note = f"not compared: the base version cannot render the head cases ({exc.message})"
        plan.paired_ids = None
        return plan
    base_prompt = dataclasses.replace(base_prompt, models=list(review.models))
    plan.base = EvalTarget(prompt=base_prompt, cases=paired, ref=base_label, commit=base_sha)
    return plan


def _compare(plan: _Plan, by_target: dict[int, Any], alpha: float) -> None:
    review = plan.review
    if plan.head is None:
        return
    head_results = by_target.get(id(plan.head), {})
    base_results = by_target.get(id(plan.base), {}) if plan.base is not None else None
    for model in review.models:
        head = head_results.get(model, [])
        if plan.base_is_head:
            base = head
        elif base_results is not None:
            base = base_results.get(model, [])
        else:
            base = None
        comparison = cmp.compare(prompt=review.name, model=model, head=head, base=base,
                                 paired_ids=plan.paired_ids, alpha=alpha)
        if base is None and review.status != "added":
            comparison.verdict = cmp.NOT_COMPARED if review.note.startswith("not compared") else cmp.NEW_PROMPT
        review.comparisons.append(comparison)


def current_branch(history) -> str:
    """The branch being built: the checked-out branch, else GitHub's ``GITHUB_REF_NAME`` for a branch
    push, else ``main``."""
    checked_out = history.current_branch()
    if checked_out:
        return checked_out
    if os.environ.get("GITHUB_REF", "").startswith("refs/heads/") and os.environ.get("GITHUB_REF_NAME"):
        return os.environ["GITHUB_REF_NAME"]
    return "main"


__all__ = ["CIResult", "PromptReview", "run_ci", "current_branch"]
