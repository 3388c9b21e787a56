"""Two scored (version, model) pairs side by side, paired on the suite cases both were scored on.

The table the escalation flow prints after a job (best prompt vs fine-tuned model) and the one
``promptops compare NAME@A/MODEL NAME@B/MODEL`` prints are the same: :func:`paired_comparison`
builds the dict, :func:`comparison_rows` the rows (accuracy with 95 % Wilson intervals, the paired
difference with its interval, the exact McNemar test on the discordant cases, latency, cost,
consistency over repeats; time to deliver when a job made one side).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import NotFoundError, RefError
from ..eval import stats
from ..eval.evaluate import evaluate
from ..project import Project
from .plateau import OPTIMIZE_SOURCE


@dataclass
class Side:
    """One version of a prompt on one model, as scored: its summary row and per-case passes."""

    name: str
    version: str
    commit: str | None
    model: str
    run_id: int | None
    row: dict[str, Any]  # accuracy, ci_low, ci_high, latency_p50_ms, cost_usd_per_call, consistency
    passes: dict[str, bool] = field(default_factory=dict)  # case id -> passed (first repeat)
    label: str = ""


def row_of(summary: dict[str, Any]) -> dict[str, Any]:
    """The comparison row of a stored run summary (or a ModelSummary's metrics())."""
    total = summary.get("total")
    cost = summary.get("cost_usd")
    return {"accuracy": summary.get("accuracy"), "ci_low": summary.get("ci_low"), "ci_high": summary.get("ci_high"),
            "latency_p50_ms": summary.get("latency_p50_ms"),
            "cost_usd_per_call": None if cost is None or not total else cost / total,
            "consistency": summary.get("consistency")}


def passes_of(rows: list[Any], model: str) -> dict[str, bool]:
    return {r.case_id: (r.error is None and bool(r.passed)) for r in rows if r.model == model and r.repeat_index == 0}


def paired_comparison(a: Side, b: Side, *, alpha: float) -> dict[str, Any]:
    """The comparison dict (``a`` is the "prompt" side, ``b`` the challenger)."""
    common = sorted(set(a.passes) & set(b.passes))
    pair = stats.paired([a.passes[c] for c in common], [b.passes[c] for c in common])
    return {
        "prompt": a.name, "version": a.version, "commit": a.commit, "cases": len(common),
        "finetuned_commit": b.commit, "finetuned_version": b.version,
        "prompt_model": a.model, "finetuned_model": b.model, "prompt_run_id": a.run_id, "run_id": b.run_id,
        "prompt_row": a.row, "finetuned_row": b.row,
        "paired": {"delta": pair.delta, "ci_low": pair.low, "ci_high": pair.high, "prompt_only": pair.b,
                   "finetuned_only": pair.c, "mcnemar_p": pair.p_value, "alpha": alpha},
        "beats_prompt": bool(common) and (b.row["accuracy"] or 0) > (a.row["accuracy"] or 0) and pair.p_value < alpha,
    }


def comparison_rows(cmp: dict[str, Any]) -> list[list[str]]:
    """(what, first side, second side) rows: the measured side-by-side."""
    p, f, d = cmp["prompt_row"], cmp["finetuned_row"], cmp["paired"]

    def acc(r: dict) -> str:
        if r.get("accuracy") is None:
            return "–"
        return f"{100 * r['accuracy']:.1f}% [{100 * (r['ci_low'] or 0):.1f}–{100 * (r['ci_high'] or 0):.1f}]"

    def ms(v: Any) -> str:
        return "–" if v is None else f"{v:.0f} ms"

    def usd(v: Any) -> str:
        return "–" if v is None else ("$0" if v == 0 else f"${v:.6f}")

    def cons(v: Any) -> str:
        return "–" if v is None else f"{100 * v:.0f}%"

    second = cmp["finetuned_model"]
    if cmp.get("finetuned_version") and cmp["finetuned_version"] != cmp["version"]:
        second += f" ({cmp['finetuned_version']})"
    rows = [
        ["model", f"{cmp['prompt_model']} ({cmp['version']})", second],
        ["accuracy (95% CI)", acc(p), acc(f)],
        ["paired difference", "", f"{100 * d['delta']:+.1f} pts [{100 * d['ci_low']:+.1f}, {100 * d['ci_high']:+.1f}]"],
        ["McNemar p (discordant)", "", f"{d['mcnemar_p']:.2g} ({d['prompt_only']} vs {d['finetuned_only']})"],
        ["p50 latency / call", ms(p["latency_p50_ms"]), ms(f["latency_p50_ms"])],
        ["cost / call", usd(p["cost_usd_per_call"]), usd(f["cost_usd_per_call"])],
        ["consistency (repeats)", cons(p["consistency"]), cons(f["consistency"])],
    ]
    if cmp.get("job"):
        train, deliver = cmp.get("train_time_s"), cmp.get("time_to_deliver_s")
        rows.append(["time to deliver", "prompt edits (already spent)",
                     ("–" if train is None else f"train {train:.0f} s")
                     + ("" if deliver is None else f", job {deliver:.0f} s")])
    return rows


# -- `promptops compare NAME@A/MODEL NAME@B/MODEL` ---------------------------------------------------------

def split_spec(project: Project, spec: str) -> tuple[Any, str]:
    """(resolved prompt, model) of ``NAME@REF/MODEL`` or ``NAME/MODEL`` (the working tree). Model
    names hold slashes and refs may too: the first split whose left part resolves wins."""
    history = project.history
    parts = spec.split("/")
    last: Exception | None = None
    for i in range(1, len(parts)):
        left, model = "/".join(parts[:i]), "/".join(parts[i:])
        if not model:
            break
        try:
            return history.resolve(left), model
        except (RefError, NotFoundError) as exc:
            last = exc
            if "@" not in left:  # a bare name that does not resolve will not resolve longer either
                break
    if last is not None:
        raise last
    raise RefError(f"'{spec}': expected NAME@REF/MODEL (or NAME/MODEL for the working tree)",
                   hint="e.g. promptops compare capital@abc123/openai/gpt-4o-mini capital@def456/local/smollm2")


def side(project: Project, spec: str, *, run_missing: bool = True, source: str = "cli") -> Side:
    """The scored side for ``spec``: the newest finished suite run of that version with per-case
    results on that model; with ``run_missing``, an eval of it when there is none (cached calls)."""
    resolved, model = split_spec(project, spec)
    prompt = resolved.prompt
    store = project.store
    runs = [r for r in store.list_runs(prompt=prompt.name, limit=100_000)
            if r.hash == prompt.hash and r.status == "finished" and r.source != OPTIMIZE_SOURCE
            and isinstance((r.summary or {}).get(model), dict)]
    for run in runs:  # newest first
        passes = passes_of(store.results(run.id), model)
        if passes:
            return Side(prompt.name, prompt.version, resolved.commit or run.commit, model, run.id,
                        row_of(run.summary[model]), passes, spec)
    if not run_missing:
        raise NotFoundError(f"no stored eval of {prompt.name} {prompt.version} on {model}",
                            hint=f"run: promptops eval {spec.rsplit('/' + model, 1)[0]} --models {model}")
    ref = spec[:len(spec) - len(model) - 1]
    report = evaluate(project, [ref], models=[model], source=source)
    s = report.summaries[0]
    return Side(prompt.name, s.version, resolved.commit, model, s.run_id, row_of(s.metrics()),
                {r.case_id: (r.error is None and bool(r.passed)) for r in s.results if r.repeat_index == 0}, spec)


def compare_specs(project: Project, a: str, b: str, *, run_missing: bool = True) -> dict[str, Any]:
    """The paired comparison of two ``NAME@REF/MODEL`` specs of one prompt."""
    first, second = side(project, a, run_missing=run_missing), side(project, b, run_missing=run_missing)
    if first.name != second.name:
        raise RefError(f"'{a}' and '{b}' are different prompts ({first.name}, {second.name})",
                       hint="compare two versions or models of one prompt: its suite cases pair them")
    cmp = paired_comparison(first, second, alpha=project.config.ci.alpha)
    cmp.update(specs=[a, b])
    if not cmp["cases"]:
        raise NotFoundError(f"'{a}' and '{b}' share no scored suite case", hint="evaluate both on the same suite")
    return cmp
