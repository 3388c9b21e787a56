"""Reports never show a partial score like a complete one (issue 12): an interrupted run, a
selection of the suite, results missing, errors: marked partial in HTML, Markdown and JSON, with counts."""

from __future__ import annotations

import json
import re
from pathlib import Path

from promptops.config import load_config
from promptops.eval.completeness import partials
from promptops.eval.evaluate import evaluate
from promptops.eval.results import CaseResult, EvalReport, PromptEval, summarize
from promptops.eval.select import Selection
from promptops.reports import render_html, render_markdown, to_json
from promptops.testing.fake_openai import FakeOpenAI

from .helpers import capital_rules, make_project


def _report(n_results: int, errors: int = 0, planned: int | None = 10, interrupted: bool = False,
            suite_size: int | None = None) -> EvalReport:
    results = [CaseResult(prompt="p", version="v1", model="m", case_id=f"c{i}", repeat_index=0, vars={},
                          output="x", passed=True, error="timeout" if i < errors else None)
               for i in range(n_results)]
    summary = summarize(results, prompt="p", version="v1", model="m", duration_s=1.0)
    pe = PromptEval(prompt="p", version="v1", run_id=1, ref=None, summaries=[summary], suite_size=suite_size,
                    planned=planned)
    return EvalReport(evals=[pe], duration_s=1.0, interrupted=interrupted)


def _banner(html: str) -> str:
    found = re.search(r'<div id="partial".*?</div>', html, re.S)
    return found.group(0) if found else ""


def test_a_complete_run_is_not_marked() -> None:
    report = _report(10)
    assert partials(report) == []
    html = render_html(report)
    assert _banner(html) == "" and "badge" not in html.split("</style>")[1]
    assert "partial" not in render_markdown(report).lower()
    assert json.loads(to_json(report))["partial_scores"] == []


def test_missing_results_errors_and_interruptions_are_marked_with_counts() -> None:
    report = _report(8, errors=2, interrupted=True)
    [p] = partials(report)
    assert p.reasons == ["interrupted", "2 of 10 not run", "2 of 8 errored"]
    html = render_html(report)
    banner = _banner(html)
    assert "Partial run" in banner and "2 of 10 not run" in banner and "2 of 8 errored" in banner
    summary_row = re.search(r'<table id="summary">.*?</table>', html, re.S).group(0)
    assert 'class="partial"' in summary_row and '<span class="badge">partial</span>' in summary_row
    md = render_markdown(report)
    assert "| p | `v1` | m | 75.0% [" in md and "**(partial)**" in md
    assert "- p `v1` × m: interrupted, 2 of 10 not run, 2 of 8 errored" in md
    [entry] = json.loads(to_json(report))["partial_scores"]
    assert (entry["results"], entry["planned"], entry["not_run"], entry["errors"]) == (8, 10, 2, 2)


def test_errors_alone_make_a_score_partial() -> None:
    [p] = partials(_report(10, errors=1))
    assert p.reasons == ["1 of 10 errored"]


def test_a_selection_is_marked_partial_end_to_end(tmp_path: Path) -> None:
    with FakeOpenAI(rules=capital_rules()) as server:
        root = make_project(tmp_path, server.base_url, commit=False)
        report = evaluate(load_config(root), selection=Selection(max_cases=5))
        complete = evaluate(load_config(root))
    html = render_html(report)
    assert "a selection of 5 of 20 cases" in _banner(html)
    data = json.loads(to_json(report))
    assert data["partial"] == ["capital"] and data["partial_scores"][0]["suite_size"] == 20
    assert _banner(render_html(complete)) == "" and complete.evals[0].planned == 20
