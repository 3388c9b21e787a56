"""What ``promptops eval`` prints when it is done: the results table (readable at 80 columns),
then the failing cases (input, output, reason) and the errors grouped by cause."""

from __future__ import annotations

import json
import re
from typing import Any

from .._util.fmt import usd
from . import common
from .metrics_table import print_named_metrics

#: failing cases shown per prompt × model (the rest are counted; the reports list them all)
MAX_FAILURES = 10
#: characters of one input or output shown
CELL = 160


def print_summary(report) -> None:
    out = common.console()
    rows = []
    for s in report.summaries:
        extra = f"pass^{s.repeat} {common.pct(s.pass_hat_k)}" if s.pass_hat_k is not None else ""
        ci = f"{100 * s.ci_low:.0f}–{100 * s.ci_high:.0f}%"
        rows.append([f"{s.prompt}@{s.version[:8]}", s.model, common.pct(s.accuracy), ci,
                     f"{s.passed}/{s.failed}/{s.errors}",
                     "–" if s.latency_p50_ms is None else f"{s.latency_p50_ms:.0f}",
                     _cost(s), extra])
    columns = ["prompt@version", "model", "acc", "95% CI", "pass/fail/err", "p50 ms", "cost", ""]
    if not any(r[-1] for r in rows):
        columns, rows = columns[:-1], [r[:-1] for r in rows]
    _table(columns, rows, numeric=set(columns[2:7]))
    print_named_metrics(report)
    note = f"{report.calls} calls, {report.cached} cached, {report.duration_s:.1f} s"
    if report.calls_s:
        note += f" ({report.calls_s:.1f} s of calls after start-up)"
    out.print(note + (" (interrupted: rerun to resume)" if report.interrupted else ""), markup=False)
    partial = [e for e in report.evals if e.suite_size is not None]
    if partial:
        counts = ", ".join(f"{e.prompt} {_cases(e)}/{e.suite_size}" for e in partial)
        asked = " ".join(f"--{k.replace('_', '-')}" + ("" if v is True else f" {v}")
                         for k, v in (report.selection or {}).items())
        out.print(f"partial run ({asked}): {counts} cases", markup=False)
        out.print("stored as 'partial': never taken as the version's score", markup=False)


def _cases(e) -> int:
    s = e.summaries[0] if e.summaries else None
    return 0 if s is None else s.total // max(s.repeat, 1)


def _cost(s) -> str:
    if not any(r.cost_usd is not None for r in s.results):
        return usd(None)
    return usd(s.cost_usd, 6 if 0 < s.cost_usd < 0.01 else 4)


def _table(columns: list[str], rows: list[list[Any]], numeric: set[str]) -> None:
    """A table without vertical rules (80 columns hold it); numbers never wrap, names fold."""
    from rich import box
    from rich.table import Table

    t = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0), header_style="bold")
    for c in columns:
        if c in numeric:
            t.add_column(c, no_wrap=True, justify="right")
        else:
            t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(*["" if v is None else str(v) for v in r])
    common.console().print(t)


def print_details(report) -> None:
    """The failing cases of every prompt × model, then every error grouped by its cause."""
    out = common.console()
    cell = max(40, min(CELL, out.width - 13))  # one line each at the console's width
    errors: dict[str, list[str]] = {}
    for s in report.summaries:
        failing = [r for r in s.results if r.error is None and not r.passed]
        for r in s.results:
            if r.error is not None:
                errors.setdefault(error_cause(r.error), []).append(f"{s.prompt}/{s.model}/{r.case_id}")
        if not failing:
            continue
        out.print(f"\nfailing: {s.prompt} on {s.model} ({len(failing)} of {s.total})", markup=False, style="bold")
        for r in failing[:MAX_FAILURES]:
            case = r.case_id + (f" #{r.repeat_index}" if s.repeat > 1 else "")
            out.print(f"  {case}", markup=False, style="bold")
            out.print(f"    input:  {clip(_inline(r.vars), cell)}", markup=False)
            out.print(f"    output: {clip(_inline(r.output), cell)}", markup=False)
            out.print(f"    reason: {clip(r.reason or '(no reason given)', cell)}", markup=False)
        if len(failing) > MAX_FAILURES:
            out.print(f"  … and {len(failing) - MAX_FAILURES} more (--json/--markdown/--html list them all)",
                      markup=False)
    if errors:
        total = sum(len(v) for v in errors.values())
        out.print(f"\nerrors ({total}), by cause:", markup=False, style="bold")
        for cause, where in sorted(errors.items(), key=lambda kv: -len(kv[1])):
            more = f", … {len(where) - 3} more" if len(where) > 3 else ""
            out.print(f"  {len(where)} × {clip(cause, cell)}", markup=False)
            out.print(f"      {', '.join(where[:3])}{more}", markup=False)


_NUMBERS = re.compile(r"\b\d+(\.\d+)?\b")


def error_cause(error: str) -> str:
    """The cause of an error as results share it: its first line, numbers (ports, request ids,
    waits) replaced by ``N`` so that one outage is one group."""
    first = (error.strip().splitlines() or ["(empty error)"])[0]
    return _NUMBERS.sub("N", first)


def clip(text: str, limit: int = CELL) -> str:
    text = text.replace("\n", "⏎ ")
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _inline(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)
