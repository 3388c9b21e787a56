"""The score-history chart: accuracy per prompt version and model, as inline SVG built here.

No JavaScript and no CDN: the dashboard stays self-contained and works offline. Each point is a
``<circle class="point">`` with a ``<title>`` (the browser's tooltip) and ``data-*`` attributes,
so a test (or a curious user) can read the numbers back.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563", "#be185d")
WIDTH, HEIGHT = 760, 320
LEFT, RIGHT, TOP, BOTTOM = 56, 170, 20, 56


@dataclass(frozen=True)
class Point:
    version: str
    model: str
    accuracy: float
    ci_low: float | None = None
    ci_high: float | None = None
    run_id: int | None = None
    total: int | None = None


def score_history_svg(versions: list[str], points: list[Point], *, target: float | None = None,
                      labels: dict[str, list[str]] | None = None, element_id: str = "score-history") -> str:
    """SVG markup: x = versions (oldest first), y = accuracy 0..100 %, one line per model."""
    labels = labels or {}
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    pad = 24  # keep the first and last points off the axes
    step = (plot_w - 2 * pad) / (len(versions) - 1) if len(versions) > 1 else 0.0

    def x(i: int) -> float:
        return LEFT + (pad + i * step if len(versions) > 1 else plot_w / 2)

    def y(value: float) -> float:
        return TOP + plot_h * (1 - max(0.0, min(1.0, value)))

    index = {v: i for i, v in enumerate(versions)}
    models = sorted({p.model for p in points})
    out = [f'<svg id="{escape(element_id)}" class="chart" xmlns="http://www.w3.org/2000/svg" '
           f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" '
           f'aria-label="accuracy per version and model">']
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        ty = y(tick)
        out.append(f'<line x1="{LEFT}" y1="{ty:.1f}" x2="{LEFT + plot_w}" y2="{ty:.1f}" stroke="#e5e7eb"/>')
        out.append(f'<text x="{LEFT - 8}" y="{ty + 4:.1f}" text-anchor="end" font-size="11" '
                   f'fill="#6b7280">{int(tick * 100)}%</text>')
    if target is not None:
        ty = y(target)
        out.append(f'<line class="target" x1="{LEFT}" y1="{ty:.1f}" x2="{LEFT + plot_w}" y2="{ty:.1f}" '
                   f'stroke="#f59e0b" stroke-dasharray="6 4"/>')
        out.append(f'<text x="{LEFT + plot_w + 6}" y="{ty + 4:.1f}" font-size="11" fill="#b45309">'
                   f'target {target * 100:.0f}%</text>')
    for i, version in enumerate(versions):
        tx = x(i)
        mark = " ".join(labels.get(version, []))
        out.append(f'<text x="{tx:.1f}" y="{TOP + plot_h + 18}" text-anchor="middle" font-size="11" '
                   f'font-family="monospace" fill="#374151">{escape(version[:7])}</text>')
        if mark:
            out.append(f'<text x="{tx:.1f}" y="{TOP + plot_h + 34}" text-anchor="middle" font-size="10" '
                       f'fill="#047857">{escape(mark)}</text>')
    if not points:
        out.append(f'<text x="{LEFT + plot_w / 2}" y="{TOP + plot_h / 2}" text-anchor="middle" '
                   f'fill="#6b7280">no eval yet: promptops eval</text>')
    for n, model in enumerate(models):
        color = PALETTE[n % len(PALETTE)]
        mine = sorted((p for p in points if p.model == model and p.version in index), key=lambda p: index[p.version])
        if len(mine) > 1:
            path = " ".join(f"{x(index[p.version]):.1f},{y(p.accuracy):.1f}" for p in mine)
            out.append(f'<polyline class="series" data-model="{escape(model)}" points="{path}" fill="none" '
                       f'stroke="{color}" stroke-width="2"/>')
        for p in mine:
            px, py = x(index[p.version]), y(p.accuracy)
            if p.ci_low is not None and p.ci_high is not None:
                out.append(f'<line class="ci" x1="{px:.1f}" y1="{y(p.ci_low):.1f}" x2="{px:.1f}" '
                           f'y2="{y(p.ci_high):.1f}" stroke="{color}" stroke-opacity="0.35" stroke-width="6"/>')
            tip = f"{model} · {p.version[:12]} · {p.accuracy * 100:.1f}%"
            if p.ci_low is not None and p.ci_high is not None:
                tip += f" (95% CI {p.ci_low * 100:.1f}–{p.ci_high * 100:.1f}%)"
            if p.total:
                tip += f" · {p.total} cases"
            if p.run_id is not None:
                tip += f" · run {p.run_id}"
            out.append(f'<circle class="point" cx="{px:.1f}" cy="{py:.1f}" r="5" fill="{color}" '
                       f'data-version="{escape(p.version)}" data-model="{escape(model)}" '
                       f'data-accuracy="{p.accuracy:.4f}"><title>{escape(tip)}</title></circle>')
        ly = TOP + 14 + 18 * n
        out.append(f'<rect x="{LEFT + plot_w + 10}" y="{ly - 9}" width="10" height="10" fill="{color}"/>')
        out.append(f'<text x="{LEFT + plot_w + 26}" y="{ly}" font-size="11" fill="#111827">'
                   f'{escape(model[:22])}</text>')
    out.append(f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="#9ca3af"/>')
    out.append(f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}" stroke="#9ca3af"/>')
    out.append("</svg>")
    return "".join(out)


def loss_curve_svg(losses: list[float], *, val: list[tuple[int, float]] | None = None,
                   element_id: str = "loss-curve") -> str:
    """SVG markup of a training loss curve (x = step, y = loss), validation losses as points."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    values = [v for v in losses if v is not None]
    val = val or []
    top = max(values + [v for _, v in val] + [1e-9])
    n = max(len(values), max((s for s, _ in val), default=0), 1)

    def x(step: float) -> float:
        return LEFT + plot_w * (step - 1) / max(n - 1, 1)

    def y(value: float) -> float:
        return TOP + plot_h * (1 - value / top)

    out = [f'<svg id="{escape(element_id)}" class="chart" xmlns="http://www.w3.org/2000/svg" '
           f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="training loss">']
    for frac in (0.0, 0.5, 1.0):
        ty = y(top * frac)
        out.append(f'<line x1="{LEFT}" y1="{ty:.1f}" x2="{LEFT + plot_w}" y2="{ty:.1f}" stroke="#e5e7eb"/>')
        out.append(f'<text x="{LEFT - 8}" y="{ty + 4:.1f}" text-anchor="end" font-size="11" fill="#6b7280">'
                   f'{top * frac:.2f}</text>')
    if values:
        path = " ".join(f"{x(i + 1):.1f},{y(v):.1f}" for i, v in enumerate(values))
        out.append(f'<polyline class="train" fill="none" stroke="{PALETTE[0]}" stroke-width="2" points="{path}"/>')
    for step, value in val:
        out.append(f'<circle class="val" cx="{x(step):.1f}" cy="{y(value):.1f}" r="4" fill="{PALETTE[1]}" '
                   f'data-step="{step}" data-loss="{value:.4f}"><title>step {step}: validation loss '
                   f'{value:.4f}</title></circle>')
    out.append(f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 16}" text-anchor="middle" font-size="12" '
               f'fill="#374151">step (train loss: line; validation loss: dots)</text>')
    out.append("</svg>")
    return "".join(out)
