"""Is fine-tuning worth it? A cost-benefit table before a job, and the same table measured after.

Before: training compute = optimizer steps × step time. The step time is, in order:

1. **measured** on this machine just before the job (:mod:`.measure`: a few real steps of the job's
   batch shape on a sample of the set, scaled to the set's tokens per step), with the model's load
   time measured too;
2. else the newest finished job in this store (measured seconds per step, scaled by tokens per
   step), marked as such;
3. else the default :data:`DEFAULT_STEP_S` (0.5 s per step of 8 × ~15 tokens, a LoRA step of the
   embedded SmolLM2-135M on 2 CPU cores), scaled the same way, marked "default, not measured".

The expected accuracy gain is the plateau gap (target − best); the per-call latency and cost of the
current deployment come from the logged calls, and those of the fine-tuned small model from the base
model's evals of this prompt (local models cost no API fees).
After: :func:`versus_measured` sets the job's measured figures beside the estimate's (the worker
also writes them into the job record, ``metrics["estimate"]["actual"]``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .._util.fmt import ms, pct, usd
from ..eval import stats
from ..finetune.jobs import tokens_per_example
from ..providers import spec_for
from .measure import Measured

DEFAULT_STEP_S = 0.5
DEFAULT_STEP_TOKENS = 8 * 15  # the batch the default was timed on
DEFAULT_SOURCE = "default 0.5 s per step of 8 x ~15 tokens (the embedded model on 2 CPU cores), not measured"
LOAD_S = 15.0  # default cold load of the embedded model when it was not measured


@dataclass
class Estimate:
    prompt: str
    examples: int
    epochs: int
    batch_size: int
    steps: int
    tokens_per_example: float
    step_s: float
    step_source: str
    train_s: float
    best_accuracy: float | None
    target: float | None
    expected_gain: float | None
    current: dict[str, Any] = field(default_factory=dict)    # deployment: model, calls, p50 latency, cost/call
    candidate: dict[str, Any] = field(default_factory=dict)  # fine-tuned small model
    measured: bool = False  # step_s (and load_s) timed on this machine just now
    load_s: float = LOAD_S
    max_length: dict[str, Any] | None = None  # the LengthPlan: chosen max_length, examples cut
    probe: dict[str, Any] | None = None  # what the probe measured (or why it did not)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def rows(self) -> list[list[str]]:
        """(what, current prompt, fine-tuned) rows for a table."""
        c, f = self.current, self.candidate
        return [
            ["model", str(c.get("model") or "–"), str(f.get("model") or "–")],
            ["accuracy", pct(self.best_accuracy), f"≥ {pct(self.target)} hoped (gap {pct(self.expected_gain)})"],
            ["p50 latency / call", ms(c.get("latency_p50_ms")), ms(f.get("latency_p50_ms"))],
            ["cost / call", _usd(c.get("cost_per_call_usd")), _usd(f.get("cost_per_call_usd"))],
            ["time to deliver", "–", f"~{_dur(self.train_s + self.load_s)} ({self.steps} steps × "
                                     f"{self.step_s:.2f} s on {self.examples} examples × {self.epochs} epochs, "
                                     f"+ {self.load_s:.0f} s load; {'measured' if self.measured else 'not measured'})"],
            ["max_length", "–", _lengths(self.max_length)],
        ]

    def deliver_s(self) -> float:
        return self.train_s + self.load_s


def _lengths(plan: dict[str, Any] | None) -> str:
    if not plan:
        return "chosen by the job from the data (not measured here)"
    how = "chosen from the data" if plan.get("chosen") else "set"
    cut = plan.get("truncated") or 0
    return (f"{plan['max_length']} tokens ({how}; longest {plan['longest']}, mean {plan['mean']:.0f}; "
            + (f"{cut} of {plan['examples']} examples cut)" if cut else "none cut)"))


def _usd(v: float | None) -> str:
    return usd(v, 6, zero="$0 (local)")  # a call's price is a fraction of a cent


def _dur(s: float) -> str:
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min"


def measured_step(store: Any) -> tuple[float, float, str] | None:
    """(seconds per step, tokens per step, source) from the newest succeeded job that says so."""
    for job in store.list_jobs():
        m = job.metrics or {}
        if job.status == "succeeded" and m.get("steps") and m.get("train_time_s") and m.get("tokens_per_example"):
            bs = (job.config or {}).get("batch_size", 8) * (job.config or {}).get("grad_accum", 1)
            return (m["train_time_s"] / m["steps"], m["tokens_per_example"] * bs,
                    f"from job {job.id}'s measured steps ({m['steps']} steps, {m['train_time_s']:.0f} s), "
                    "scaled by tokens per step; not measured on this data")
    return None


def deployment_stats(store: Any, name: str, limit: int = 2000) -> dict[str, Any]:
    """Model, p50 latency and mean cost per call of the logged production calls of a prompt."""
    calls = [c for c in store.list_calls(prompt=name, limit=limit) if c.error is None]
    if not calls:
        return {}
    models: dict[str, int] = {}
    for c in calls:
        models[c.model] = models.get(c.model, 0) + 1
    lat = [c.latency_ms for c in calls if c.latency_ms is not None]
    return {"model": max(models, key=models.get), "calls": len(calls),
            "latency_p50_ms": stats.percentile(lat, 50) if lat else None,
            "cost_per_call_usd": sum(c.cost_usd or 0.0 for c in calls) / len(calls)}


def estimate(*, prompt: str, train_path: str | Path, examples: int, train_config: Any, plateau: Any = None,
             store: Any = None, base_latency_ms: float | None = None, measured: Measured | None = None) -> Estimate:
    """The before-the-job table (see the module docstring); ``measured``: the probe's result."""
    tc = train_config
    bs = tc.batch_size * tc.grad_accum
    steps = tc.epochs * math.ceil(examples / bs)
    if tc.max_steps:
        steps = min(steps, tc.max_steps)
    tpe = tokens_per_example(train_path)
    load_s = LOAD_S
    if measured is not None and measured.measured:
        step_s, source, load_s = measured.step_s, measured.source(), measured.load_s or LOAD_S
        tpe = measured.lengths.mean if measured.lengths else tpe
    else:
        why = f"; probe: {measured.reason}" if measured is not None and measured.reason else ""
        previous = measured_step(store) if store is not None else None
        step_s, step_tokens, source = previous or (DEFAULT_STEP_S, DEFAULT_STEP_TOKENS, DEFAULT_SOURCE)
        step_s = step_s * max(1.0, (tpe * bs) / step_tokens)
        source += why
    best = plateau.best.accuracy if plateau is not None and plateau.best is not None else None
    target = plateau.target if plateau is not None else None
    current = deployment_stats(store, prompt) if store is not None else {}
    if not current and plateau is not None and plateau.best is not None:
        current = {"model": plateau.model, "latency_p50_ms": plateau.best.latency_p50_ms, "cost_per_call_usd": None,
                   "source": "best prompt version's eval"}
    base = tc.base
    candidate = {"model": f"{base}+<job>", "latency_p50_ms": base_latency_ms,
                 "cost_per_call_usd": None if spec_for(base).priced else 0.0}
    ok = measured is not None and measured.measured
    return Estimate(prompt=prompt, examples=examples, epochs=tc.epochs, batch_size=bs, steps=steps,
                    tokens_per_example=round(tpe, 1), step_s=round(step_s, 3), step_source=source,
                    train_s=steps * step_s, best_accuracy=best, target=target,
                    expected_gain=(plateau.gap if plateau is not None else None),
                    current=current, candidate=candidate, measured=ok, load_s=round(load_s, 1),
                    max_length=measured.lengths.to_dict() if ok and measured.lengths else None,
                    probe=None if measured is None else measured.to_dict())


