"""The escalation rule: has prompt engineering stopped paying off for a prompt on a model?

Pure (no store, no git), so tests and the documentation can feed it made-up histories. It weighs
four things, each kept in the :class:`Decision` as evidence:

- **the gap to the target**: the best version's accuracy against ``target``; "well below" means the
  target lies above the best version's 95 % interval (or, without an interval, more than ``delta``
  below it);
- **the recent gains**: the best of the last ``window`` versions against the best before them, paired
  on the cases both were scored on (exact McNemar test); a gain counts when it is more than ``delta``
  and significant at ``alpha``; without per-case results the accuracies are compared unpaired;
- **whether optimization was tried** on the current prompt: a ``promptops optimize`` run recorded
  since the newest hand-written version was first scored (see :mod:`.plateau` for the marker);
- **a budget of attempts**: after ``budget`` scored versions, a prompt still well below its target
  plateaus whatever the trend.

The statuses, in the order they are decided:

1. ``no target`` — the prompt sets no ``target``: nothing to fall short of;
2. ``target met`` — the best version reaches the target;
3. ``too little history`` — no optimization and ``window`` or fewer versions scored (or none at all);
4. ``plateaued`` — optimization was tried and the best is still well below the target, or the
   recent versions are not significantly better than the best before them (with or without
   optimization), or the budget is spent and the best is still well below the target;
5. ``improving`` — otherwise: the recent versions are significantly better.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from ..eval import stats

TARGET_MET = "target met"
IMPROVING = "improving"
PLATEAUED = "plateaued"
TOO_LITTLE = "too little history"
NO_TARGET = "no target"

# what each status asks of `promptops escalate`
DUE = "due"            # plateaued: escalate
NOTHING = "nothing"    # target met, improving, no target
DECLINED = "declined"  # too little history: not enough evidence to decide either way
ACTION = {PLATEAUED: DUE, TARGET_MET: NOTHING, IMPROVING: NOTHING, NO_TARGET: NOTHING, TOO_LITTLE: DECLINED}


@dataclass
class VersionScore:
    """The best finished accuracy of one prompt version on one model."""

    version: str
    hash: str
    accuracy: float
    first_eval: datetime
    commit: str | None = None
    run_id: int | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    latency_p50_ms: float | None = None
    total: int | None = None


@dataclass
class Optimization:
    """The newest ``promptops optimize`` marker of a prompt (an eval run with source ``optimize``)."""

    run_id: int | None
    hash: str
    at: datetime
    accuracy: float | None = None  # the search's best validation accuracy, when it says so
    current: bool = False  # recorded since the newest hand-written version was first scored


@dataclass
class Gain:
    """The best of the recent versions against the best before them."""

    before: str  # version
    recent: str
    delta: float  # recent − before, accuracy (paired on common cases when ``cases``)
    low: float | None = None  # 95 % interval of the paired difference
    high: float | None = None
    p_value: float | None = None  # exact McNemar
    cases: int = 0  # paired cases; 0 = compared unpaired (no per-case results)
    significant: bool = False


@dataclass
class Decision:
    status: str
    reason: str
    next: str  # what would change the verdict, or what to do now
    gain: Gain | None = None
    well_below: bool | None = None
    attempts: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def action(self) -> str:
        return ACTION[self.status]


Pairing = Callable[[VersionScore, VersionScore], "stats.Paired | None"]
MIN_PAIRED = 10  # fewer common cases than this: compare the accuracies unpaired


def pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def recent_gain(scores: list[VersionScore], window: int, delta: float, alpha: float,
                pair: Pairing | None = None) -> Gain | None:
    """The gain of the last ``window`` versions (at most all but the first) over the ones before."""
    if len(scores) < 2:
        return None
    w = min(window, len(scores) - 1)
    before = max(scores[:-w], key=lambda s: s.accuracy)
    recent = max(scores[-w:], key=lambda s: s.accuracy)
    p = pair(before, recent) if pair is not None else None
    if p is not None and p.n >= MIN_PAIRED:
        sig = p.delta > delta + 1e-9 and p.p_value < alpha
        return Gain(before.version, recent.version, p.delta, p.low, p.high, p.p_value, p.n, sig)
    d = recent.accuracy - before.accuracy
    # a tiny epsilon: "2 points" written as 0.02 should not flip on float noise
    return Gain(before.version, recent.version, d, significant=d > delta + 1e-9)


def decide(scores: list[VersionScore], *, target: float | None, window: int = 3, delta: float = 0.02,
           alpha: float = 0.05, budget: int = 8, optimization: Optimization | None = None,
           pair: Pairing | None = None, name: str = "NAME") -> Decision:
    """The verdict for scores ordered oldest first (see the module docstring)."""
    n = len(scores)
    best = max(scores, key=lambda s: s.accuracy) if scores else None
    gain = recent_gain(scores, window, delta, alpha, pair)
    opt = optimization is not None and optimization.current
    optimize = f"promptops optimize {name} --train DATA (then eval the version it writes)"
    if target is None:
        return Decision(NO_TARGET, "the prompt sets no target", "set target: in the prompt's front matter", gain,
                        attempts=n)
    if best is not None and best.accuracy >= target - 1e-9:
        return Decision(TARGET_MET, f"best {pct(best.accuracy)} ({best.version}) ≥ target {pct(target)}",
                        "nothing to do", gain, attempts=n)
    if best is None:
        return Decision(TOO_LITTLE, "no version scored on this model",
                        f"score a version (promptops eval {name}), or force it: promptops escalate {name} --force",
                        attempts=0)
    high = best.ci_high
    well_below = target > high + 1e-9 if high is not None else target - best.accuracy > delta + 1e-9
    where = f"best {pct(best.accuracy)} ({best.version}), target {pct(target)}"
    if well_below:
        where += f", above the best's 95% interval (to {pct(high)})" if high is not None else ""
    gain_text = _gain_text(gain, window)
    dec = Decision("", "", "", gain, well_below, n)
    if not opt and n <= window:
        more = window + 1 - n
        dec.status, dec.reason = TOO_LITTLE, f"{n} version(s) scored and no optimization tried; {where}"
        dec.next = (f"{optimize}, or score {more} more version(s): the verdict then weighs the last {window} "
                    f"against the best before them; or force it: promptops escalate {name} --force")
        return dec
    flat = gain is None or not gain.significant
    if optimization is not None and not opt:
        dec.notes.append(f"optimization run {optimization.run_id} predates the newest hand-written version")
    if opt and (well_below or flat):
        dec.status = PLATEAUED
        tried = f"optimization was tried (run {optimization.run_id}, {optimization.at:%Y-%m-%d %H:%M})"
        dec.reason = (f"{where}; {tried}" + (f"; {gain_text}" if gain_text else "")
                      + ("" if flat else ", but the target is still well out of reach"))
        dec.next = f"escalate: promptops escalate {name}"
        return dec
    if flat:
        dec.status, dec.reason = PLATEAUED, f"{where}; {gain_text}"
        dec.next = f"escalate: promptops escalate {name}" + ("" if opt else f"; or try {optimize} first")
        return dec
    if n >= budget and well_below:
        dec.status = PLATEAUED
        dec.reason = f"{where}; {gain_text}, but the budget of {budget} versions is spent"
        dec.next = f"escalate: promptops escalate {name}"
        return dec
    dec.status, dec.reason = IMPROVING, f"{where}; {gain_text}"
    dec.next = ("keep iterating; it plateaus when the next versions stop being significantly better"
                + ("" if opt else f", once {optimize} leaves it well below target")
                + f", or after {budget} versions well below target ({n} so far)")
    return dec


def _gain_text(gain: Gain | None, window: int) -> str:
    if gain is None:
        return ""
    pts = f"{100 * gain.delta:+.1f} points"
    if gain.cases:
        ev = f"{pts} [{100 * gain.low:+.1f}, {100 * gain.high:+.1f}], p = {gain.p_value:.2g} on {gain.cases} paired cases"
    else:
        ev = f"{pts} (unpaired: no per-case results)"
    word = "significantly better" if gain.significant else "not significantly better"
    return f"the last versions' best ({gain.recent}) is {word} than the best before them ({gain.before}): {ev}"


def evidence(dec: Decision) -> dict[str, Any]:
    """The decision's evidence as plain data (for --json)."""
    g = dec.gain
    return {"status": dec.status, "action": dec.action, "reason": dec.reason, "next": dec.next,
            "well_below_target": dec.well_below, "attempts": dec.attempts, "notes": list(dec.notes),
            "recent_gain": None if g is None else {
                "before": g.before, "recent": g.recent, "delta": g.delta, "ci_low": g.low, "ci_high": g.high,
                "mcnemar_p": g.p_value, "paired_cases": g.cases, "significant": g.significant}}
