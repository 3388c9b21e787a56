"""The one set of number formatters for terminal tables, Markdown comments and reports.

Every formatter takes None for "not measured" and shows it as an en dash, so a table cell never
reads "None". Outputs are part of what users diff and tests check: change them deliberately.
"""

from __future__ import annotations

DASH = "–"


def pct(value: float | None, digits: int = 1) -> str:
    """A fraction as a percentage: ``0.8125`` → ``81.2%``."""
    return DASH if value is None else f"{100 * value:.{digits}f}%"


def pts(value: float | None) -> str:
    """A difference of two fractions in signed percentage points with a typographic minus:
    ``-0.05`` → ``−5.0``; anything that rounds to zero is ``0.0`` (never ``+0.0`` or ``−0.0``)."""
    if value is None:
        return DASH
    points = 100 * value
    return "0.0" if abs(points) < 0.05 else f"{points:+.1f}".replace("-", "−")


def ms(value: float | None) -> str:
    """Milliseconds, whole: ``812.4`` → ``812 ms``."""
    return DASH if value is None else f"{value:.0f} ms"


def usd(value: float | None, digits: int = 4, *, zero: str | None = None) -> str:
    """Dollars: ``0.0123`` → ``$0.0123``; ``zero`` replaces an exact 0 (``"$0 (local)"``, say)."""
    if value is None:
        return DASH
    if value == 0 and zero is not None:
        return zero
    return f"${value:.{digits}f}"


def p_value(p: float | None) -> str:
    """A p-value with the precision that matters: ``<0.0001``, four decimals below 0.01, else two."""
    if p is None:
        return DASH
    if p < 0.0001:
        return "<0.0001"
    if p < 0.01:
        return f"{p:.4f}"
    return f"{p:.2f}"