def versus_measured(job: Any) -> list[list[str]] | None:
    """(what, estimated, measured) rows for a finished job that carries an estimate, else None."""
    m = job.metrics or {}
    est = m.get("estimate")
    if not isinstance(est, dict) or not m.get("steps"):
        return None
    steps, train_s = m.get("steps"), m.get("train_time_s")
    wall = m.get("wall_time_s")
    deliver = (job.finished_at - job.created_at).total_seconds() if job.finished_at and job.created_at else None
    plan = m.get("max_length") if isinstance(m.get("max_length"), dict) else None
    return [
        ["optimizer steps", str(est.get("steps")), str(steps)],
        ["seconds / step", f"{est.get('step_s', 0):.2f}" + ("" if est.get("measured") else " (not measured)"),
         "–" if not train_s else f"{train_s / steps:.2f}"],
        ["training", _dur(est.get("train_s") or 0), "–" if train_s is None else _dur(train_s)],
        ["load + generate + save", f"{est.get('load_s', LOAD_S):.0f} s (load)",
         "–" if wall is None or train_s is None else _dur(wall - train_s)],
        ["time to deliver", _dur((est.get("train_s") or 0) + (est.get("load_s") or LOAD_S)),
         "–" if deliver is None else _dur(deliver)],
        ["max_length", _lengths(est.get("max_length")), _lengths(plan)],
    ]


def base_latency(plateau_reports: list[Any], base: str) -> float | None:
    """p50 latency of the base model on this prompt's evals (the fine-tuned model's best guess)."""
    for r in plateau_reports:
        if r.model == base and r.best is not None:
            return r.best.latency_p50_ms
    return None
