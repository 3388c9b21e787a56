"""The demo's optimize phase: optimize on the logged calls, commit what it wrote, score it on the suite
beside the hand-written version, paired (against the fake OpenAI server, no model)."""

from __future__ import annotations

from pathlib import Path

import git
import pytest

import promptops.demo.optimize as demo_optimize
from promptops import fewshot
from promptops.config import load_config
from promptops.eval.evaluate import evaluate
from promptops.store import open_store

from .test_optimize import OTHER, rules


@pytest.fixture(autouse=True)
def _words():
    fewshot.use_embedder(lambda texts: [[float(len(t) == n) for n in range(80)] for t in texts], "test-length")
    yield
    fewshot.use_embedder(None)


def test_the_phase_commits_the_optimized_version_and_scores_it_beside_the_hand_written_one(
        git_project: Path, fake_openai, monkeypatch) -> None:
    fake_openai.configure(rules=rules(1))  # right only with at least one example turn: few-shot helps
    monkeypatch.setattr(demo_optimize, "NAME", "capital")
    config = load_config(git_project)
    store = open_store(config)
    for i, (country, city) in enumerate(OTHER.items()):  # production traffic, answered wrong and corrected
        call = store.log_call(prompt="capital", version="v0", model="fake/a", variables={"country": country},
                              messages=[], output="Atlantis", latency_ms=1.0, cost_usd=0.0)
        store.add_feedback(call.id, correction=city)
    head = git.Repo(git_project).head.commit.hexsha
    s = evaluate(config, [f"capital@{head}"], source="demo", branch="main").summaries[0]
    start = {"version": s.version, "commit": head, "message": "hand", "accuracy": s.accuracy, "ci_low": s.ci_low,
             "ci_high": s.ci_high, "total": s.total}
    lines, tables = [], []
    out = demo_optimize.phase(config=config, figures={"best_prompt": start}, quick=True, say=lines.append,
                              table=lambda *a: tables.append(a))
    assert start["accuracy"] == 0.0
    opt = out["optimized_prompt"]
    assert opt["accuracy"] == 1.0 and out["best_prompt"] is opt and opt["version"] != start["version"]
    repo = git.Repo(git_project)
    assert repo.head.commit.message.startswith("Optimized: ") and opt["commit"] == repo.head.commit.hexsha
    assert not repo.is_dirty(untracked_files=True)  # the version and its few-shot dataset, if any, committed
    assert opt["paired_vs_hand"]["delta"] == 1.0 and opt["paired_vs_hand"]["mcnemar_p"] < 0.05
    assert out["optimization"]["val"] > 0 and out["optimization"]["calls"] > 0
    candidates = tables[0][2]
    assert candidates[0][0] == "current" and len(candidates) >= 3
    assert any("reaches the target" in line for line in lines)
