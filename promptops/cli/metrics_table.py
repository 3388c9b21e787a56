"""The named-metrics table (``metric:`` on assertions), printed under the eval table when any."""

from __future__ import annotations

from . import common


def print_named_metrics(report) -> None:
    rows = [[s.prompt, s.model, name, f"{common.pct(m['pass_rate'])}", f"{m['passed']}/{m['total']}",
             f"{m['score']:.3f}"]
            for s in report.summaries for name, m in (s.named_metrics or {}).items()]
    if rows:
        common.table(None, ["prompt", "model", "metric", "pass", "passed", "score"], rows)
