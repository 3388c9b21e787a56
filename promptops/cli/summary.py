"""The terminal table printed after an eval."""

from __future__ import annotations

from . import common
from .metrics_table import print_named_metrics


def print_summary(report) -> None:
    rows = []
    for s in report.summaries:
        extra = f"pass^{s.repeat} {common.pct(s.pass_hat_k)}" if s.pass_hat_k is not None else ""
        rows.append([s.prompt, s.version, s.model, f"{common.pct(s.accuracy)}",
                     f"{common.pct(s.ci_low)}–{common.pct(s.ci_high)}", s.passed, s.failed, s.errors,
                     "–" if s.latency_p50_ms is None else f"{s.latency_p50_ms:.0f}",
                     f"{s.cached}/{s.total}", extra])
    common.table(None, ["prompt", "version", "model", "accuracy", "95% CI", "pass", "fail", "err", "p50 ms",
                        "cached", ""], rows)
    print_named_metrics(report)
    note = f"{report.calls} calls, {report.cached} cached, {report.duration_s:.1f} s"
    if report.calls_s:
        note += f" ({report.calls_s:.1f} s of calls after start-up)"
    common.console().print(note + (" (interrupted: rerun to resume)" if report.interrupted else ""), markup=False)
