"""The pull-request comment: a summary table, then per prompt its diff and the cases that flipped.

The first line is a hidden marker (:data:`MARKER`) so ``--post`` finds and updates its own comment.
GitHub refuses comments over 65,536 characters; when the full comment is longer it is rendered
again with fewer cases, shorter diffs, then without per-prompt details, and says what it left out.
"""

from __future__ import annotations

import html
import json
import re
from typing import TYPE_CHECKING, Any

from .._util import fmt
from . import compare as cmp

if TYPE_CHECKING:  # pragma: no cover - types imports this module (for CIResult.comment): names only
    from .types import CIResult, PromptReview

MARKER = "<!-- promptops-ci -->"
MAX_CHARS = 65_536
_SAFETY = 512  # room for GitHub counting some characters differently than Python does

_ICONS = {cmp.IMPROVED: "🟢", cmp.REGRESSED: "🔴", cmp.UNCHANGED: "⚪", cmp.NEW_PROMPT: "🆕",
          cmp.REMOVED_PROMPT: "➖", cmp.NOT_COMPARED: "❔"}

# progressively smaller renderings: (failing cases per model, diff lines, per-prompt sections, rows)
_LADDER = [(None, None, True, None), (5, 200, True, None), (3, 60, True, None), (1, 20, True, None),
           (0, 0, True, None), (0, 0, False, None), (0, 0, False, 200), (0, 0, False, 50)]


def render_comment(result: "CIResult", *, limit: int = MAX_CHARS) -> str:
    """The Markdown comment, at most ``limit`` characters."""
    budget = max(1_000, limit - _SAFETY) if limit >= 2_000 else limit
    text = ""
    for step, (cases, diff_lines, sections, rows) in enumerate(_LADDER):
        cases = result.max_failing_cases if cases is None else min(cases, result.max_failing_cases)
        text = _render(result, max_cases=cases, diff_lines=diff_lines, sections=sections, max_rows=rows,
                       truncated=step > 0)
        if len(text) <= budget:
            return text
    note = "\n\n_… cut here: the comment is longer than GitHub allows. Run `promptops ci` locally for all of it._\n"
    return text[: max(0, budget - len(note))].rsplit("\n", 1)[0] + note


def render_error(message: str, *, base: str | None = None, head: str | None = None) -> str:
    """The comment written when ``promptops ci`` could not run (a file or usage error)."""
    where = f" comparing `{_code(base)}` → `{_code(head or 'HEAD')}`" if base else ""
    return (f"{MARKER}\n### promptops · prompt review\n\n**❌ promptops ci could not run**{where}:\n\n"
            f"{_fence(message, '')}\n")


def _render(result: "CIResult", *, max_cases: int, diff_lines: int | None, sections: bool,
            max_rows: int | None, truncated: bool) -> str:
    out = [MARKER, "### promptops · prompt review", ""]
    base = f"`{_code(result.base)}`"
    merge = f" at merge base `{result.base_sha[:7]}`" if result.base_sha != result.base_ref_sha else \
        f" (`{result.base_sha[:7]}`)"
    head = f"`{_code(result.head)}` (`{result.head_sha[:7]}`)"
    if not result.reviews:
        out += [f"No prompt or suite changed between {base}{merge} and {head}. Nothing to score.", ""]
        return "\n".join(out)
    failed = result.gates_failed
    gates = ", ".join(result.fail_on) or "none"
    if failed:
        out.append(f"**❌ {len(failed)} gate{'s' * (len(failed) != 1)} failed** (gates: {gates})")
        out.append("")
        out += [f"- {_text(reason)}" for reason in failed]
    else:
        out.append(f"**✅ All gates passed** (gates: {gates})")
    n = len(result.reviews)
    out += ["", f"Compared {base}{merge} → {head}: {n} prompt{'s' * (n != 1)} touched, "
                f"{result.calls} calls, {result.cached} cached, {result.duration_s:.1f} s.", ""]
    out += ["| prompt | model | base | head | Δ points [95% CI] | p | verdict |", "|---|---|---|---|---|---|---|"]
    rows = [(r, c) for r in result.reviews for c in r.comparisons]
    shown = rows if max_rows is None else rows[:max_rows]
    for review, c in shown:
        out.append(_row(review, c))
    for review in result.reviews:
        if not review.comparisons:
            out.append(f"| `{_code(review.name)}` | – | – | – | – | – | {_text(review.note or review.what)} |")
    if len(shown) < len(rows):
        out.append(f"| … | {len(rows) - len(shown)} more rows | | | | | |")
    out += ["", f"_base and head are scored on the same cases (the head suite; cases new in head are not "
                f"paired). Verdicts use McNemar's exact test on the cases that flipped, α = {result.alpha:g}: "
                f"**unchanged** means the difference is within noise._"]
    if sections:
        for review in result.reviews:
            out += _section(review, max_cases=max_cases, diff_lines=diff_lines)
    if truncated:
        kept = (f"up to {max_cases} case{'s' * (max_cases != 1)} per table" if max_cases else "no case tables")
        diffs = ("no diffs" if not sections or diff_lines == 0 else
                 f"diffs cut to {diff_lines} lines" if diff_lines else "full diffs")
        out += ["", f"_Shortened to fit GitHub's comment limit ({kept}, {diffs}"
                    f"{'' if sections else ', no per-prompt details'}). "
                    f"`promptops ci --json -` prints everything._"]
    return "\n".join(out) + "\n"


