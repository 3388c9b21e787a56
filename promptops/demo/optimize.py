"""Demo phase: before paying for training, optimize the prompt automatically on the logged traffic.

Runs after the serving phase (the production version's calls are logged with feedback) and before
the escalation phase. It is :func:`promptops.optimize.search.optimize`, what ``promptops optimize
snips-intent@production --train logged`` runs: candidates scored on a validation split of the
logged calls (never the regression suite), the best written to ``prompts/snips-intent.prompt``.
The demo commits what it wrote, as a user would after review, and scores it on the suite beside
the hand-written versions; the optimization run is the marker the escalation decision reads.
"""

from __future__ import annotations

from typing import Any, Callable

import git

from ..escalate.compare import compare_specs
from ..eval.evaluate import evaluate
from ..optimize.search import optimize
from ..project import using

NAME = "snips-intent"
# the embedded model answers a few hundred calls a minute: a small grid (`promptops optimize` tries
# k = 2, 4, 8 by default), scored on a fifth of the logged calls
QUICK = {"ks": (2,), "k_static": 4, "val_fraction": 0.3}
FULL = {"ks": (4,), "k_static": 4, "val_fraction": 0.2}


def phase(*, config: Any, figures: dict, quick: bool, say: Callable[[str], None], table: Callable[..., None]) -> dict:
    """Optimize the production version on the logged calls; commit and score what it wrote.
    Returns ``{"optimization": {...}}`` and, when the written version beats the best hand-written
    one on the suite, a new ``best_prompt``."""
    start = figures["best_prompt"]
    settings = QUICK if quick else FULL
    say(f"== 5. Before paying for training: optimize automatically on the logged traffic "
        f"(promptops optimize {NAME}@production --train logged)")
    result = optimize(config, f"{NAME}@{start['commit']}", "logged", seed=0, **settings)
    table(f"candidates, scored on {result.val} held-out logged calls (few-shot drawn from the other {result.train})",
          ["candidate", "kind", "validation accuracy", "95% CI", "calls", "tokens"],
          [[s.name, s.kind, f"{100 * s.accuracy:.1f}%", f"{100 * s.ci_low:.1f}–{100 * s.ci_high:.1f}%", s.calls,
            f"{s.tokens:,}"] for s in result.scored])
    say(f"search cost: {result.calls} model calls, {result.tokens:,} tokens, {result.seconds:.0f} s"
        + "".join(f"\n  note: {n}" for n in result.notes))
    out: dict[str, Any] = {"optimization": {**result.to_dict(), "start_version": start["version"]}}
    if result.written is None:
        say("the current version stayed best on validation: nothing written")
        return out
    model = result.models[0]
    repo = git.Repo(config.root)
    repo.git.add(A=True)
    repo.index.commit(f"Optimized: {result.best.name} (promptops optimize --train logged)")
    sha = repo.head.commit.hexsha
    say(f"wrote {result.written} ({result.best.name}, version {result.written_version}) and committed it as {sha[:10]}; "
        "scoring it on the regression suite like the hand-written versions")
    report = evaluate(config, [f"{NAME}@{sha}"], models=[model], source="demo", branch="main")
    s = report.summaries[0]
    scored = {"version": s.version, "commit": sha, "message": f"optimized: {result.best.name}", "accuracy": s.accuracy,
              "ci_low": s.ci_low, "ci_high": s.ci_high, "total": s.total, "duration_s": s.duration_s}
    table(None, ["version", "change", "accuracy", "95% CI", "cases"],
          [[r["version"], r["message"], f"{100 * r['accuracy']:.1f}%", f"{100 * r['ci_low']:.1f}–{100 * r['ci_high']:.1f}%",
            r["total"]] for r in (start, scored)])
    with using(config) as project:
        cmp = compare_specs(project, f"{NAME}@{start['commit']}/{model}", f"{NAME}@{sha}/{model}", run_missing=False)
        target = project.history.resolve(NAME).prompt.target
    d = cmp["paired"]
    scored["paired_vs_hand"] = d
    out["optimization"]["suite"] = scored
    out["optimized_prompt"] = scored
    verdict = "is still below" if target is not None and s.accuracy < target else "reaches"
    say(f"paired on {cmp['cases']} suite cases: {100 * d['delta']:+.1f} points [{100 * d['ci_low']:+.1f}, "
        f"{100 * d['ci_high']:+.1f}], McNemar p {d['mcnemar_p']:.2g}; the optimized prompt {verdict} the target "
        f"({100 * s.accuracy:.1f}% vs {'–' if target is None else f'{100 * target:.0f}%'})")
    if s.accuracy > start["accuracy"]:
        out["best_prompt"] = scored
    return out
