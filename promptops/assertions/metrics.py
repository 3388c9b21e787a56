"""Measurement assertions: latency (milliseconds) and cost (USD), each at or below a limit.

The limit is the ``value`` or, as promptfoo writes it, the ``threshold``.
"""

from __future__ import annotations

from typing import Any

from .base import Check, Family, GradeError, GradeResult, passfail

FAMILY = Family("metrics")


def _at_most(measured: float | None, value: Any, missing: str, template: str) -> GradeResult:
    """Pass when ``measured`` ≤ the limit; ``template`` has {m} (measured), {op} and {limit}."""
    if measured is None:
        raise GradeError(missing)
    limit = float(value)
    ok = measured <= limit
    reason = template.format(m=measured, op="≤" if ok else ">", limit=limit)
    return passfail(ok, reason, reason)


@FAMILY.assertion("latency", "the call took at most the limit in milliseconds", value="number", threshold="limit")
def latency(output: str, value: Any, check: Check) -> GradeResult:
    return _at_most(check.latency_ms, value, "latency was not measured for this call",
                    "latency {m:.0f} ms {op} {limit:g} ms")


@FAMILY.assertion("cost", "the call cost at most the limit in USD", value="number", threshold="limit")
def cost(output: str, value: Any, check: Check) -> GradeResult:
    return _at_most(check.cost_usd, value, "the cost of this call is not known", "cost ${m:.6f} {op} ${limit:g}")