def _row(review: "PromptReview", c: cmp.ModelComparison) -> str:
    name = f"`{_code(review.name)}`"
    if review.status == "renamed":
        name += f" (was `{_code(review.old_name or '')}`)"
    base = "–" if c.base_accuracy is None else f"{fmt.pct(c.base_accuracy)} ({c.base_passed}/{c.paired})"
    if c.head_accuracy is None:
        head = "–"
    elif c.base_accuracy is None:
        head = f"{fmt.pct(c.head_accuracy)} ({c.head_passed}/{c.head_total})"
    else:
        head = f"{fmt.pct(c.head_accuracy)} ({c.head_passed}/{c.paired})"
    if c.new_cases and c.base_accuracy is not None:
        head += f"; {c.new_cases_passed}/{c.new_cases} new"
    delta = "–" if c.delta is None else f"{fmt.pts(c.delta)} [{fmt.pts(c.delta_low)}, {fmt.pts(c.delta_high)}]"
    verdict = f"{_ICONS.get(c.verdict, '')} {c.verdict}".strip()
    if c.verdict == cmp.REGRESSED or c.verdict == cmp.IMPROVED:
        verdict = f"**{verdict}**"
    errors = c.base_errors + c.head_errors
    if errors:
        verdict += f" ⚠️ {errors} error{'s' * (errors != 1)}"
    if c.gates_failed:
        verdict += " · ❌ gate"
    return (f"| {name} | {_text(c.model)} | {base} | {head} | {delta} | {fmt.p_value(c.p_value)} | "
            f"{verdict} |")


def _section(review: "PromptReview", *, max_cases: int, diff_lines: int | None) -> list[str]:
    out = ["", f"#### `{_code(review.name)}` — {_text(review.what)}"]
    facts = []
    if review.base_version or review.head_version:
        facts.append(f"`{review.base_version or '–'}` → `{review.head_version or '–'}`")
    if review.suite_note:
        facts.append(_text(review.suite_note))
    for c in review.comparisons:
        perf = []
        if c.base_latency_p50_ms is not None or c.head_latency_p50_ms is not None:
            perf.append(f"p50 {fmt.ms(c.base_latency_p50_ms)} → {fmt.ms(c.head_latency_p50_ms)}")
        if c.base_cost_usd or c.head_cost_usd:
            perf.append(f"cost {fmt.usd(c.base_cost_usd or 0)} → {fmt.usd(c.head_cost_usd or 0)}")
        if perf:
            facts.append(f"{_text(c.model)}: {', '.join(perf)}")
    if facts:
        out += ["", " · ".join(facts)]
    if review.note:
        out += ["", f"_{_text(review.note)}_"]
    if review.diff and diff_lines != 0:
        lines = review.diff.splitlines()
        body = "\n".join(lines if diff_lines is None else lines[:diff_lines])
        if diff_lines is not None and len(lines) > diff_lines:
            body += f"\n… {len(lines) - diff_lines} more lines"
        out += ["", "<details><summary>Prompt diff</summary>", "", _fence(body, "diff"), "", "</details>"]
    for c in review.comparisons:
        out += _cases(c, max_cases)
    return out


def _cases(c: cmp.ModelComparison, max_cases: int) -> list[str]:
    flipped, new = c.newly_failing, c.new_failing
    if not flipped and not new and not c.newly_passing:
        return []
    label = [f"{len(flipped)} newly failing", f"{len(c.newly_passing)} newly passing"]
    if new:
        label.append(f"{len(new)} failing {'new case' if c.base_accuracy is not None else 'case'}"
                     f"{'s' * (len(new) != 1)}")
    out = ["", f"<details><summary>{_text(c.model)}: {', '.join(label)}</summary>", ""]
    shown = (flipped + new)[:max_cases]
    is_new = {id(x) for x in new}
    if shown:
        out += ["| case | input | expected | base output | head output |", "|---|---|---|---|---|"]
        for case in shown:
            base = ("_(new case)_" if id(case) in is_new and c.base_accuracy is not None else
                    "–" if id(case) in is_new else _output(case.base_output, case.base_error))
            out.append(f"| {_text(case.case_id, 40)} | {_vars(case.vars)} | {_text(_plain(case.expected), 80)} | "
                       f"{base} | {_output(case.head_output, case.head_error)} |")
    hidden = len(flipped) + len(new) - len(shown)
    if hidden:
        out += ["", f"_… and {hidden} more failing case{'s' * (hidden != 1)}._"]
    if c.newly_passing:
        ids = ", ".join(_text(x.case_id, 40) for x in c.newly_passing[:20])
        more = f" and {len(c.newly_passing) - 20} more" if len(c.newly_passing) > 20 else ""
        out += ["", f"Newly passing: {ids}{more}."]
    out += ["", "</details>"]
    return out


def _vars(values: dict[str, Any]) -> str:
    if len(values) == 1:
        return _text(_plain(next(iter(values.values()))), 120)
    return _text("; ".join(f"{k}: {_plain(v)}" for k, v in values.items()), 160)


def _output(text: str | None, error: str | None) -> str:
    if error:
        return f"⚠️ {_text(error, 100)}"
    return "_(empty)_" if not text else _text(text, 120)


def _plain(value: Any) -> str:
    if value is None:
        return "–"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def _text(value: Any, limit: int = 300) -> str:
    """Safe inside a table cell: one line, no pipes, no HTML, at most ``limit`` characters."""
    text = re.sub(r"\s+", " ", "" if value is None else str(value)).strip()
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return html.escape(text, quote=False).replace("|", "\\|")


def _code(value: str) -> str:
    return str(value).replace("`", "'")


def _fence(body: str, lang: str) -> str:
    longest = max((len(m) for m in re.findall(r"`+", body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{body}\n{fence}"

