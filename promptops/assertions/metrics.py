"""Measurement assertions: latency (milliseconds) and cost (USD), each at or below a limit.

The limit is the ``value`` or, as promptfoo writes it, the ``threshold``.
"""

from __future__ import annotations

from typing import Any

from .base import Check, Family, GradeError, GradeResult, passfail

FAMILY = Family("metrics")


@FAMILY.assertion("latency", "the call took at most the limit in milliseconds", value="number", threshold="limit")
def latency(output: str, value: Any, check: Check) -> GradeResult:
    if check.latency_ms is None:
        raise GradeError("latency was not measured for this call")
    limit = float(value)
    return passfail(check.latency_ms <= limit, f"latency {check.latency_ms:.0f} ms ≤ {limit:g} ms",
                    f"latency {check.latency_ms:.0f} ms > {limit:g} ms")


@FAMILY.assertion("cost", "the call cost at most the limit in USD", value="number", threshold="limit")
def cost(output: str, value: Any, check: Check) -> GradeResult:
    if check.cost_usd is None:
        raise GradeError("the cost of this call is not known")
    limit = float(value)
    return passfail(check.cost_usd <= limit, f"cost ${check.cost_usd:.6f} ≤ ${limit:g}",
                    f"cost ${check.cost_usd:.6f} > ${limit:g}")
