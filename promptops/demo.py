"""The demo behind ``promptops demo``: the loop on real data (snips intents), the embedded model.

It builds a scratch project (a git repository of its own, so this repository is never touched),
commits several versions of a prompt over time, scores each one with the runner, and goes on
from there through the loop. Every figure it prints is measured in the run.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable

from .config import load_config

INTENTS = ["AddToPlaylist", "BookRestaurant", "GetWeather", "PlayMusic", "RateBook",
           "SearchCreativeWork", "SearchScreeningEvent"]
_FRONT = """---
name: snips-intent
description: Classify a voice-assistant request into one of seven intents.
model: local/smollm2
params: {{temperature: 0, max_tokens: 8}}
input:
  text: string
suite: datasets/snips-intent
target: 0.8
labels: [{labels}]
assert:
  - type: iequals
    value: "{{{{ expected }}}}"
---
"""
_LIST = ", ".join(INTENTS)
VERSIONS = [
    ("Zero-shot: ask for the intent", "system:\nClassify the user's request into one intent.\nuser:\n{{ text }}\n"),
    ("Few-shot examples, one per intent",
     f"system:\nClassify the request into one of: {_LIST}. Reply with the intent name only.\n"
     "user:\nadd this song to my workout playlist\nassistant:\nAddToPlaylist\n"
     "user:\nbook a table for two at an italian place tonight\nassistant:\nBookRestaurant\n"
     "user:\nwill it rain in paris tomorrow\nassistant:\nGetWeather\n"
     "user:\nplay some jazz by miles davis\nassistant:\nPlayMusic\n"
     "user:\nrate this novel four out of 5\nassistant:\nRateBook\n"
     "user:\nfind the tv series called lost\nassistant:\nSearchCreativeWork\n"
     "user:\nwhat movies are playing at the cinema nearby\nassistant:\nSearchScreeningEvent\n"
     "user:\n{{ text }}\n"),
    ("List the intents and ask for the name only",
     f"system:\nClassify the request into exactly one of these intents: {_LIST}.\n"
     "Answer with the intent name only.\nuser:\n{{ text }}\n"),
    ("Describe each intent",
     "system:\nYou route voice-assistant requests. The intents are:\n"
     "- AddToPlaylist: add a song or artist to a playlist\n- BookRestaurant: reserve a table\n"
     "- GetWeather: ask about the weather\n- PlayMusic: play a song, artist or album\n"
     "- RateBook: give a rating to a book\n- SearchCreativeWork: find a book, film, show, song or game\n"
     "- SearchScreeningEvent: find movie showtimes or cinemas\n"
     "Reply with the intent name only, exactly as written above.\nuser:\n{{ text }}\n"),
]
CONFIG = """default_model: local/smollm2
concurrency: 64
environments:
  production: {min_score: 0.8}
escalate:
  window: 2          # plateaued: the last 2 versions did not raise the best by more than delta
  delta: 0.02
"""
# The version the fine-tune renders its examples with: a short prompt that names the label set
# (the few-shot prompt is four times longer, and the adapter learns the examples' job anyway).
FINETUNE_VERSION = 2


def prompt_text(body: str) -> str:
    return _FRONT.format(labels=", ".join(INTENTS)) + body


def build_project(source_root: Path, workdir: Path, *, cases: int | None = None) -> list[str]:
    """A fresh scratch repository with the suite and the prompt committed in several versions."""
    import git

    if workdir.exists():
        shutil.rmtree(workdir)
    (workdir / "prompts").mkdir(parents=True)
    shutil.copytree(source_root / "datasets" / "snips-intent", workdir / "datasets" / "snips-intent")
    shutil.copytree(source_root / "datasets" / "traffic", workdir / "datasets" / "traffic")
    if cases:
        path = workdir / "datasets" / "snips-intent" / "cases.jsonl"
        lines = path.read_text(encoding="utf-8").splitlines()
        per_intent = max(1, cases // len(INTENTS))
        kept = [line for i, line in enumerate(lines) if i % 20 < per_intent]
        path.write_text("\n".join(kept) + "\n", encoding="utf-8")
    (workdir / "promptops.yaml").write_text(CONFIG, encoding="utf-8")
    (workdir / ".gitignore").write_text(".promptops/\n", encoding="utf-8")
    repo = git.Repo.init(workdir, initial_branch="main")
    with repo.config_writer() as cw:
        cw.set_value("user", "name", "Demo Engineer")
        cw.set_value("user", "email", "demo@promptops.invalid")
    shas = []
    for message, body in VERSIONS:
        (workdir / "prompts" / "snips-intent.prompt").write_text(prompt_text(body), encoding="utf-8")
        repo.git.add(A=True)
        repo.index.commit(message)
        shas.append(repo.head.commit.hexsha)
    return shas


def run_demo(*, source_root: Path, workdir: Path, quick: bool, say: Callable[[str], None], table) -> dict:
    """Run every phase of the demo; returns the measured figures."""
    from .eval.evaluate import evaluate
    from .history import History

    workdir = Path(workdir).resolve()
    say(f"== 1. A prompt in git: {len(VERSIONS)} versions of snips-intent, committed over time ({workdir})")
    shas = build_project(Path(source_root), workdir, cases=35 if quick else None)
    config = load_config(workdir)
    history = History(config.root, config.prompts_dir)
    versions = history.versions("snips-intent")
    table(None, ["version", "commit", "message"],
          [[v.version, v.commits[0].sha[:10], v.commits[0].message] for v in versions])

    say("== 2. Score every version on its regression suite with the embedded model (local/smollm2)")
    scores = []
    for sha, (message, _) in zip(shas, VERSIONS):
        report = evaluate(config, [f"snips-intent@{sha}"], source="demo", branch="main")
        s = report.summaries[0]
        scores.append({"version": s.version, "commit": sha, "message": message, "accuracy": s.accuracy,
                       "ci_low": s.ci_low, "ci_high": s.ci_high, "total": s.total, "duration_s": s.duration_s})
    table(None, ["version", "change", "accuracy", "95% CI", "cases"],
          [[r["version"], r["message"], f"{100 * r['accuracy']:.1f}%",
            f"{100 * r['ci_low']:.1f}–{100 * r['ci_high']:.1f}%", r["total"]] for r in scores])
    best = max(scores, key=lambda r: r["accuracy"])
    say(f"best prompt: {best['version']} at {100 * best['accuracy']:.1f}% (target 80%)")
    figures = {"prompt_versions": scores, "best_prompt": best, "finetune_version": shas[FINETUNE_VERSION]}
    from .demo_escalate import phase as escalate_phase
    from .demo_serve import phase as serve_phase

    for phase in (serve_phase, escalate_phase):
        figures.update(phase(config=config, figures=figures, quick=quick, say=say, table=table) or {})
    out = workdir / "figures.json"
    out.write_text(json.dumps(figures, indent=2, default=str), encoding="utf-8")
    say(f"== Done: every figure above is in {out}")
    return figures

