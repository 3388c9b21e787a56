"""Reports from one :class:`~promptops.eval.results.EvalReport`: JSON, Markdown, HTML, terminal."""

from __future__ import annotations

import json
from pathlib import Path

from .._util.fs import atomic_write
from ..eval.results import EvalReport
from .html import render_html
from .markdown import render_markdown

__all__ = ["render_html", "render_markdown", "to_json", "write_reports"]


def to_json(report: EvalReport) -> str:
    """The report as one line of JSON (``jq .`` pretty-prints it): indentation would switch the
    standard library to its pure-Python encoder, several times slower on a 1,000-case report."""
    return json.dumps(report.to_dict(), ensure_ascii=False, default=str)


def write_reports(report: EvalReport, *, json_path: str | None = None, markdown_path: str | None = None,
                  html_path: str | None = None) -> list[Path]:
    """Write whichever reports were asked for; returns the paths written."""
    written = []
    for path, render in ((json_path, to_json), (markdown_path, render_markdown), (html_path, render_html)):
        if path:
            target = Path(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(target, render(report))  # never a half-written report
            written.append(target)
    return written
