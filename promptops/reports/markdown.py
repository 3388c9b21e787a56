"""Markdown report: a summary table, then failures per prompt and model (folded)."""

from __future__ import annotations

from .._util.fmt import ms, pct, usd
from ..eval.completeness import by_score
from ..eval.results import EvalReport, ModelSummary


def interval(s: ModelSummary) -> str:
    return f"{pct(s.accuracy)} [{pct(s.ci_low)}, {pct(s.ci_high)}]"


def cell(text, limit: int = 120) -> str:
    text = "" if text is None else str(text)
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_markdown(report: EvalReport, max_failures: int = 20) -> str:
    lines = ["## promptops eval", "",
             "| prompt | version | model | accuracy [95% CI] | passed | failed | errors | p50 | p95 | cost |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    marks = by_score(report)
    for s in report.summaries:
        mark = " **(partial)**" if (s.prompt, s.version, s.model) in marks else ""
        lines.append(f"| {s.prompt} | `{s.version}` | {s.model} | {interval(s)}{mark} | {s.passed} | {s.failed} | "
                     f"{s.errors} | {ms(s.latency_p50_ms)} | {ms(s.latency_p95_ms)} | {usd(s.cost_usd)} |")
    lines.append("")
    lines.append(f"{report.calls} calls, {report.cached} cached, {report.duration_s:.1f} s.")
    partial = [e.prompt for e in report.evals if e.suite_size is not None]
    if partial:  # a selection of the suite (--filter, --tag, ...): never the version's score
        lines += ["", f"**Partial run** of {', '.join(partial)} (selection: `{report.selection}`): "
                      "not the version's score."]
    if marks:  # every incomplete score, with its counts
        lines += ["", "**Partial scores** (not the version's score on its suite):"]
        lines += [f"- {p.prompt} `{p.version}` × {p.model}: {', '.join(p.reasons)}" for p in marks.values()]
    for s in report.summaries:
        bad = [r for r in s.results if r.status != "pass"]
        if s.pass_hat_k is not None:
            lines += ["", f"{s.prompt} × {s.model}: pass^{s.repeat} = {pct(s.pass_hat_k)}, "
                          f"consistency {pct(s.consistency)}"]
        if not bad:
            continue
        lines += ["", f"<details><summary>{s.prompt} × {s.model}: {len(bad)} not passing</summary>", "",
                  "| case | status | expected | output | reason |", "|---|---|---|---|---|"]
        for r in sorted(bad, key=lambda r: (r.status != "error", r.case_id))[:max_failures]:
            lines.append(f"| {cell(r.case_id, 40)} | {r.status} | {cell(r.expected, 40)} | "
                         f"{cell(r.output if r.error is None else r.error, 80)} | {cell(r.reason, 80)} |")
        if len(bad) > max_failures:
            lines.append(f"| … | {len(bad) - max_failures} more | | | |")
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"
